"""Validate a container's whole graph without building anything.

One walk (:func:`~injectq.diagnostics.graph.read_graph`) finds the missing bindings and
the cycles; the lifetimes and the async needs are then checked on the graph it read:

- ``captive`` (error): a longer-lived binding holds a shorter-lived one (a singleton a
  request-, action- or custom-scoped binding or a transient resource; a request-scoped
  binding an action-scoped one), directly or through transient plain objects;
- ``async_only`` (warning): a graph that needs ``aget`` (an async ``initialize()``,
  factory or generator) reached from a sync-only entry point: a sync ``@inject``
  function, or a resource whose own ``initialize()`` is sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from injectq.core.analysis import EMPTY, analyze
from injectq.core.bindings import TRANSIENT
from injectq.core.container import InjectQ
from injectq.core.context import active_container
from injectq.decorators.inject import sync_injected
from injectq.diagnostics.graph import (
    WARNING,
    DependencyGraph,
    GraphProblem,
    ServiceNode,
    is_captive,
    read_graph,
)
from injectq.utils.exceptions import InjectQError, describe_key, format_path

__all__ = [
    "DependencyValidator",
    "ValidationError",
    "ValidationProblem",
    "ValidationResult",
    "validate_container",
]

#: one problem found by validation (``kind``, ``key``, ``path``, ``message``, ``severity``)
ValidationProblem = GraphProblem


class ValidationError(InjectQError):
    """``container.validate()`` found problems: ``problems`` holds every one of them
    (errors and warnings), each with ``kind``, ``key``, ``path`` and a message that says
    how to fix it."""

    def __init__(self, problems: list[GraphProblem]) -> None:
        self.problems = list(problems)
        errors = sum(p.severity != WARNING for p in problems)
        lines = [
            f"The container's graph has {errors} error(s), {len(problems) - errors} warning(s):"
        ]
        lines += [f"  [{p.kind}] {p.message}" for p in problems]
        super().__init__("\n".join(lines))


def _captives(graph: DependencyGraph) -> list[GraphProblem]:
    """Every binding that outlives what it holds (through transient plain objects too)."""
    nodes = graph.nodes
    found: list[GraphProblem] = []
    for node in nodes.values():
        if node.scope == TRANSIENT or not node.dependencies:
            continue
        todo: list[tuple[Any, list[Any]]] = [(dep, [node.key, dep]) for dep in node.dependencies]
        seen: set[Any] = set()
        while todo:
            key, chain = todo.pop(0)
            if key in seen or key not in nodes:
                continue
            seen.add(key)
            dep = nodes[key]
            if is_captive(node.scope, dep):
                found.append(_captive(node, dep, [nodes[k].label for k in chain]))
            elif dep.scope == TRANSIENT and not dep.resource:  # it lives as long as its owner
                todo += [(below, [*chain, below]) for below in dep.dependencies]
    return found


def _captive(owner: ServiceNode, dep: ServiceNode, path: list[str]) -> GraphProblem:
    held = "a transient resource" if dep.scope == TRANSIENT else f"{dep.scope}-scoped"
    what = (
        "a new one for every use, disposed with its user"
        if dep.scope == TRANSIENT
        else f"one per {dep.scope!r} scope, disposed when that scope ends"
    )
    message = (
        f"{owner.scope.capitalize()} {owner.label} holds {dep.label} ({held}): "
        f"{owner.label} lives {owner.scope!r} and would keep the first {dep.label} past "
        f"its lifetime ({what}). Path: {format_path(path)}. Fix: make {owner.label} "
        f"{dep.scope!r} (or shorter-lived), or make {dep.label} live as long as "
        f"{owner.label} ({owner.scope!r})."
    )
    return GraphProblem("captive", dep.key, path, message, "error")


def _async_only(graph: DependencyGraph, container: InjectQ) -> list[GraphProblem]:
    nodes = graph.nodes
    found: list[GraphProblem] = []
    for node in nodes.values():  # a resource whose own initialize() is sync
        if not node.resource or node.async_reason:
            continue
        for name, dep in zip(node.params, node.dependencies, strict=True):
            chain = graph.needs_async(dep)
            if chain is not None:
                entry = f"{node.label}({name})"
                fix = (
                    f"resolve {node.label} with `await container.aget({node.label})`, or "
                    f"give {nodes[chain[-1]].label} a sync one"
                )
                found.append(
                    _async_problem(graph, entry, f"the sync resource {node.label}", fix, chain)
                )
                break
    active = active_container.get()
    feeder = container._compiler.planner.feeder
    for wrapper, named in list(sync_injected.items()):
        if named is not container and not (named is None and active is container):
            continue
        fn = getattr(wrapper, "_injectq_wrapped", wrapper)
        label = getattr(fn, "__qualname__", repr(fn)).rpartition("<locals>.")[2]
        try:
            params = analyze(fn)
        except Exception:  # noqa: S112  # a signature it cannot read fails at its call, not here
            continue
        for param in params:
            key, _soft = feeder(param)
            if key is EMPTY or key not in nodes:
                continue
            chain = graph.needs_async(key)
            if chain is not None:
                fix = (
                    f"make {label} async (it then resolves with aget), or give "
                    f"{nodes[chain[-1]].label} a sync one"
                )
                found.append(
                    _async_problem(
                        graph,
                        f"{label}({param.name})",
                        f"the sync @inject function {label}",
                        fix,
                        chain,
                    )
                )
                break
    return found


def _async_problem(
    graph: DependencyGraph, entry: str, who: str, fix: str, chain: list[Any]
) -> GraphProblem:
    nodes = graph.nodes
    cause = nodes[chain[-1]]
    path = [entry, *(nodes[k].label for k in chain)]
    message = (
        f"{who} needs {nodes[chain[0]].label}, whose graph needs aget ({cause.label} has an "
        f"{cause.async_reason}): a sync get() cannot finish it. Path: {format_path(path)}. "
        f"Fix: {fix}."
    )
    return GraphProblem("async_only", cause.key, path, message, WARNING)


def find_problems(container: InjectQ) -> tuple[DependencyGraph, list[GraphProblem]]:
    """The graph of ``container`` and every problem of it: the walk's own (missing,
    cycle), then the lifetime and async checks."""
    graph = read_graph(container)
    problems = [*graph.problems, *_captives(graph), *_async_only(graph, container)]
    graph.problems = problems
    return graph, problems


def validate_container(container: InjectQ) -> list[GraphProblem]:
    """Raise :class:`ValidationError` when the graph has an error; else return the
    warnings (an empty list when the graph is sound)."""
    _, problems = find_problems(container)
    if any(p.severity != WARNING for p in problems):
        raise ValidationError(problems)
    return problems


@dataclass
class ValidationResult:
    """What :meth:`DependencyValidator.validate` found: errors make the graph unusable,
    warnings point at what probably fails at run time."""

    errors: list[Exception] = field(default_factory=list)
    warnings: list[Exception] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        """True when validation found no error (warnings allowed)."""
        return not self.errors

    @property
    def has_warnings(self) -> bool:
        """True when validation found at least one warning."""
        return bool(self.warnings)

    def __str__(self) -> str:
        if self.is_valid:
            lines = ["✅ Validation passed"]
        else:
            lines = [f"❌ Validation failed: {len(self.errors)} error(s)"]
            lines += [f"  error: {error}" for error in self.errors]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)


def needs_container(container: InjectQ | None, tool: str, also: str = "") -> InjectQ:
    """``container``; None raises, saying how to create the ``tool`` with one (``also``:
    another way to say)."""
    if container is None:
        raise InjectQError(f"This {tool} has no container: create it with {tool}(container){also}.")
    return container


class DependencyValidator:
    """Reads every binding's signature (through the container's planner) and collects
    every missing dependency, cycle, captive lifetime and async need; constructs
    nothing."""

    def __init__(self, container: InjectQ | None = None) -> None:
        self.container = container

    def _container(self) -> InjectQ:
        return needs_container(self.container, "DependencyValidator")

    def validate(self) -> ValidationResult:
        """Every problem, errors and warnings apart (the walk of ``container.validate()``)."""
        _, problems = find_problems(self._container())
        return ValidationResult(
            errors=[p for p in problems if p.severity != WARNING],
            warnings=[p for p in problems if p.severity == WARNING],
        )

    def get_dependency_graph(self) -> dict[Any, set[Any]]:
        """``{key: {keys it depends on}}`` of every service."""
        nodes = read_graph(self._container()).nodes
        return {key: set(node.dependencies) for key, node in nodes.items()}

    def get_dependency_chain(self, service_key: Any) -> list[Any]:
        """``service_key`` and everything it needs, directly or not (each once, in
        depth-first order)."""
        nodes = read_graph(self._container()).nodes
        if service_key not in nodes:
            raise InjectQError(
                f"{describe_key(service_key)} is not in the graph: it is not bound "
                "(validate() says what is wrong)."
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
