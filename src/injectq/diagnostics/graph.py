"""The dependency graph of a container, read from its plans (signatures only: nothing
is constructed), and every problem found on the way. Validation and rendering both
start here.

A key whose plan succeeds is read from the plan the container keeps (so a second walk,
or the first resolution after it, plans nothing again). A key whose plan fails is
walked parameter by parameter with the planner's own choices (``feeder``, ``unfed``,
``not_found``), so that one missing binding or cycle does not hide the next.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from injectq.core.analysis import EMPTY, analyze
from injectq.core.bindings import SINGLETON, TRANSIENT, Kind, context_factory_info
from injectq.core.container import InjectQ
from injectq.core.planning import Node
from injectq.lifecycle.machine import resource_spec
from injectq.lifecycle.monitor import ResourceMonitor
from injectq.utils.exceptions import (
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQError,
    describe_key,
    format_path,
)

if TYPE_CHECKING:
    from injectq.core.bindings import Binding
    from injectq.core.planning import Planner

__all__ = ["DependencyGraph", "GraphProblem", "ServiceNode", "read_graph"]

ERROR = "error"
WARNING = "warning"


class GraphProblem(InjectQError):
    """One problem of a container's graph: ``kind`` (``missing``, ``cycle``, ``captive``,
    ``async_only``, or ``signature`` for a type hint that cannot be read), the ``key`` it is about, the ``path`` of labels from the root of the
    chain to it, ``severity`` (``error`` or ``warning``); its message says how to fix it."""

    def __init__(
        self, kind: str, key: Any, path: list[str] | tuple[str, ...], message: str, severity: str
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key
        self.path = tuple(path)
        self.message = message
        self.severity = severity

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: kind, severity, key (its label), path, message."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "key": describe_key(self.key),
            "path": list(self.path),
            "message": self.message,
        }


@dataclass(frozen=True)
class ServiceNode:
    """One service of the graph: what provides it, its lifetime, what it needs."""

    key: Any
    label: str
    kind: str  # "class", "factory", "instance", "context" or "autowired"
    scope: str  # the lifetime
    dependencies: tuple[Any, ...]
    #: the parameter name of each dependency (same order as ``dependencies``)
    params: tuple[str, ...] = ()
    resource: bool = False
    #: why this service itself needs ``aget`` ("async initialize()", ...), else ""
    async_reason: str = ""


@dataclass
class DependencyGraph:
    """The services of a container (bound keys, and classes autowired below them, in
    binding order) and the problems found while reading them."""

    nodes: dict[Any, ServiceNode] = field(default_factory=dict)
    problems: list[GraphProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[GraphProblem]:
        """The problems that make a resolution fail (a cycle, a missing binding, ...)."""
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[GraphProblem]:
        """The problems that fail only in one way of resolving (a sync ``get()`` of a
        graph that needs ``aget``)."""
        return [p for p in self.problems if p.severity == WARNING]

    def needs_async(self, key: Any) -> list[Any] | None:
        """The chain of keys from ``key`` to a service that needs ``aget`` (both
        included), or None when ``key``'s graph is all sync."""
        memo: dict[Any, list[Any] | None] = {}

        def chain(k: Any, seen: frozenset[Any]) -> list[Any] | None:
            if k in memo:
                return memo[k]
            node = self.nodes.get(k)
            if node is None or k in seen:
                return None
            found: list[Any] | None = [k] if node.async_reason else None
            if found is None:
                for dep in node.dependencies:
                    below = chain(dep, seen | {k})
                    if below is not None:
                        found = [k, *below]
                        break
            memo[k] = found
            return found

        return chain(key, frozenset())


def read_graph(container: InjectQ) -> DependencyGraph:
    """Every bound key and every class autowired below one, and every problem found.
    The container's own bindings (the container, its resource monitor) are left out."""
    compiler = container._compiler
    walk = _Walk(compiler.planner)
    with compiler.lock:
        for key in container.bindings:
            if key not in (InjectQ, ResourceMonitor):
                walk.visit(key, [], {})
    return walk.graph


def _kind(binding: Binding, bound: bool) -> str:
    return binding.kind.value if bound else "autowired"


def _resource_and_async(binding: Binding) -> tuple[bool, str]:
    """Whether the binding makes a resource, and why it needs ``aget`` itself."""
    provider = binding.provider
    if binding.kind is Kind.INSTANCE:
        spec = resource_spec(type(provider)) if provider is not None else None
        return spec is not None, ""  # a bound instance is initialized by its first use
    if binding.kind is Kind.CONTEXT:
        info = context_factory_info(provider)
        is_async = bool(info and info[0])
        return True, "async generator" if is_async else ""
    if binding.kind is Kind.FACTORY:
        target = getattr(provider, "func", provider)
        return False, "async factory" if inspect.iscoroutinefunction(target) else ""
    spec = resource_spec(provider)
    if spec is None:
        return False, ""
    return True, "async initialize()" if spec.init_async is not False else ""


