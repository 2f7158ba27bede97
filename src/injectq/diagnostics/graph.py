"""The dependency graph of a container, read from its plans (signatures only: nothing
is constructed). Validation and rendering both start here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from injectq.core.container import InjectQ
from injectq.resources.monitor import ResourceMonitor
from injectq.utils.exceptions import InjectQError

if TYPE_CHECKING:
    from injectq.core.planning import Node

__all__ = ["ServiceNode", "read_graph"]


@dataclass(frozen=True)
class ServiceNode:
    """One service of the graph: what provides it, its lifetime, what it needs."""

    key: Any
    label: str
    kind: str  # "class", "factory", "instance", "context" or "autowired"
    scope: str
    dependencies: tuple[Any, ...]


def read_graph(container: InjectQ) -> tuple[dict[Any, ServiceNode], list[InjectQError]]:
    """Every bound key and every class autowired below one, in binding order; and the
    errors planning found (a missing dependency or a cycle), each once.

    A key whose plan fails is left out of the graph; its error says why. The
    container's own bindings (the container, its resource monitor) are left out too."""
    compiler = container._compiler
    bindings = container.bindings
    builtin = (InjectQ, ResourceMonitor)
    nodes: dict[Any, ServiceNode] = {}
    errors: list[InjectQError] = []
    seen_errors: set[str] = set()
    with compiler.lock:
        for key in bindings:
            if key in builtin:
                continue
            try:
                root = compiler.plan(key)
            except InjectQError as exc:
                if str(exc) not in seen_errors:  # a shared broken dependency: report it once
                    seen_errors.add(str(exc))
                    errors.append(exc)
                continue
            _add(root, nodes, bindings)
    return nodes, errors


def _add(root: Node, nodes: dict[Any, ServiceNode], bindings: dict[Any, Any]) -> None:
    todo = [root]
    while todo:
        node = todo.pop()
        if node.key in nodes:
            continue
        binding = node.binding
        kind = binding.kind.value if node.key in bindings else "autowired"
        deps = node.dependencies
        nodes[node.key] = ServiceNode(
            node.key, node.label, kind, node.lifetime, tuple(dep.key for dep in deps)
        )
        todo.extend(reversed(deps))
