"""Validate a container's whole graph without building anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from injectq.core.bindings import SINGLETON, TRANSIENT
from injectq.core.container import InjectQ
from injectq.diagnostics.graph import ServiceNode, read_graph
from injectq.utils.exceptions import InjectQError, describe_key

__all__ = ["DependencyValidator", "ScopeMismatchWarning", "ValidationResult"]


class ScopeMismatchWarning(InjectQError):
    """A singleton depends on a scoped key: it would keep the first scope's instance
    (and cannot be built outside that scope)."""


@dataclass
class ValidationResult:
    """What :meth:`DependencyValidator.validate` found: errors make the graph unusable,
    warnings point at lifetimes that are probably not meant."""

    errors: list[Exception] = field(default_factory=list)
    warnings: list[Exception] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors

    @property
    def has_warnings(self) -> bool:
        return bool(self.warnings)

    def __str__(self) -> str:
        if self.is_valid:
            lines = ["✅ Validation passed"]
        else:
            lines = [f"❌ Validation failed: {len(self.errors)} error(s)"]
            lines += [f"  error: {error}" for error in self.errors]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


class DependencyValidator:
    """Reads every binding's signature (through the container's planner) and collects
    every missing dependency, cycle and lifetime mismatch; constructs nothing."""

    def __init__(self, container: InjectQ | None = None) -> None:
        self.container = container

    def _graph(self) -> tuple[dict[Any, ServiceNode], list[InjectQError]]:
        if self.container is None:
            raise InjectQError(
                "This DependencyValidator has no container: create it with "
                "DependencyValidator(container)."
            )
        return read_graph(self.container)

    def validate(self) -> ValidationResult:
        nodes, errors = self._graph()
        result = ValidationResult(errors=list(errors))
        for node in nodes.values():
            if node.scope != SINGLETON:
                continue
            for dep_key in node.dependencies:
                dep = nodes[dep_key]
                if dep.scope not in (SINGLETON, TRANSIENT):
                    result.warnings.append(
                        ScopeMismatchWarning(
                            f"Singleton {node.label} depends on {dep.label}, scoped "
                            f"{dep.scope!r}: it would keep the first scope's instance. "
                            f"Make {node.label} {dep.scope!r}-scoped or transient too."
                        )
                    )
        return result

    def get_dependency_graph(self) -> dict[Any, set[Any]]:
        """``{key: {keys it depends on}}`` of every service that plans."""
        nodes, _ = self._graph()
        return {key: set(node.dependencies) for key, node in nodes.items()}

    def get_dependency_chain(self, service_key: Any) -> list[Any]:
        """``service_key`` and everything it needs, directly or not (each once, in
        depth-first order)."""
        nodes, _ = self._graph()
        if service_key not in nodes:
            raise InjectQError(
                f"{describe_key(service_key)} is not in the graph: it is not bound, or its "
                "plan fails (validate() says why)."
            )
        chain: list[Any] = []
        todo = [service_key]
        while todo:
            key = todo.pop()
            if key in chain:
                continue
            chain.append(key)
            todo.extend(reversed(nodes[key].dependencies))
        return chain