class _Walk:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.graph = DependencyGraph()
        self.reported: set[tuple[str, Any]] = set()

    def problem(self, kind: str, dedupe: Any, error: InjectQError) -> None:
        if (kind, dedupe) in self.reported:
            return
        self.reported.add((kind, dedupe))
        key = getattr(error, "key", None)
        path = list(getattr(error, "path", None) or [])
        message = str(error)
        if kind == "cycle":
            key = dedupe
            message = (
                f"Dependency cycle: {format_path(path)}. Break it: let one of these take "
                "its dependency later (a factory, or a Callable that resolves on use) or "
                "remove one of the dependencies."
            )
        self.graph.problems.append(GraphProblem(kind, key, path, message, ERROR))

    def visit(self, key: Any, path: list[str], visiting: dict[Any, int]) -> None:
        nodes = self.graph.nodes
        if key in visiting:
            label = describe_key(key)
            cycle = [*path[visiting[key] :], label]
            self.problem("cycle", key, CircularDependencyError(cycle))
            return
        if key in nodes:
            return
        planner = self.planner
        try:
            node = planner.plan_from(key, path, visiting)
        except CircularDependencyError:
            node = None
        except DependencyNotFoundError as exc:
            if planner.binding_for(key) is None:  # the key itself: nothing to walk below
                self.problem("missing", key, exc)
                return
            node = None
        except InjectionError:  # a signature it cannot read, here or below: walk it
            node = None
        if node is not None:
            self.add_plan(node)
            return
        self.walk_failing(key, path, visiting)

    def add_plan(self, root: Node) -> None:
        nodes = self.graph.nodes
        bindings = self.planner.bindings
        todo = [root]
        while todo:
            node = todo.pop()
            if node.key in nodes:
                continue
            deps = [(param.name, dep) for param, dep in node.args if isinstance(dep, Node)]
            resource, reason = _resource_and_async(node.binding)
            nodes[node.key] = ServiceNode(
                node.key,
                node.label,
                _kind(node.binding, node.key in bindings),
                node.lifetime,
                tuple(dep.key for _, dep in deps),
                tuple(name for name, _ in deps),
                resource,
                reason,
            )
            todo.extend(reversed([dep for _, dep in deps]))

    def walk_failing(self, key: Any, path: list[str], visiting: dict[Any, int]) -> None:
        """Walk a key whose plan fails, each parameter as the planner would choose it,
        recording every problem instead of stopping at the first."""
        planner = self.planner
        nodes = self.graph.nodes
        binding = planner.binding_for(key)
        if binding is None:  # pragma: no cover - visit() handled it
            return
        label = describe_key(key)
        resource, reason = _resource_and_async(binding)
        kind = _kind(binding, key in planner.bindings)
        lifetime = SINGLETON if binding.kind is Kind.INSTANCE else binding.scope
        placeholder = ServiceNode(key, label, kind, lifetime, (), (), resource, reason)
        nodes[key] = placeholder  # keeps binding order; replaced below with its edges
        deps: list[tuple[str, Any]] = []
        visiting[key] = len(path)
        path.append(label)
        try:
            try:
                params = analyze(binding.provider)
            except InjectionError as exc:  # a type hint that names nothing importable
                exc.key, exc.path = key, [*path]  # type: ignore[attr-defined]
                self.problem("signature", key, exc)
                params = ()
            for param in params:
                dep_key, soft = planner.feeder(param)
                if dep_key is EMPTY:
                    try:
                        planner.unfed(param, path)
                    except DependencyNotFoundError as exc:
                        self.problem("missing", (key, param.name), exc)
                    continue
                if soft:
                    try:
                        planner.plan_from(dep_key, path, visiting)
                    except DependencyNotFoundError:
                        continue  # the parameter's default (as resolution does)
                    except CircularDependencyError:
                        pass
                deps.append((param.name, dep_key))
                self.visit(dep_key, path, visiting)
        finally:
            path.pop()
            del visiting[key]
        kept = [(name, dep) for name, dep in deps if dep in nodes]
        nodes[key] = ServiceNode(
            key,
            label,
            kind,
            lifetime,
            tuple(dep for _, dep in kept),
            tuple(name for name, _ in kept),
            resource,
            reason,
        )


# lifetimes a binding of the first may not hold (it outlives them)
SHORTER: dict[str, tuple[str, ...]] = {"request": ("action",)}


def is_captive(owner: str, dep: ServiceNode) -> bool:
    """Whether a binding living ``owner`` long would hold ``dep`` past its lifetime."""
    if owner == SINGLETON:
        if dep.scope == TRANSIENT:
            return dep.resource
        return dep.scope != SINGLETON
    return dep.scope in SHORTER.get(owner, ())
