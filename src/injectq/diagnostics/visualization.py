"""Render a container's dependency graph: Mermaid, Graphviz DOT, JSON, plain text."""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path
from typing import Any

from injectq.core.container import InjectQ
from injectq.diagnostics.graph import DependencyGraph, GraphProblem, ServiceNode
from injectq.diagnostics.validation import find_problems, needs_container
from injectq.utils.exceptions import format_path

__all__ = ["DependencyVisualizer"]


def _mermaid(text: str) -> str:
    """``text`` inside a Mermaid quoted label (quotes and pipes as HTML entities)."""
    return text.replace('"', "#quot;").replace("|", "#124;")


def _escaped(text: str) -> str:
    """``text`` inside a DOT double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _marks(problems: list[GraphProblem]) -> dict[Any, list[GraphProblem]]:
    """The problems of each key they are about."""
    marks: dict[Any, list[GraphProblem]] = {}
    for problem in problems:
        try:
            marks.setdefault(problem.key, []).append(problem)
        except TypeError:  # an unhashable key cannot be a node either
            continue
    return marks


def _note(node: ServiceNode) -> str:
    return f"{node.scope}, resource" if node.resource else node.scope


class DependencyVisualizer:
    """The graph of ``container`` (every bound key and the classes autowired below them),
    read from its plans when asked for: nothing is constructed. Each node shows its key,
    lifetime and whether it is a resource, each edge the parameter it feeds; the
    problems validation finds are marked on the nodes they are about."""

    def __init__(self, container: InjectQ | None = None) -> None:
        self.container = container

    def _read(self) -> DependencyGraph:
        also = " or container.visualize_dependencies()"
        return find_problems(needs_container(self.container, "DependencyVisualizer", also))[0]

    def _nodes(self) -> dict[Any, ServiceNode]:
        return self._read().nodes

    # ------------------------------------------------------------------ renderings
    def to_mermaid(self) -> str:
        """A Mermaid flowchart (renders on GitHub in a ```mermaid block): a node per
        service (``key`` / lifetime, resource), an edge per dependency labelled with
        the parameter; nodes with a problem get the ``problem`` (error) or ``warning``
        class, and a note per problem."""
        graph = self._read()
        nodes = graph.nodes
        ids = {key: f"n{i}" for i, key in enumerate(nodes)}
        marks = _marks(graph.problems)
        lines = ["flowchart LR"]
        for key, node in nodes.items():
            label = f"{node.label}<br/>{_note(node)}"
            shape = f'(["{_mermaid(label)}"])' if node.resource else f'["{_mermaid(label)}"]'
            lines.append(f"  {ids[key]}{shape}")
        for node in nodes.values():
            for name, dep in zip(node.params, node.dependencies, strict=True):
                lines.append(f"  {ids[node.key]} -->|{_mermaid(name)}| {ids[dep]}")
        missing = 0
        for problem in graph.problems:
            if problem.key in ids:
                continue
            if problem.kind == "missing":  # a key with no node: draw it, with its owner
                missing += 1
                text = _mermaid(format_path(problem.path))
                lines.append(f'  m{missing}["{text}<br/>missing"]:::problem')
        for key, problems in marks.items():
            if key in ids:
                worst = "problem" if any(p.severity == "error" for p in problems) else "warning"
                lines.append(f"  class {ids[key]} {worst}")
        lines.append("  classDef problem fill:#fdd,stroke:#c00,stroke-width:2px")
        lines.append("  classDef warning fill:#ffd,stroke:#c90,stroke-width:2px")
        return "\n".join(lines) + "\n"

    def to_dot(self, *, include_scopes: bool = True, cluster_by_scope: bool = False) -> str:
        """Graphviz DOT text (``dot -Tsvg``): one node per service (its lifetime on a
        second line; a resource drawn with rounded corners), an edge per dependency
        labelled with the parameter; nodes with a problem are red (errors) or orange
        (warnings)."""
        graph = self._read()
        nodes = graph.nodes
        ids = {key: f"n{i}" for i, key in enumerate(nodes)}
        marks = _marks(graph.problems)

        def node_line(node: ServiceNode) -> str:
            label = _escaped(node.label)
            if include_scopes:
                label += f"\\n[{_escaped(_note(node))}]"  # a DOT line break
            shape = "ellipse" if node.kind == "instance" else "box"
            style = ', style="rounded"' if node.resource else ""
            problems = marks.get(node.key)
            if problems:
                error = any(p.severity == "error" for p in problems)
                color = "red" if error else "orange"
                kinds = ",".join(sorted({p.kind for p in problems}))
                style += f', color={color}, penwidth=2, tooltip="{_escaped(kinds)}"'
            return f'{ids[node.key]} [label="{label}", shape={shape}{style}];'

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
            lines += [
                f'  {ids[node.key]} -> {ids[dep]} [label="{_escaped(name)}"];'
                for name, dep in zip(node.params, node.dependencies, strict=True)
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """``{"nodes": [...], "edges": [...], "problems": [...], "metadata": {...}}``,
        JSON-serializable (services named by their labels)."""
        graph = self._read()
        nodes = graph.nodes
        marks = _marks(graph.problems)
        return {
            "nodes": [
                {
                    "id": node.label,
                    "kind": node.kind,
                    "scope": node.scope,
                    "resource": node.resource,
                    "problems": [p.kind for p in marks.get(node.key, [])],
                }
                for node in nodes.values()
            ],
            "edges": [
                {"from": node.label, "to": nodes[dep].label, "param": name}
                for node in nodes.values()
                for name, dep in zip(node.params, node.dependencies, strict=True)
            ],
            "problems": [p.as_dict() for p in graph.problems],
            "metadata": {
                "total_services": len(nodes),
                "total_dependencies": sum(len(n.dependencies) for n in nodes.values()),
                "errors": [str(p) for p in graph.errors],
                "warnings": [str(p) for p in graph.warnings],
            },
        }

    def to_ascii(self) -> str:
        """Plain text: each service with its lifetime and what it depends on (by
        parameter); problems listed at the end, and flagged with ``!`` on their node."""
        graph = self._read()
        nodes = graph.nodes
        marks = _marks(graph.problems)
        lines = ["=== Dependency Graph ==="]
        for node in nodes.values():
            flag = ""
            if node.key in marks:
                flag = "  ! " + ", ".join(sorted({p.kind for p in marks[node.key]}))
            lines.append(
                f"{node.label} [{node.scope}, {node.kind}{', resource' if node.resource else ''}]{flag}"
            )
            if node.dependencies:
                needs = ", ".join(
                    f"{name}={nodes[dep].label}"
                    for name, dep in zip(node.params, node.dependencies, strict=True)
                )
                lines.append(f"  Dependencies: {needs}")
        lines += [f"! [{p.kind}] {p}" for p in graph.problems]
        return "\n".join(lines) + "\n"

    def save_graph(self, filename: str | Path, format: str = "dot") -> None:
        """Write the graph to ``filename`` as ``"dot"``, ``"mermaid"``, ``"json"`` or
        ``"ascii"``."""
        if format == "mermaid":
            text = self.to_mermaid()
        elif format == "dot":
            text = self.to_dot()
        elif format == "json":
            text = json.dumps(self.to_json(), indent=2)
        elif format == "ascii":
            text = self.to_ascii()
        else:
            raise ValueError(f"format must be 'dot', 'mermaid', 'json' or 'ascii', not {format!r}")
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
        return [list(p.path) for p in self._read().problems if p.kind == "cycle"]

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
