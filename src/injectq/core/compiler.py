"""Planning, step two, and code generation.

For a key, :meth:`Compiler.plan` decides which binding feeds every parameter (this is
where the registry is consulted, cycles are found and errors get their full path), and
the ``build*`` methods turn the plan into one generated Python function per key, so a
transient graph ``A(B(C()), D())`` resolves with one call and four constructor calls,
exactly what a person would write. Singletons already built are inlined as constants.

Everything compiled is thrown away when the registry changes (the container clears the
caches), so generated code never sees a stale binding.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import get_ident
from types import CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any, NamedTuple

from injectq.core.analysis import (
    EMPTY,
    PRIMITIVES,
    Param,
    analyze,
    is_autowirable,
    is_primitive,
    may_return_none,
    simple_hints,
)
from injectq.core.bindings import (
    CLASS,
    INSTANCE,
    SINGLETON,
    TRANSIENT,
    Binding,
    Kind,
    class_binding,
    context_factory_info,
)
from injectq.core.codegen import FunctionBuilder, identifier
from injectq.resources.lifecycle import (
    INITIALIZING,
    LIVE,
    STATE_ATTR,
    ResourceSpec,
    context_aenterer,
    context_enterer,
    current_task,
    fresh_activator_async,
    fresh_activator_sync,
    is_resource_class,
    loop_running,
    resource_label,
    resource_spec,
    state_of,
)
from injectq.utils.classes import class_attribute
from injectq.utils.exceptions import (
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQError,
    ResourceInitializationError,
    ScopeError,
    describe_key,
    format_path,
)

if TYPE_CHECKING:
    import asyncio

    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope

__all__ = ["Compiler", "Node"]

_log = logging.getLogger("injectq")
_MISS: Any = object()
_NO_KWARGS: dict[str, Any] = {}  # only ever unpacked: ``f(*args, **_NO_KWARGS)``
_ids = itertools.count()


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
        return SINGLETON if self.binding.kind is Kind.INSTANCE else self.binding.scope

    @property
    def dependencies(self) -> list[Node]:
        return [dep for _, dep in self.args if isinstance(dep, Node)]


class _Unit(FunctionBuilder):
    """One generated function: the builder of its source's names, and whether it may be
    kept (every singleton it uses was built and is inlined as a constant)."""

    __slots__ = ("complete", "graph")

    def __init__(self, graph: _ScopeGraph | None = None) -> None:
        super().__init__()
        self.complete = True
        #: when building a scoped instance: the writer of its scope's part of the graph
        #: (dependencies of that same scope are built inline)
        self.graph = graph


def _local_name(label: str) -> str:
    """A local variable's name for a key: ``HttpClient`` -> ``http_client``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", identifier(label)).lower()


class _ScopeGraph:
    """Writes the statements that build a scoped instance together with everything it
    needs from the same scope, as one function (see :meth:`Compiler.scoped_resolver`).

    The scope's keys come one after another, dependencies first, each claimed with one
    ``setdefault`` of a :class:`Claim` on the scope's cache: when the claim is ours the
    key is built in place, a value found is used as is, another creator's claim is
    joined. Looking up a key whose dependent is cached already is cheap and builds
    nothing: a scoped instance is only ever cached after all it needs from its scope.
    """

    def __init__(self, compiler: Compiler, home: str, is_async: bool) -> None:
        self.compiler = compiler
        self.home = home
        self.is_async = is_async
        self.lines: list[str] = []
        self.known: dict[Any, str] = {}  # scoped key -> the local that holds it
        self.unit = _Unit(self)

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def _same_scope_dependencies(self, node: Node) -> list[Node]:
        """What ``node``'s construction looks up from this scope, through transients."""
        found: list[Node] = []
        for dep in node.dependencies:
            if dep.binding.kind is Kind.INSTANCE:
                continue
            scope = dep.binding.scope
            if scope == self.home:
                found.append(dep)
            elif scope == TRANSIENT:
                found.extend(self._same_scope_dependencies(dep))
        return found

    def scoped(self, node: Node) -> str:
        """The local holding ``node``'s instance, after the statements that fill it."""
        var = self.known.get(node.key)
        if var is not None:
            return var
        for dep in self._same_scope_dependencies(node):
            self.scoped(dep)
        unit = self.unit
        label = node.label
        var = unit.local(_local_name(label))
        key = unit.ref(node.key, f"{label}_key")
        wait = "await " if self.is_async else ""
        self.emit(f"{var} = cache.setdefault({key}, claim)")
        self.emit(f"if {var} is claim:")
        self.emit("    try:")
        self.emit(f"        {var} = {self.compiler.construct_in_graph(node, unit, self.is_async)}")
        self.emit("    except BaseException as error:")
        self.emit(f"        abort_claim(scope, cache, {key}, claim, error)")
        self.emit("        raise")
        self.emit(f"    cache[{key}] = {var}")
        self.emit("    if scope.waiting is not None:")
        self.emit(f"        wake_waiters(scope, {key}, {var})")
        self.emit(f"elif type({var}) is Claim:")
        self.emit(
            f"    {var} = {wait}join_claim(scope, cache, {key}, {var}, "
            f"{unit.ref(label, f'{label}_label')})"
        )
        if self.is_async and node.spec is not None:
            # found: get() in this loop may have scheduled its initialization
            state = unit.local(f"{var}_state")
            self.emit(f"elif ({state} := pending_state({var})) is not None:")
            self.emit(f"    await {state}.initialize_async(None)")
        self.known[node.key] = var
        return var

    def namespace(self) -> dict[str, Any]:
        unit = self.unit
        unit.helpers(
            Claim=Claim,
            NO_VALUE=NO_VALUE,
            abort_claim=abort_claim,
            wake_waiters=wake_waiters,
            join_claim=join_claim_async if self.is_async else join_claim_sync,
            pending_state=pending_state,
            thread_claims=_thread_claims,
            new_thread_claim=thread_claim,
            get_ident=threading.get_ident,
            current_task=current_task,
        )
        return unit.namespace

    def claim_lines(self) -> str:
        if self.is_async:
            return "    claim = Claim(get_ident(), current_task())\n"
        # one claim object per thread, reused: a sync creation is told apart by thread
        return (
            "    try:\n"
            "        claim = thread_claims.claim\n"
            "    except AttributeError:\n"
            "        claim = new_thread_claim()\n"
        )


