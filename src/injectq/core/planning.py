"""Planning, step two: which binding feeds every parameter.

For a key, :meth:`Planner.plan` consults the registry, chooses the binding for each
parameter of its provider (see :meth:`Planner.feeder`), finds cycles and gives errors
their full path. The result is a :class:`Node` graph, which code generation
(:mod:`injectq.core.resolvers`) turns into functions and the diagnostics read. Plans
are valid for one registry version: the container drops them on any change.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from injectq.core.analysis import (
    EMPTY,
    PRIMITIVES,
    Param,
    analyze,
    is_autowirable,
    is_primitive,
)
from injectq.core.bindings import (
    SINGLETON,
    TRANSIENT,
    Binding,
    Kind,
    class_binding,
    context_factory_info,
)
from injectq.lifecycle.machine import ResourceSpec, resource_spec
from injectq.utils.classes import class_attribute
from injectq.utils.exceptions import (
    CircularDependencyError,
    DependencyNotFoundError,
    describe_key,
    format_path,
)

__all__ = ["Node", "Planner", "Value", "pseudo_binding"]


class Value(NamedTuple):
    """A parameter filled with its default (or None for an optional dependency)."""

    value: Any


@dataclass(slots=True, eq=False)
class Node:
    """The plan for one key: its binding and, per parameter, where the value comes from."""

    key: Any
    binding: Binding
    given_label: str | None = None
    args: list[tuple[Param, Node | Value]] = field(default_factory=list)
    spec: ResourceSpec | None = None
    is_async_factory: bool = False
    needs_async: bool = False

    @property
    def label(self) -> str:
        """The key's name (computed when needed: only errors and setup read it)."""
        return self.given_label if self.given_label is not None else describe_key(self.key)

    @property
    def lifetime(self) -> str:
        """How long the built value lives: the binding's scope (a bound instance: singleton)."""
        return SINGLETON if self.binding.kind is Kind.INSTANCE else self.binding.scope

    @property
    def dependencies(self) -> list[Node]:
        """The nodes this one is built from (parameters filled by defaults left out)."""
        return [dep for _, dep in self.args if isinstance(dep, Node)]


def pseudo_binding(fn: Callable[..., Any]) -> Binding:
    """The binding a plain function is planned under when it is called with injection."""
    return Binding(fn, fn, Kind.FACTORY, TRANSIENT)


