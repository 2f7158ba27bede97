"""Render a container's dependency graph: Graphviz DOT, JSON, plain text."""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path
from typing import Any

from injectq.core.container import InjectQ
from injectq.diagnostics.graph import ServiceNode, read_graph
from injectq.utils.exceptions import CircularDependencyError, InjectQError

__all__ = ["DependencyVisualizer"]


def _escaped(text: str) -> str:
    """``text`` inside a DOT double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


class DependencyVisualizer:
    """The graph of ``container`` (every bound key and the classes autowired below them),
    read from its plans when asked for: nothing is constructed."""

    def __init__(self, container: InjectQ | None = None) -> None:
        self.container = container

    def _read(self) -> tuple[dict[Any, ServiceNode], list[InjectQError]]:
        if self.container is None:
            raise InjectQError(
                "This DependencyVisualizer has no container: create it with "
                "DependencyVisualizer(container) or container.visualize_dependencies()."
            )
        return read_graph(self.container)

    def _nodes(self) -> dict[Any, ServiceNode]:
        return self._read()[0]

    # ------------------------------------------------------------------ renderings
    def to_dot(self, *, include_scopes: bool = False, cluster_by_scope: bool = False) -> str:
        """Graphviz DOT text (``dot -Tsvg``): one node per service, an edge per need."""
        nodes = self._nodes()
        ids = {key: f"n{i}" for i, key in enumerate(nodes)}

        def node_line(node: ServiceNode) -> str:
            label = _escaped(node.label)
            if include_scopes:
                label += f"\\n[{_escaped(node.scope)}]"  # a DOT line break
            shape = "ellipse" if node.kind == "instance" else "box"
            return f'{ids[node.key]} [label="{label}", shape={shape}];'

        lines = ["digraph Dependencies {", "  rankdir=LR;"]
        if cluster_by_scope:
            by_scope: dict[str, list[ServiceNode]] = {}
            for node in nodes.values():
                by_scope.setdefault(node.scope, []).append(node)
            for i, (scope, members) in enumerate(by_scope.items()):
                lines.append(f"  subgraph cluster_{i} {{")
                lines.append(f'    label="{_escaped(scope)}";')
                lines += [f"    {node_line(node)}" for node in members]
                lines.append("  }")
        else:
            lines += [f"  {node_line(node)}" for node in nodes.values()]
        for node in nodes.values():
            lines += [f"  {ids[node.key]} -> {ids[dep]};" for dep in node.dependencies]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [...], "metadata": {...}}``, JSON-serializable
        (services named by their labels)."""
        nodes, errors = self._read()
        return {
            "nodes": [
                {"id": node.label, "kind": node.kind, "scope": node.scope}
                for node in nodes.values()
            ],
            "edges": [
                {"from": node.label, "to": nodes[dep].label}
                for node in nodes.values()
                for dep in node.dependencies
            ],
            "metadata": {
                "total_services": len(nodes),
                "total_dependencies": sum(len(n.dependencies) for n in nodes.values()),
                "errors": [str(error) for error in errors],
            },
        }

    def to_ascii(self) -> str:
        """Plain text: each service with its lifetime and what it depends on."""
        nodes, errors = self._read()
        lines = ["=== Dependency Graph ==="]
        for node in nodes.values():
            lines.append(f"{node.label} [{node.scope}, {node.kind}]")
            if node.dependencies:
                needs = ", ".join(nodes[dep].label for dep in node.dependencies)
                lines.append(f"  Dependencies: {needs}")
        lines += [f"! {error}" for error in errors]
        return "\n".join(lines) + "\n"

    def save_graph(self, filename: str | Path, format: str = "dot") -> None:
        """Write the graph to ``filename`` as ``"dot"``, ``"json"`` or ``"ascii"``."""
        if format == "dot":
            text = self.to_dot()
        elif format == "json":
            text = json.dumps(self.to_json(), indent=2)
        elif format == "ascii":
            text = self.to_ascii()
        else:
            raise ValueError(f"format must be 'dot', 'json' or 'ascii', not {format!r}")
        Path(filename).write_text(text, encoding="utf-8")

    # ------------------------------------------------------------------ questions
    def get_statistics(self) -> dict[str, Any]:
        """Counts: services, dependencies (edges), services per kind and per lifetime."""
        nodes = self._nodes()
        return {
            "total_services": len(nodes),
            "total_dependencies": sum(len(node.dependencies) for node in nodes.values()),
            "services_by_type": dict(Counter(node.kind for node in nodes.values())),
            "services_by_scope": dict(Counter(node.scope for node in nodes.values())),
        }

    def find_cycles(self) -> list[list[str]]:
        """Every dependency cycle, as the names along it (``[A, B, A]``)."""
        _, errors = self._read()
        return [list(e.path) for e in errors if isinstance(e, CircularDependencyError)]

    def get_dependency_path(self, start: Any, end: Any) -> list[Any] | None:
        """The shortest chain of keys from ``start`` to ``end`` that ``start`` needs
        (both included), or None when ``start`` does not depend on ``end``."""
        nodes = self._nodes()
        if start not in nodes:
            return None
        came_from: dict[Any, Any] = {start: None}
        todo = deque([start])
        while todo:
            key = todo.popleft()
            if key == end:
                path = [key]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return path[::-1]
            for dep in nodes[key].dependencies:
                if dep not in came_from:
                    came_from[dep] = key
                    todo.append(dep)
        return None