def _scope_missing(label: str, scope_name: str) -> ScopeError:
    return ScopeError(
        f"{label} is bound to scope {scope_name!r} but no {scope_name!r} scope is active. "
        f"Resolve it inside `with container.scope({scope_name!r}):` "
        f"(or `async with`)."
    )


def _scope_closed(scope: Scope) -> ScopeError:
    return ScopeError(
        f"Scope {scope.label!r} is closed; its resources were disposed. A task still "
        "running after its scope ended must open a scope of its own."
    )


class _PlainResults(set[type]):
    """The result types a factory binding returned that need nothing done: not None, not
    awaitable, not a resource. Those are told by the type alone, so a factory's later
    results of a type seen here skip the checks (``inspect.isawaitable`` is an ABC
    instance check, ~0.15 µs a call). A generator is never recorded: whether it is
    awaitable depends on the function that made it, not on its type."""

    __slots__ = ()

    def learn(self, value: Any) -> None:
        cls = type(value)
        if cls is not GeneratorType and not inspect.isawaitable(value):
            self.add(cls)


def _or_default(value: float | None, default: float | None) -> float | None:
    return value if value is not None else default


def _returned_none(label: str) -> InjectionError:
    return InjectionError(
        f"The factory for {label} returned None; bind with allow_none=True "
        "(or annotate its return type `-> T | None`) if None is a valid value."
    )


def _raise_closed(scope: Scope) -> None:
    raise _scope_closed(scope)


#: whether a generated expression uses the owner scope (``scope`` is a reserved name, so
#: no referenced object is called that)
_USES_SCOPE = re.compile(r"\bscope\b").search


def _provider_ref(node: Node, unit: _Unit) -> str:
    """The name of ``node``'s class or factory in generated source (its own name)."""
    provider = node.binding.provider
    return unit.ref(provider, getattr(provider, "__name__", None) or node.label)