class Planner:
    """The plans of one container for one registry version, made under :attr:`lock`."""

    def __init__(self, bindings: Mapping[Any, Binding]) -> None:
        self.bindings = bindings
        #: held while planning (and by the container while it compiles from plans)
        self.lock = threading.RLock()
        self.nodes: dict[Any, Node] = {}

    def binding_for(self, key: Any) -> Binding | None:
        """The binding of ``key``: the registry's, else an unbound class's own (autowired)."""
        binding = self.bindings.get(key)
        if binding is not None:
            return binding
        if is_autowirable(key):
            # an unbound class: the lifetime it declares, else transient
            return class_binding(key, key, class_attribute(key, "_injectq_scope") or TRANSIENT)
        return None

    def plan(self, key: Any) -> Node:
        """The plan of ``key`` (made now, under :attr:`lock`, if need be)."""
        node = self.nodes.get(key)
        if node is not None:
            return node
        with self.lock:
            return self.plan_from(key, [], {})

    def plan_from(self, key: Any, path: list[str], visiting: dict[Any, int]) -> Node:
        """Plan ``key`` as a dependency on ``path`` (the labels of the keys being
        planned, outermost first); ``visiting`` maps those keys to their place on it."""
        node = self.nodes.get(key)
        if node is not None:
            return node
        label = describe_key(key)
        if key in visiting:
            cycle = [*path[visiting[key] :], label]
            raise CircularDependencyError(cycle)
        binding = self.binding_for(key)
        if binding is None:
            raise self.not_found(key, path)
        node = Node(key, binding, label)
        provider = binding.provider
        if binding.kind is Kind.INSTANCE:
            if provider is not None:
                node.spec = resource_spec(type(provider))
                node.needs_async = node.spec is not None and node.spec.init_async is not False
            self.nodes[key] = node
            return node
        if binding.kind is Kind.CLASS:
            node.spec = resource_spec(provider)
        elif binding.kind is Kind.FACTORY:
            target = getattr(provider, "func", provider)
            node.is_async_factory = inspect.iscoroutinefunction(target)
        visiting[key] = len(path)
        path.append(label)
        try:
            params = analyze(provider)
            for param in params:
                node.args.append((param, self.plan_param(node, param, path, visiting)))
        finally:
            path.pop()
            del visiting[key]
        needs_async = (
            node.is_async_factory
            or (binding.kind is Kind.CONTEXT and bool(context_factory_info(provider)[0]))  # type: ignore[index]
            or (node.spec is not None and node.spec.init_async is not False)
        )
        if not needs_async:
            for _, dep in node.args:
                if type(dep) is Node and dep.needs_async:
                    needs_async = True
                    break
        node.needs_async = needs_async
        self.nodes[key] = node
        return node

    def plan_param(
        self, owner: Node, param: Param, path: list[str], visiting: dict[Any, int]
    ) -> Node | Value:
        """Where ``param`` of ``owner`` gets its value: a planned key, or a ``Value``."""
        key, soft = self.feeder(param)
        if key is EMPTY:
            return Value(self.unfed(param, path))
        if not soft:
            return self.plan_from(key, path, visiting)
        try:
            return self.plan_from(key, path, visiting)
        except DependencyNotFoundError:
            return Value(param.default if param.default is not EMPTY else None)

    def feeder(self, param: Param) -> tuple[Any, bool]:
        """The key whose value fills ``param`` (EMPTY when none does), and whether a
        missing dependency below it falls back to the parameter's default. By the
        ``Inject[T]`` marker, else by type, else by a string key equal to the name, else
        (builtin types, which a name key comes before) by an explicit binding of the type."""
        if param.inject_key is not EMPTY:
            return param.inject_key, False
        ann = param.annotation
        bindings = self.bindings
        if (ann in bindings and ann not in PRIMITIVES) or is_autowirable(ann):
            return ann, param.default is not EMPTY or param.optional
        if param.name in bindings:
            return param.name, False
        if ann in bindings:  # a builtin type bound explicitly (container[str] = ...)
            return ann, param.default is not EMPTY or param.optional
        return EMPTY, False

    def unfed(self, param: Param, path: list[str]) -> Any:
        """The value of a parameter no key feeds: its default, None when optional, else
        an error naming the path (``path[-1]`` is the owner of ``param``)."""
        if param.default is not EMPTY:
            return param.default
        if param.optional:
            return None
        ann = param.annotation
        where = [*path[:-1], f"{path[-1]}({param.describe()})"]
        hint = (
            f"bind it with container[{param.name!r}] = ..., give the parameter a default"
            if ann is EMPTY or is_primitive(ann)
            else f"bind {describe_key(ann)} with container.bind({describe_key(ann)}, ...)"
        )
        raise DependencyNotFoundError(
            f"Cannot resolve parameter '{param.describe()}' of {path[-1]}: {hint}. "
            f"Path: {format_path(where)}",
            key=ann if ann is not EMPTY else param.name,
            path=where,
        )

    def not_found(self, key: Any, path: list[str]) -> DependencyNotFoundError:
        """The error for a key with no binding, naming the path to it and what to do."""
        label = describe_key(key)
        full = [*path, label]
        if isinstance(key, str):
            hint = f"bind it with container[{key!r}] = value"
        elif isinstance(key, type) and inspect.isabstract(key):
            hint = f"{label} is abstract: bind it with container.bind({label}, Implementation)"
        elif isinstance(key, type) and is_primitive(key):
            hint = f"builtin types are never autowired; bind a value with container.bind({label}, value)"
        else:
            hint = f"bind it with container.bind({label}, ...)"
        suffix = f" Path: {format_path(full)}" if path else ""
        return DependencyNotFoundError(
            f"No binding for {label}: {hint}.{suffix}", key=key, path=full
        )