class Compiler:
    """Plans and generated resolvers of one container, valid for one registry version."""

    def __init__(self, container: InjectQ) -> None:
        self.c = container
        self.lock = threading.RLock()
        self.nodes: dict[Any, Node] = {}
        self.abuilds: dict[Any, Callable[[Scope], Any]] = {}
        self.singleton_resolvers: dict[Any, Callable[[], Any]] = {}
        self.asingleton_resolvers: dict[Any, Callable[[], Any]] = {}
        self.scoped_resolvers: dict[Any, Callable[[], Any]] = {}
        self.ascoped_resolvers: dict[Any, Callable[[], Any]] = {}
        self.makers: dict[Any, Callable[..., Any]] = {}
        self.amakers: dict[Any, Callable[..., Any]] = {}
        self.activators: dict[Any, Callable[[Any, Scope], Any]] = {}
        self.enterers: dict[Any, Callable[[Any, Scope], Any]] = {}
        self._warned_root_transients: set[Any] = set()

    # ------------------------------------------------------------------ planning
    def binding_for(self, key: Any) -> Binding | None:
        binding = self.c._bindings.get(key)
        if binding is not None:
            return binding
        if is_autowirable(key):
            # an unbound class: the lifetime it declares, else transient
            return class_binding(key, key, class_attribute(key, "_injectq_scope") or TRANSIENT)
        return None

    def plan(self, key: Any) -> Node:
        node = self.nodes.get(key)
        if node is not None:
            return node
        with self.lock:
            return self._plan(key, [], {})

    def _plan(self, key: Any, path: list[str], visiting: dict[Any, int]) -> Node:
        node = self.nodes.get(key)
        if node is not None:
            return node
        label = describe_key(key)
        if key in visiting:
            cycle = [*path[visiting[key] :], label]
            raise CircularDependencyError(cycle)
        binding = self.binding_for(key)
        if binding is None:
            raise self._not_found(key, path)
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
                node.args.append((param, self._plan_param(node, param, path, visiting)))
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

    def _plan_param(
        self, owner: Node, param: Param, path: list[str], visiting: dict[Any, int]
    ) -> Node | Value:
        key, soft = self.feeder(param)
        if key is EMPTY:
            return Value(self.unfed(param, path))
        if not soft:
            return self._plan(key, path, visiting)
        try:
            return self._plan(key, path, visiting)
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
        bindings = self.c._bindings
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

    def _not_found(self, key: Any, path: list[str]) -> DependencyNotFoundError:
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

    # ------------------------------------------------------------------ activation
    def activate_sync(self, inst: Any, key: Any, owner: Scope, deps: tuple[Any, ...] = ()) -> None:
        st = state_of(inst, key)
        st.bind_owner(owner, key)
        st.check_owner(owner)
        if st.status == LIVE:
            st.hold(owner)
            return
        if deps and owner.is_async is not False:
            # a dependency whose initialization get() scheduled in a running loop: this
            # one is scheduled after it, so dependencies still come first (DESIGN §3a)
            waiting = [
                dep_st
                for dep in deps
                if (dep_st := getattr(dep, "_injectq_resource_state", None)) is not None
                and dep_st.status != LIVE
            ]
            if waiting:
                loop = loop_running()
                if loop is not None:
                    st.schedule_init(owner, loop, waiting)
                    return
        aio = sys.modules.get("asyncio")  # not imported: no task can be initializing it
        if st.spec.init_async is False and not (
            aio is not None and st.status == INITIALIZING and isinstance(st.initializer, aio.Task)
        ):
            st.initialize_sync(owner)
            return
        loop = loop_running()
        if loop is None:
            if st.spec.init_async is True:
                raise ResourceInitializationError(
                    f"{st.label} has an async initialize(); with no running event loop use "
                    f"`await container.aget({st.label})` (or `await container.start()`)."
                )
            st.initialize_sync(owner)
            return
        if owner.is_async is False:
            raise ScopeError(
                f"{st.label} has an async initialize() and cannot be owned by a sync scope; "
                "use `async with` for the scope."
            )
        st.schedule_init(owner, loop)

    async def activate_async(self, inst: Any, key: Any, owner: Scope) -> None:
        st = state_of(inst, key)
        st.bind_owner(owner, key)
        st.check_owner(owner)
        if st.status == LIVE:
            st.hold(owner)
            return
        await st.initialize_async(owner)

    def _maker(self, node: Node) -> Callable[..., Any]:
        """Construct-and-activate for a node that is more than a constructor call."""
        made = self.makers.get(node.key)
        if made is not None:
            return made
        binding, label, key = node.binding, node.label, node.key
        provider = binding.provider
        activate = self.activate_sync

        if binding.kind is Kind.CONTEXT:
            is_async = bool(context_factory_info(provider)[0])  # type: ignore[index]
            enter = None if is_async else self._context_enterer(node)

            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                if enter is None:
                    raise ResourceInitializationError(
                        f"{label} is an async resource factory; use `await container.aget(...)`."
                    )
                return enter(provider(*args, **kwargs), _o)

        elif node.is_async_factory:

            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                raise InjectionError(
                    f"{label} is provided by an async factory; use `await container.aget({label})`."
                )

        elif binding.kind is Kind.FACTORY:
            allow_none = binding.allow_none
            plain = _PlainResults()

            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                nonlocal allow_none
                value = provider(*args, **kwargs)
                if type(value) in plain:  # seen: not None, not awaitable, not a resource
                    return value
                if value is None:
                    if not allow_none:
                        if not may_return_none(provider):
                            raise _returned_none(label)
                        allow_none = True  # `-> T | None` said so: read once
                    return None
                if inspect.isawaitable(value):
                    if inspect.iscoroutine(value):
                        value.close()
                    raise InjectionError(
                        f"The factory for {label} is a plain function that returned an "
                        f"awaitable; declare it `async def` and resolve it with "
                        f"`await container.aget({label})`."
                    )
                if resource_spec(type(value)) is not None:
                    activate(value, key, _o, args)
                else:
                    plain.learn(value)
                return value

        else:
            spec = node.spec
            assert spec is not None
            fresh = self._activator(node) if spec.init_async is False else None

            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                inst = provider(*args, **kwargs)
                # the state machine's path for a fresh instance when it applies; in a
                # running loop a dependency's initialization may still be pending
                if fresh is not None and ((not args and not kwargs) or loop_running() is None):
                    return fresh(inst, _o)
                activate(inst, key, _o, args or tuple(kwargs.values()))
                return inst

        self.makers[key] = make
        return make

    def _context_enterer(self, node: Node) -> Callable[[Any, Scope], Any]:
        """The binding's ``enter(factory_result, owner)`` for a sync context factory (one
        for the sync and the async maker)."""
        enter = self.enterers.get(node.key)
        if enter is None:
            binding = node.binding
            enter = context_enterer(
                node.label,
                self.c.resource_monitor,
                binding.init_timeout,
                binding.dispose_timeout,
            )
            self.enterers[node.key] = enter
        return enter

    def _activated_sync(self, inst: Any, key: Any, owner: Scope) -> Any:
        self.activate_sync(inst, key, owner)
        return inst

    async def _activated_async(self, inst: Any, key: Any, owner: Scope) -> Any:
        await self.activate_async(inst, key, owner)
        return inst

    def _activator(self, node: Node, is_async: bool = False) -> Callable[[Any, Scope], Any]:
        """``act(instance, owner)``: activate a just-constructed instance of a resource
        class (the state machine's fresh-instance path). In async code it returns a
        coroutine to await when the activation could not finish right away."""
        act = self.activators.get((node.key, is_async))
        if act is None:
            spec, c = node.spec, self.c
            assert spec is not None
            binding = node.binding
            cls = binding.provider if binding.kind is Kind.CLASS else None
            if is_async:
                act = fresh_activator_async(
                    spec,
                    node.key,
                    resource_label(node.key),
                    c.resource_monitor,
                    c._default_init_timeout,
                    c._default_dispose_timeout,
                    self._activated_async,
                    cls,
                )
            else:
                act = fresh_activator_sync(
                    spec,
                    node.key,
                    resource_label(node.key),
                    c.resource_monitor,
                    c._default_dispose_timeout,
                    self._activated_sync,
                    cls,
                )
            self.activators[(node.key, is_async)] = act
        return act

    def _direct_activation(self, node: Node) -> bool:
        """Whether ``node`` is a resource class built as ``act(cls(...), owner)``: its
        ``initialize`` is sync and no dependency can be a resource whose initialization
        ``get()`` left scheduled in a running loop (that one must come first)."""
        spec = node.spec
        return (
            spec is not None
            and spec.init_async is False
            and node.binding.kind is Kind.CLASS
            and not any(dep.needs_async for dep in node.dependencies)
        )

    def _amaker(self, node: Node) -> Callable[..., Any]:
        """The async twin of :meth:`_maker`, for context and factory bindings (a resource
        class is built by :meth:`_aconstruct` with its activator)."""
        made = self.amakers.get(node.key)
        if made is not None:
            return made
        binding, label, key = node.binding, node.label, node.key
        provider = binding.provider
        activate = self.activate_async

        if binding.kind is Kind.CONTEXT:
            is_async = bool(context_factory_info(provider)[0])  # type: ignore[index]

            if is_async:
                c = self.c
                aenter = context_aenterer(
                    label,
                    c.resource_monitor,
                    # container defaults bound async calls
                    _or_default(binding.init_timeout, c._default_init_timeout),
                    _or_default(binding.dispose_timeout, c._default_dispose_timeout),
                )

                def make_async(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                    return aenter(provider(*args, **kwargs), _o)  # the coroutine to await

                make: Callable[..., Any] = make_async
            else:
                enter = self._context_enterer(node)

                async def make_sync(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                    return enter(provider(*args, **kwargs), _o)

                make = make_sync

        else:
            assert binding.kind is Kind.FACTORY
            allow_none = binding.allow_none
            plain = _PlainResults()

            async def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                nonlocal allow_none
                value = provider(*args, **kwargs)
                if type(value) in plain:  # as in _maker
                    return value
                if inspect.isawaitable(value):
                    value = await value
                if value is None:
                    if not allow_none:
                        if not may_return_none(provider):
                            raise _returned_none(label)
                        allow_none = True  # as in _maker
                    return None
                if resource_spec(type(value)) is not None:
                    await activate(value, key, _o)
                else:
                    plain.learn(value)
                return value

        self.amakers[key] = make
        return make

    # ------------------------------------------------------------------ expressions
    def _needs_maker(self, node: Node) -> bool:
        binding = node.binding
        return (
            node.spec is not None or binding.kind is Kind.CONTEXT or (binding.kind is Kind.FACTORY)
        )

    def _args(self, node: Node, unit: _Unit, owner: str, is_async: bool) -> str:
        positional: list[str] = []
        keywords: list[str] = []
        for param, dep in node.args:
            if isinstance(dep, Value):
                expr = unit.ref(dep.value, f"default_{param.name}")
            elif is_async:
                expr = self._aexpr(dep, unit, owner)
            else:
                expr = self._expr(dep, unit, owner)
            if param.keyword_only:
                keywords.append(f"{param.name}={expr}")
            else:
                positional.append(expr)
        return ", ".join(positional + keywords)

    def _construct(self, node: Node, unit: _Unit, owner: str) -> str:
        args = self._args(node, unit, owner, False)
        label = node.label
        if self._direct_activation(node):
            inst = f"{_provider_ref(node, unit)}({args})"
            return f"{unit.ref(self._activator(node), f'activate_{label}')}({inst}, {owner})"
        if self._needs_maker(node):
            sep = ", " if args else ""
            return f"{unit.ref(self._maker(node), f'make_{label}')}({owner}{sep}{args})"
        return f"{_provider_ref(node, unit)}({args})"

    def _aconstruct(self, node: Node, unit: _Unit, owner: str) -> str:
        """The async twin of :meth:`_construct` (an expression inside ``async def``)."""
        args = self._args(node, unit, owner, True)
        provider = _provider_ref(node, unit)
        label = node.label
        if node.spec is not None and node.binding.kind is Kind.CLASS:
            act = unit.ref(self._activator(node, True), f"activate_{label}")
            # inside a scoped graph the claim knows the task already
            me = ", claim.task" if unit.graph is not None else ""
            if node.spec.init_async is not False:  # a coroutine, always
                return f"(await {act}({provider}({args}), {owner}{me}))"
            # sync initialize: the instance, or a coroutine when it was not fresh
            tmp = unit.local(f"{_local_name(label)}_activated")
            unit.helpers(Coroutine=CoroutineType)
            return (
                f"({tmp} if type({tmp} := {act}({provider}({args}), {owner}{me})) "
                f"is not Coroutine else (await {tmp}))"
            )
        if self._needs_maker(node) or node.is_async_factory:
            sep = ", " if args else ""
            return f"(await {unit.ref(self._amaker(node), f'make_{label}')}({owner}{sep}{args}))"
        return f"{provider}({args})"

    def _expr(self, node: Node, unit: _Unit, owner: str) -> str:
        binding = node.binding
        if binding.kind is Kind.INSTANCE:
            if node.spec is None:
                return unit.ref(binding.provider, f"{node.label}_instance")
            inst, key, activate = binding.provider, node.key, self.activate_sync

            def activate_instance(_o: Scope) -> Any:
                activate(inst, key, _o)
                return inst

            return f"{unit.ref(activate_instance, f'activate_{node.label}')}({owner})"
        scope = binding.scope
        if scope == SINGLETON:
            ready = self.c._ready_get(node.key, _MISS)
            if ready is not _MISS:
                return unit.ref(ready, f"{node.label}_singleton")
            unit.complete = False
            return f"{unit.ref(self.singleton_resolver(node), f'singleton_{node.label}')}()"
        if scope == TRANSIENT:
            return self._construct(node, unit, owner)
        if unit.graph is not None and scope == unit.graph.home:
            return unit.graph.scoped(node)  # same scope: built inline, in one function
        return f"{unit.ref(self._other_scope(node, unit, False), f'resolve_{node.label}')}()"

    def _aexpr(self, node: Node, unit: _Unit, owner: str) -> str:
        if not node.needs_async:
            return self._expr(node, unit, owner)
        binding = node.binding
        if binding.kind is Kind.INSTANCE:
            inst, key, activate = binding.provider, node.key, self.activate_async

            async def activate_instance(_o: Scope) -> Any:
                await activate(inst, key, _o)
                return inst

            return f"(await {unit.ref(activate_instance, f'activate_{node.label}')}({owner}))"
        scope = binding.scope
        if scope == SINGLETON:
            ready = self.c._ready_get(node.key, _MISS)
            if ready is not _MISS:
                return unit.ref(ready, f"{node.label}_singleton")
            unit.complete = False
            return (
                f"(await {unit.ref(self.asingleton_resolver(node), f'singleton_{node.label}')}())"
            )
        if scope == TRANSIENT:
            return self._aconstruct(node, unit, owner)
        if unit.graph is not None and scope == unit.graph.home:
            return unit.graph.scoped(node)
        resolve = unit.ref(self._other_scope(node, unit, True), f"aresolve_{node.label}")
        return f"(await {resolve}())"

    # ------------------------------------------------------------------ build functions
    def abuild(self, node: Node) -> Callable[[Scope], Any]:
        fn = self.abuilds.get(node.key)
        if fn is not None:
            return fn
        unit = _Unit()
        expr = self._aconstruct(node, unit, "scope")
        name = f"abuild_{identifier(node.label)}"
        source = f"async def {name}(scope):\n    return {expr}\n"
        fn = unit.build(source, name, "async build", node.label)
        if unit.complete:
            self.abuilds[node.key] = fn
        return fn  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ one-off building
    def construct_now(self, node: Node, owner: Scope) -> Any:
        """Build ``node`` by walking its plan: for the transients a singleton needs,
        where generating code would cost more than it saves."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, dep in node.args:
            value = dep.value if isinstance(dep, Value) else self.resolve_now(dep, owner)
            if param.keyword_only:
                kwargs[param.name] = value
            else:
                args.append(value)
        if self._needs_maker(node):
            return self._maker(node)(owner, *args, **kwargs)
        return node.binding.provider(*args, **kwargs)

    def resolve_now(self, node: Node, owner: Scope) -> Any:
        binding = node.binding
        if binding.kind is INSTANCE:
            if node.spec is not None:
                self.activate_sync(binding.provider, node.key, owner)
            return binding.provider
        if binding.scope == SINGLETON:
            return self.singleton_now(node.key, binding)
        if binding.scope == TRANSIENT:
            return self.construct_now(node, owner)
        return self.scoped_resolver(node, False)[0]()

    # ------------------------------------------------------------------ singletons
    # A singleton is built once per container, so it is planned and built in one walk:
    # each parameter's key is chosen and its value resolved on the spot, and nothing
    # (no Node, no resolver) is kept; once built, ``get`` finds it in the ready dict.
    # ``visiting`` holds the keys this walk is building, in order: a cycle is found
    # there before a key is claimed twice, and names the whole path. Anything but a
    # singleton is planned as usual, continuing the same path.
    #
    # Creation is claimed per key, and no lock is held while user code runs: the key is
    # claimed in ``_inflight`` with ``dict.setdefault`` (atomic) and this thread's id;
    # a second caller upgrades the claim to a slot it can wait on (_slot_for_claim).
    # The value is published before the claim goes.
    def singleton_now(
        self, key: Any, binding: Binding, visiting: dict[Any, int] | None = None
    ) -> Any:
        """The singleton of ``key`` (bound to a class or a factory), built now if need be.

        Claim, build and publication are one function: this is every singleton's first
        ``get``, and a frame less on it is a cost less per binding. A signature of plain
        classes (simple_hints) needs no Param per parameter: each class feeds its
        parameter by type (see feeder), and when all are built already, their values are
        all it takes."""
        c = self.c
        inflight = c._inflight
        me = get_ident()
        while (claimed := inflight.setdefault(key, me)) is not me:
            value = self._join_singleton(key, claimed, me)
            if value is not _MISS:
                return value
            # the creator failed, or parked the instance as pending: look again
        try:
            ready_get = c._ready_get  # one atomic look-up: close() may drop keys meanwhile
            value = ready_get(key, _MISS)  # built before we claimed it
            if value is _MISS and c._pending_singletons:
                value = c._pending_singletons.get(key, _MISS)
            if value is _MISS:
                provider = binding.provider
                hints = simple_hints(provider)
                if hints is None:
                    args, kwargs = self._arguments_now(key, provider, visiting)
                else:
                    args, kwargs = [], _NO_KWARGS
                    for hint in hints:
                        value = ready_get(hint, _MISS)
                        if value is _MISS:  # some dependency is not built yet: walk
                            args, kwargs = self._walk_hints(key, provider, hints, visiting)
                            break
                        args.append(value)
                if binding.kind is CLASS and not is_resource_class(provider):
                    # `**kwargs` costs even when empty
                    value = provider(*args) if kwargs is _NO_KWARGS else provider(*args, **kwargs)
                    if type(value) is provider:
                        # a plain instance, never activated: nothing keeps it from being ready
                        if c._pending_singletons:
                            c._pending_singletons.pop(key, None)
                        c._ready[key] = value
                        published = True
                    else:
                        published = c._publish_singleton(key, value)  # what did __new__ hand out?
                else:
                    value = self._maker(self._node_for_maker(key, binding))(
                        c._root, *args, **kwargs
                    )
                    published = c._publish_singleton(key, value)
                if published:
                    # a waiter coming now finds the value in the ready dict: no lock needed
                    claimed = inflight.pop(key, None)
                    if type(claimed) is CreationSlot:
                        claimed.set_result(value)
                    return value
                # parked as pending (see _publish_singleton): released as any other value
        except BaseException as exc:
            release_claim(inflight, key, None, exc)
            raise
        release_claim(inflight, key, value, None)
        return value

    def _join_singleton(self, key: Any, claimed: Any, me: int) -> Any:
        """Wait for the creation someone else claimed: its value, or _MISS when it is
        gone without one in the ready dict (failed before we waited, or parked)."""
        value, slot = _slot_for_claim(self.c._inflight, self.c._ready, key, claimed)
        if slot is None:
            return value
        if slot.thread != me:
            # two walks each holding a key the other needs are a cycle: report it
            # instead of waiting forever
            self.rule_out_cycle(key)
        return join_slot_sync(slot, describe_key(key))

    def _walk_hints(
        self, key: Any, provider: Any, hints: list[Any], visiting: dict[Any, int] | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of a simple signature some of whose classes are not built yet:
        bound ones are walked; anything else (an autowired class, a missing one) goes
        the general way, which decides and names the error."""
        if visiting is None:
            visiting = {}
        visiting[key] = len(visiting)  # on the path: a cycle back to it names it
        args: list[Any] = []
        ready_get = self.c._ready_get
        try:
            for hint in hints:
                value = ready_get(hint, _MISS)
                if value is _MISS:
                    if hint not in self.c._bindings:
                        break
                    value = self._dependency_now(hint, visiting)
                args.append(value)
            else:
                return args, _NO_KWARGS
        finally:
            del visiting[key]
        return self._arguments_now(key, provider, visiting)

    def _arguments_now(
        self, key: Any, provider: Any, visiting: dict[Any, int] | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The general way of :meth:`singleton_now`: any signature analyze reads."""
        if visiting is None:
            visiting = {}
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        ready_get = self.c._ready_get
        walking = False  # whether ``key`` is on the path: only once a dependency is walked
        try:
            for param in analyze(provider):
                dep, soft = self.feeder(param)
                if dep is EMPTY or (value := ready_get(dep, _MISS)) is _MISS:
                    if not walking:
                        visiting[key] = len(visiting)
                        walking = True
                    value = self._param_now(param, dep, soft, visiting)
                if param.keyword_only:
                    kwargs[param.name] = value
                else:
                    args.append(value)
        finally:
            if walking:
                del visiting[key]
        return args, kwargs

    def _param_now(self, param: Param, dep: Any, soft: bool, visiting: dict[Any, int]) -> Any:
        """The value of a parameter whose dependency is not built yet (see feeder)."""
        if dep is EMPTY:
            return self.unfed(param, [describe_key(k) for k in visiting])
        if not soft:
            return self._dependency_now(dep, visiting)
        try:
            return self._dependency_now(dep, visiting)
        except DependencyNotFoundError:
            return param.default if param.default is not EMPTY else None

    def _dependency_now(self, key: Any, visiting: dict[Any, int]) -> Any:
        binding = self.c._bindings.get(key)
        if (
            binding is not None
            and binding.scope == SINGLETON
            and binding.kind is not INSTANCE
            and key not in visiting
        ):
            return self.singleton_now(key, binding, visiting)
        with self.lock:  # planned from here: cycles and missing keys name the whole path
            node = self._plan(key, [describe_key(k) for k in visiting], visiting)
        return self.resolve_now(node, self.c._root)

    def _node_for_maker(self, key: Any, binding: Binding) -> Node:
        """The little of a plan that :meth:`_maker` reads (no parameters)."""
        node = Node(key, binding)
        if binding.kind is Kind.CLASS:
            node.spec = resource_spec(binding.provider)
        elif binding.kind is Kind.FACTORY:
            node.is_async_factory = inspect.iscoroutinefunction(
                getattr(binding.provider, "func", binding.provider)
            )
        return node

    def rule_out_cycle(self, key: Any) -> None:
        """Raise ``CircularDependencyError`` if the plan of ``key`` has a cycle.

        Called before a walk waits for a singleton another thread is creating: two
        walks each holding a claim the other needs are a cycle, and would deadlock."""
        try:
            self.plan(key)
        except CircularDependencyError:
            raise
        except Exception:  # any other planning error is the creator's to report
            return

    def reset(self) -> None:
        """Forget every plan and generated function (the registry changed)."""
        if not self.nodes:  # everything compiled comes from a plan: nothing to forget
            return
        for cache in (
            self.nodes,
            self.abuilds,
            self.singleton_resolvers,
            self.asingleton_resolvers,
            self.scoped_resolvers,
            self.ascoped_resolvers,
            self.makers,
            self.amakers,
            self.activators,
            self.enterers,
        ):
            if cache:
                cache.clear()

    def singleton_resolver(self, node: Node) -> Callable[[], Any]:
        resolver = self.singleton_resolvers.get(node.key)
        if resolver is not None:
            return resolver
        key, c = node.key, self.c
        ready_get = c._ready_get
        if node.binding.kind is Kind.INSTANCE:
            inst = node.binding.provider

            def resolve_instance() -> Any:
                c._ready[key] = inst
                return inst

            resolver = resolve_instance
        else:
            binding, singleton_now = node.binding, self.singleton_now

            def resolve() -> Any:
                value = ready_get(key, _MISS)
                if value is not _MISS:
                    return value
                # built once per container: walking beats generating code
                return singleton_now(key, binding)

            resolver = resolve
        self.singleton_resolvers[key] = resolver
        return resolver

    def asingleton_resolver(self, node: Node) -> Callable[[], Any]:
        resolver = self.asingleton_resolvers.get(node.key)
        if resolver is not None:
            return resolver
        key, c = node.key, self.c
        ready_get = c._ready_get
        acreate = c._acreate_singleton
        abuild = self.abuild

        async def resolve() -> Any:
            value = ready_get(key, _MISS)
            if value is not _MISS:
                return value
            return await acreate(key, lambda owner: abuild(node)(owner))

        self.asingleton_resolvers[key] = resolve
        return resolve

    # ------------------------------------------------------------------ scoped graphs
    def construct_in_graph(self, node: Node, unit: _Unit, is_async: bool) -> str:
        """The expression that constructs (and activates) ``node`` itself inside a
        scoped graph; its same-scope dependencies become statements before it."""
        if not is_async:
            return self._construct(node, unit, "scope")
        return self._aconstruct(node, unit, "scope")

    def _other_scope(self, node: Node, unit: _Unit, is_async: bool) -> Callable[[], Any]:
        """The resolver of a scoped ``node`` that is not built inline (another scope)."""
        fn, complete = self.scoped_resolver(node, is_async)
        unit.complete = unit.complete and complete
        return fn

    def scoped_resolver(self, node: Node, is_async: bool) -> tuple[Callable[[], Any], bool]:
        """``get``/``aget`` of a scoped key: find the innermost scope of its name, return
        the cached instance, or build it and what it needs from that scope in one
        generated function. Returns (resolver, whether it may be kept)."""
        resolvers = self.ascoped_resolvers if is_async else self.scoped_resolvers
        fn = resolvers.get(node.key)
        if fn is not None:
            return fn, True
        graph = _ScopeGraph(self, node.binding.scope, is_async)
        result = graph.scoped(node)
        graph.namespace()
        graph.unit.helpers(
            KEY=node.key,
            SCOPE_NAME=node.binding.scope,
            get_scope=self.c._scope_var.get,
            raise_closed=_raise_closed,
            raise_scope_missing=functools.partial(
                _raise_scope_missing, node.label, node.binding.scope
            ),
        )
        found = "            return found\n"
        if is_async and node.spec is not None:
            # get() in this loop may have scheduled its initialization
            found = (
                "            if (state := pending_state(found)) is not None:\n"
                "                await state.initialize_async(None)\n"
                "            return found\n"
            )
        name = f"{'aresolve' if is_async else 'resolve'}_{identifier(node.label)}"
        source = (
            f"{'async def' if is_async else 'def'} {name}():\n"
            "    scope = get_scope()\n"
            "    while scope.name != SCOPE_NAME:\n"
            "        scope = scope.parent\n"
            "        if scope is None:\n"
            "            raise_scope_missing()\n"
            "    if scope.closed:\n"
            "        raise_closed(scope)\n"
            "    cache = scope.cache\n"
            "    if cache:  # a new scope's is empty: nothing to look up\n"
            "        found = cache.get(KEY, NO_VALUE)\n"
            "        if type(found) is not Claim:\n"
            f"{found}"
            f"{graph.claim_lines()}" + "\n".join(graph.lines) + f"\n    return {result}\n"
        )
        job = "async resolver" if is_async else "resolver"
        fn = graph.unit.build(source, name, job, node.label)
        if graph.unit.complete:
            resolvers[node.key] = fn
        return fn, graph.unit.complete

    # ------------------------------------------------------------------ roots
    def root_resolver(self, key: Any) -> tuple[Callable[[], Any], bool]:
        """The function ``get(key)`` calls on a miss, and whether it may be cached."""
        node = self.plan(key)
        lifetime = node.lifetime
        if node.binding.kind is Kind.INSTANCE and node.spec is not None:
            # a bound resource instance is activated by the innermost scope using it
            inst, activate = node.binding.provider, self.activate_sync
            var_get = self.c._scope_var.get

            def resolve_instance() -> Any:
                activate(inst, key, var_get())
                return inst

            return resolve_instance, True
        if lifetime == SINGLETON:
            if node.binding.kind is Kind.INSTANCE:
                return self.singleton_resolver(node), True
            # built once, then found in the ready dict: no resolver worth keeping
            return functools.partial(self.singleton_now, key, node.binding), False
        if lifetime != TRANSIENT:
            return self.scoped_resolver(node, False)
        unit = _Unit()
        expr = self._construct(node, unit, "scope")
        warn = ""
        if node.spec is not None or node.binding.kind is Kind.CONTEXT:
            key_ref = unit.ref(node.key, f"{node.label}_key")
            warn = f"    if scope is root_scope:\n        warn_root_transient({key_ref})\n"
        unit.helpers(
            get_scope=self.c._scope_var.get,
            raise_closed=_raise_closed,
            root_scope=self.c._root,
            warn_root_transient=self.warn_root_transient,
        )
        name = f"resolve_{identifier(node.label)}"
        if not _USES_SCOPE(expr):
            # plain objects only: no owner is needed, and no resource or scoped instance
            # could be handed out half-disposed from a closed scope (scoped resolvers
            # check for themselves), so skip the scope lookup
            source = f"def {name}():\n    return {expr}\n"
        else:
            source = (
                f"def {name}():\n"
                "    scope = get_scope()\n"
                "    if scope.closed:\n"
                "        raise_closed(scope)\n"
                f"{warn}"
                f"    return {expr}\n"
            )
        return unit.build(source, name, "resolver", node.label), unit.complete

    def aroot_resolver(self, key: Any) -> tuple[Callable[[], Any], bool]:
        node = self.plan(key)
        if not node.needs_async:
            sync, complete = self.root_resolver(key)

            async def resolve_sync() -> Any:
                value = sync()
                if node.spec is not None or node.binding.kind is Kind.FACTORY:
                    st = getattr(value, "_injectq_resource_state", None)
                    if st is not None and st.status != LIVE:
                        await st.initialize_async(None)
                return value

            return resolve_sync, complete
        lifetime = node.lifetime
        if lifetime == SINGLETON:
            if node.binding.kind is Kind.INSTANCE:
                inst, activate = node.binding.provider, self.activate_async
                var_get = self.c._scope_var.get

                async def resolve_instance() -> Any:
                    await activate(inst, key, var_get())
                    return inst

                return resolve_instance, True
            return self.asingleton_resolver(node), True
        if lifetime != TRANSIENT:
            return self.scoped_resolver(node, True)
        unit = _Unit()
        expr = self._aexpr(node, unit, "scope")
        unit.helpers(
            get_scope=self.c._scope_var.get,
            raise_closed=_raise_closed,
            root_scope=self.c._root,
            warn_root_transient=self.warn_root_transient,
        )
        warn = ""
        if node.spec is not None or node.binding.kind is Kind.CONTEXT:
            key_ref = unit.ref(node.key, f"{node.label}_key")
            warn = f"    if scope is root_scope:\n        warn_root_transient({key_ref})\n"
        name = f"aresolve_{identifier(node.label)}"
        source = (
            f"async def {name}():\n"
            "    scope = get_scope()\n"
            "    if scope.closed:\n"
            "        raise_closed(scope)\n"
            f"{warn}"
            f"    return {expr}\n"
        )
        return unit.build(source, name, "async resolver", node.label), unit.complete

    def warn_root_transient(self, key: Any) -> None:
        if key in self._warned_root_transients:
            return
        self._warned_root_transients.add(key)
        _log.warning(
            "Transient resource %s was resolved outside any resource scope: the container "
            "owns it until close(). Resolve it inside `with container.resource_scope():` "
            "so it is disposed when the work is done.",
            describe_key(key),
        )

    # ------------------------------------------------------------------ calling functions
    def caller(self, fn: Callable[..., Any], is_async: bool) -> tuple[Callable[[], Any], bool]:
        """A zero-argument function calling ``fn`` with every parameter injected."""
        params = analyze(fn)
        node = Node(fn, _pseudo_binding(fn), getattr(fn, "__qualname__", repr(fn)))
        with self.lock:
            path = [node.label]
            for param in params:
                node.args.append((param, self._plan_param(node, param, path, {})))
        unit = _Unit()
        fn_ref = unit.ref(fn, getattr(fn, "__name__", "function"))
        needs_async = any(dep.needs_async for dep in node.dependencies)
        unit.helpers(get_scope=self.c._scope_var.get)
        name = f"call_{identifier(node.label)}"
        if is_async and needs_async:
            args = self._args(node, unit, "scope", True)
            source = (
                f"async def {name}():\n    scope = get_scope()\n    return await {fn_ref}({args})\n"
            )
        else:
            args = self._args(node, unit, "scope", False)
            source = f"def {name}():\n    scope = get_scope()\n    return {fn_ref}({args})\n"
        return unit.build(source, name, "caller", node.label), unit.complete


def _pseudo_binding(fn: Callable[..., Any]) -> Binding:
    return Binding(fn, fn, Kind.FACTORY, TRANSIENT)


# ---------------------------------------------------------------------- creation slots
# One in-flight creation per key (a singleton in the container, a scoped key in its
# scope): the first caller builds, everyone else joins its future. The slot records who
# builds it (thread, and task for async builds), so a caller that would wait for itself
# gets an error instead of a deadlock.


class CreationSlot:
    """Marks a key being created, so concurrent callers wait for that one creation.

    Much cheaper than a ``concurrent.futures.Future`` on the uncontended path (no
    Condition, no lock): the Event or asyncio futures exist only once someone waits.
    """

    __slots__ = ("done", "error", "event", "task", "thread", "value", "waiters")

    def __init__(self, thread: int, task: object) -> None:
        self.thread = thread
        self.task = task
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.event: threading.Event | None = None
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] | None = None

    def _finish(self, value: Any, error: BaseException | None) -> None:
        with _slot_guard:
            self.value, self.error, self.done = value, error, True
            event, waiters = self.event, self.waiters
        if event is not None:
            event.set()
        if waiters:
            for loop, future in waiters:
                loop.call_soon_threadsafe(_settle, future, value, error)

    def set_result(self, value: Any) -> None:
        self._finish(value, None)

    def set_exception(self, error: BaseException) -> None:
        self._finish(None, error)

    def result(self) -> Any:
        event: threading.Event | None = None
        with _slot_guard:
            if not self.done:
                if self.event is None:
                    self.event = threading.Event()
                event = self.event
        if event is not None:
            event.wait()
        if self.error is not None:
            raise self.error
        return self.value

    async def aresult(self) -> Any:
        import asyncio

        future: asyncio.Future[Any] | None = None
        with _slot_guard:
            if not self.done:
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                if self.waiters is None:
                    self.waiters = []
                self.waiters.append((loop, future))
        if future is not None:
            return await future
        if self.error is not None:
            raise self.error
        return self.value


_slot_guard = threading.Lock()


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


# ---------------------------------------------------------------------- singleton claims
# A singleton being created is claimed in the container's ``_inflight`` with the
# creating thread's id (or, in async code, a (task, thread id) pair); a second caller
# upgrades the claim to a CreationSlot it can wait on.


def _slot_for_claim(
    inflight: dict[Any, Any], cache: dict[Any, Any], key: Any, claimed: Any
) -> tuple[Any, CreationSlot | None]:
    """(the value if it is ready, else the slot to wait on); a creator's bare thread id
    is upgraded to a slot under the guard, so the creator wakes us when done."""
    if isinstance(claimed, CreationSlot):
        return _MISS, claimed
    with _slot_guard:
        value = cache.get(key, _MISS)
        if value is not _MISS:
            return value, None
        current = inflight.get(key)
        if current is None or isinstance(current, CreationSlot):
            return _MISS, current
        if isinstance(current, tuple):  # an async creator: (task, thread id)
            slot = inflight[key] = CreationSlot(current[1], current[0])
        else:  # a sync creator's thread id
            slot = inflight[key] = CreationSlot(current, None)
        # the creator may have finished (cache set, claim popped without the guard)
        # between our look at the cache and posting the slot: look again
        value = cache.get(key, _MISS)
        if value is not _MISS:
            if inflight.get(key) is slot:
                del inflight[key]
            return value, None
        return _MISS, slot


def release_claim(
    inflight: dict[Any, Any], key: Any, value: Any, error: BaseException | None
) -> None:
    """The creator is done: free the claim and wake whoever waits on it."""
    with _slot_guard:
        claimed = inflight.pop(key, None)
    if isinstance(claimed, CreationSlot):
        if error is None:
            claimed.set_result(value)
        else:
            fail_slot(claimed, error, key)


# ---------------------------------------------------------------------- scoped claims
# A scoped key being created holds a Claim in the scope's cache in place of its value:
# one setdefault both looks the key up and claims it, so the uncontended path takes no
# lock. A second caller posts a CreationSlot in ``scope.waiting`` under the guard and
# looks at the cache again; the creator stores the value, then looks for waiters. Each
# side writes before it reads, so at least one of them sees the other.


class Claim:
    """Who is creating a scoped key: the thread, and the task for async creation (so a
    creation that would wait for itself is told apart from one to wait for)."""

    __slots__ = ("task", "thread")

    def __init__(self, thread: int, task: object) -> None:
        self.thread = thread
        self.task = task

    def __repr__(self) -> str:
        return f"<Claim thread={self.thread} task={self.task!r}>"


#: What a lookup of a missing key returns: a Claim, so one type test covers "missing"
#: and "being created".
NO_VALUE = Claim(-1, None)
_thread_claims = threading.local()


def thread_claim() -> Claim:
    """This thread's claim for sync creations (made once per thread)."""
    claim = _thread_claims.claim = Claim(threading.get_ident(), None)
    return claim


def _post_waiter(scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim) -> Any:
    """A slot to wait on while ``claim`` holds ``key``, or what the cache holds now."""
    with _slot_guard:
        current = cache.get(key, NO_VALUE)
        if current is not claim:
            return current
        waiting = scope.waiting
        if waiting is None:
            waiting = scope.waiting = {}
        slot = waiting.get(key)
        if slot is None:
            slot = waiting[key] = CreationSlot(claim.thread, claim.task)
        return slot


def _claim_gone(label: str) -> InjectionError:
    return InjectionError(f"the creation of {label} failed in another thread or task; try again")


def join_claim_sync(scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, label: str) -> Any:
    """Wait for the creation of ``key`` that ``claim`` holds, and return its value."""
    while True:
        _refuse_own_creation(claim.thread, claim.task, label)
        found = _post_waiter(scope, cache, key, claim)
        if type(found) is CreationSlot:
            return found.result()
        if found is NO_VALUE:
            raise _claim_gone(label)
        if type(found) is not Claim:
            return found
        claim = found  # claimed again by someone else meanwhile


async def join_claim_async(
    scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, label: str
) -> Any:
    while True:
        if claim.thread == threading.get_ident() and (
            claim.task is None or claim.task is current_task()
        ):
            raise CircularDependencyError([label, label])
        found = _post_waiter(scope, cache, key, claim)
        if type(found) is CreationSlot:
            return await found.aresult()
        if found is NO_VALUE:
            raise _claim_gone(label)
        if type(found) is not Claim:
            return found
        claim = found


def wake_waiters(scope: Scope, key: Any, value: Any) -> None:
    """The creator stored ``key``'s value: wake whoever waits for it."""
    with _slot_guard:
        slot = scope.waiting.pop(key, None) if scope.waiting else None
    if slot is not None:
        slot.set_result(value)


def abort_claim(
    scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, error: BaseException
) -> None:
    """The creation failed: free the key (the next access tries again) and hand the
    error to whoever waits."""
    with _slot_guard:
        if cache.get(key) is claim:
            del cache[key]
        slot = scope.waiting.pop(key, None) if scope.waiting else None
    if slot is not None:
        fail_slot(slot, error, key)


def pending_state(value: Any) -> Any:
    """The resource state of ``value`` when its initialization is not done (``get()``
    in a running loop scheduled it), else None."""
    state = getattr(value, STATE_ATTR, None)  # never value.__dict__ (see lifecycle)
    if state is None or state.status == LIVE:
        return None
    return state


def _raise_scope_missing(label: str, scope_name: str) -> None:
    raise _scope_missing(label, scope_name)


def fail_slot(slot: CreationSlot, exc: BaseException, key: Any) -> None:
    if not isinstance(exc, Exception):
        exc = InjectQError(f"creation of {describe_key(key)} was interrupted")
    slot.set_exception(exc)


def _refuse_own_creation(thread: int, task: object, label: str) -> None:
    """A sync caller must not wait for a creation its own thread holds: a sync one is a
    cycle, an async one (a task of this thread's loop) could never finish meanwhile."""
    if thread == threading.get_ident():
        if task is None:
            raise CircularDependencyError([label, label])
        raise InjectionError(
            f"{label} is being created by `await container.aget({label})` in this thread's "
            f"event loop; a sync get here would block that loop. Use "
            f"`await container.aget({label})`."
        )


def join_slot_sync(slot: CreationSlot, label: str) -> Any:
    _refuse_own_creation(slot.thread, slot.task, label)
    return slot.result()


async def join_slot_async(slot: CreationSlot, label: str) -> Any:

    if slot.thread == threading.get_ident() and (slot.task is None or slot.task is current_task()):
        raise CircularDependencyError([label, label])
    return await slot.aresult()
