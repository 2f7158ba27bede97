"""Code generation: the source of every resolver, built with :mod:`injectq.core.codegen`.

:class:`Resolvers` turns a plan (:mod:`injectq.core.planning`) into one generated
Python function per key, so a transient graph ``A(B(C()), D())`` resolves with one call
and four constructor calls, exactly what a person would write. Singletons already built
are inlined as constants (a function using one not yet built is not kept, so publishing
a singleton makes none stale); a scoped key's resolver builds it together with all it
needs from its scope, one claimed key after another (see :class:`_ScopeGraph`).
Everything here is thrown away when the registry changes.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from injectq.core.activation import pending_state
from injectq.core.analysis import analyze
from injectq.core.bindings import SINGLETON, TRANSIENT, Kind
from injectq.core.claims import (
    MISS,
    NO_VALUE,
    Claim,
    abort_claim,
    join_claim_async,
    join_claim_sync,
    thread_claim,
    thread_claims,
    wake_waiters,
)
from injectq.core.codegen import FunctionBuilder, identifier
from injectq.core.planning import Node, Value, pseudo_binding
from injectq.lifecycle.machine import LIVE, current_task
from injectq.utils.exceptions import ScopeError, describe_key
from injectq.utils.internals import FAST_PATHS

if TYPE_CHECKING:
    from injectq.core.activation import Activation
    from injectq.core.host import ContainerHost
    from injectq.core.planning import Planner
    from injectq.core.scopes import Scope
    from injectq.core.singletons import SingletonBuilder

__all__ = ["Resolvers"]

_log = logging.getLogger("injectq")


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


@functools.lru_cache(maxsize=1024)  # labels only (strings): nothing is kept alive
def _local_name(label: str) -> str:
    """A local variable's name for a key: ``HttpClient`` -> ``http_client``."""
    return _WORD_START.sub("_", identifier(label)).lower()


_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class _ScopeGraph:
    """Writes the statements that build a scoped instance together with everything it
    needs from the same scope, as one function (see :meth:`Resolvers.scoped_resolver`).

    The scope's keys come one after another, dependencies first, each claimed with one
    ``setdefault`` of a :class:`Claim` on the scope's cache: when the claim is ours the
    key is built in place, a value found is used as is, another creator's claim is
    joined. Looking up a key whose dependent is cached already is cheap and builds
    nothing: a scoped instance is only ever cached after all it needs from its scope.
    """

    def __init__(self, resolvers: Resolvers, home: str, is_async: bool) -> None:
        self.resolvers = resolvers
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
        self.emit(f"        {var} = {self.resolvers.construct_in_graph(node, unit, self.is_async)}")
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
            thread_claims=thread_claims,
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


def _raise_closed(scope: Scope) -> None:
    raise _scope_closed(scope)


#: whether a generated expression uses the owner scope (``scope`` is a reserved name, so
#: no referenced object is called that)
_USES_SCOPE = re.compile(r"\bscope\b").search


def _provider_ref(node: Node, unit: _Unit) -> str:
    """The name of ``node``'s class or factory in generated source (its own name)."""
    provider = node.binding.provider
    return unit.ref(provider, getattr(provider, "__name__", None) or node.label)


def _raise_scope_missing(label: str, scope_name: str) -> None:
    raise _scope_missing(label, scope_name)


def _awaited(expr: str, is_async: bool) -> str:
    """``expr`` awaited when it is written into an ``async def``'s expression."""
    return f"(await {expr})" if is_async else expr


class Resolvers:
    """The generated functions of one container, valid for one registry version."""

    def __init__(
        self,
        host: ContainerHost,
        planner: Planner,
        activation: Activation,
        singletons: SingletonBuilder,
    ) -> None:
        self.host = host
        self.planner = planner
        self.activation = activation
        self.singletons = singletons
        self.abuilds: dict[Any, Callable[[Scope], Any]] = {}
        self.singleton_resolvers: dict[Any, Callable[[], Any]] = {}
        self.asingleton_resolvers: dict[Any, Callable[[], Any]] = {}
        self.scoped_resolvers: dict[Any, Callable[[], Any]] = {}
        self.ascoped_resolvers: dict[Any, Callable[[], Any]] = {}
        self._warned_root_transients: set[Any] = set()

    def reset(self) -> None:
        """Forget every generated function (the registry changed)."""
        for cache in (
            self.abuilds,
            self.singleton_resolvers,
            self.asingleton_resolvers,
            self.scoped_resolvers,
            self.ascoped_resolvers,
        ):
            if cache:
                cache.clear()

    def _args(self, node: Node, unit: _Unit, owner: str, is_async: bool) -> str:
        positional: list[str] = []
        keywords: list[str] = []
        for param, dep in node.args:
            if isinstance(dep, Value):
                expr = unit.ref(dep.value, f"default_{param.name}")
            else:
                expr = self._expr(dep, unit, owner, is_async)
            if param.keyword_only:
                keywords.append(f"{param.name}={expr}")
            else:
                positional.append(expr)
        return ", ".join(positional + keywords)

    def _construct(self, node: Node, unit: _Unit, owner: str) -> str:
        args = self._args(node, unit, owner, False)
        label = node.label
        if self.activation.direct_activation(node):
            inst = f"{_provider_ref(node, unit)}({args})"
            return (
                f"{unit.ref(self.activation.activator(node), f'activate_{label}')}({inst}, {owner})"
            )
        if self.activation.needs_maker(node):
            sep = ", " if args else ""
            return f"{unit.ref(self.activation.maker(node), f'make_{label}')}({owner}{sep}{args})"
        return f"{_provider_ref(node, unit)}({args})"

    def _aconstruct(self, node: Node, unit: _Unit, owner: str) -> str:
        """The async twin of :meth:`_construct` (an expression inside ``async def``)."""
        args = self._args(node, unit, owner, True)
        provider = _provider_ref(node, unit)
        label = node.label
        if node.spec is not None and node.binding.kind is Kind.CLASS:
            act = unit.ref(self.activation.activator(node, True), f"activate_{label}")
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
        if self.activation.needs_maker(node) or node.is_async_factory:
            sep = ", " if args else ""
            return f"(await {unit.ref(self.activation.amaker(node), f'make_{label}')}({owner}{sep}{args}))"
        return f"{provider}({args})"

    def _expr(self, node: Node, unit: _Unit, owner: str, is_async: bool) -> str:
        """The expression that resolves ``node`` (a dependency) in generated source; in an
        ``async def`` (``is_async``) it awaits what needs awaiting, and a node that needs
        nothing async gets the sync expression there too."""
        if is_async and not node.needs_async:
            is_async = False
        binding = node.binding
        label = node.label
        if binding.kind is Kind.INSTANCE:
            if node.spec is None:
                return unit.ref(binding.provider, f"{label}_instance")
            activate = self._instance_activator(node, is_async)
            return _awaited(f"{unit.ref(activate, f'activate_{label}')}({owner})", is_async)
        scope = binding.scope
        if scope == SINGLETON:
            ready = self.host.ready_get(node.key, MISS)
            if ready is not MISS:
                return unit.ref(ready, f"{label}_singleton")
            unit.complete = False
            resolver = self.singleton_resolver(node, is_async)
            return _awaited(f"{unit.ref(resolver, f'singleton_{label}')}()", is_async)
        if scope == TRANSIENT:
            if is_async:
                return self._aconstruct(node, unit, owner)
            return self._construct(node, unit, owner)
        if unit.graph is not None and scope == unit.graph.home:
            return unit.graph.scoped(node)  # same scope: built inline, in one function
        name = f"{'aresolve' if is_async else 'resolve'}_{label}"
        resolve = unit.ref(self._other_scope(node, unit, is_async), name)
        return _awaited(f"{resolve}()", is_async)

    def _instance_activator(self, node: Node, is_async: bool) -> Callable[[Scope], Any]:
        """``activate(owner)`` of a bound resource instance: activates it for ``owner``
        and returns it (a coroutine function in async code: the state machine's two
        entry points differ in colour, so the closure is written once for each)."""
        inst, key = node.binding.provider, node.key
        if is_async:
            aactivate = self.activation.activate_async

            async def aactivate_instance(_o: Scope) -> Any:
                await aactivate(inst, key, _o)
                return inst

            return aactivate_instance
        activate = self.activation.activate_sync

        def activate_instance(_o: Scope) -> Any:
            activate(inst, key, _o)
            return inst

        return activate_instance

    # ------------------------------------------------------------------ build functions
    def abuild(self, node: Node) -> Callable[[Scope], Any]:
        """The generated async function that constructs ``node`` in async code (awaited
        with the owning scope)."""
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

    def singleton_resolver(self, node: Node, is_async: bool) -> Callable[[], Any]:
        """The resolver of a singleton key (a coroutine function in async code): the
        ready value, else the walk (sync) or a creation with :meth:`abuild` (async)."""
        resolvers = self.asingleton_resolvers if is_async else self.singleton_resolvers
        resolver = resolvers.get(node.key)
        if resolver is None:
            build = self._async_singleton if is_async else self._sync_singleton
            resolver = resolvers[node.key] = build(node)
        return resolver

    def _sync_singleton(self, node: Node) -> Callable[[], Any]:
        key, host = node.key, self.host
        ready_get = host.ready_get
        if node.binding.kind is Kind.INSTANCE:
            inst = node.binding.provider

            def resolve_instance() -> Any:
                host.ready[key] = inst
                return inst

            return resolve_instance
        binding, singleton_now = node.binding, self.singletons.singleton_now

        def resolve() -> Any:
            value = ready_get(key, MISS)
            if value is not MISS:
                return value
            # built once per container: walking beats generating code
            return singleton_now(key, binding)

        return resolve

    def _async_singleton(self, node: Node) -> Callable[[], Any]:
        ready_get = self.host.ready_get
        key = node.key
        acreate = self.singletons.acreate
        abuild = self.abuild

        async def resolve() -> Any:
            value = ready_get(key, MISS)
            if value is not MISS:
                return value
            # the lambda defers generating the build function until a creation runs
            return await acreate(key, lambda owner: abuild(node)(owner))  # noqa: PLW0108

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
            get_scope=self.host.scope_var.get,
            raise_closed=_raise_closed,
            raise_scope_missing=functools.partial(
                _raise_scope_missing, node.label, node.binding.scope
            ),
        )
        found = ["found = cache.get(KEY, NO_VALUE)", "if type(found) is not Claim:"]
        if is_async and node.spec is not None:
            # get() in this loop may have scheduled its initialization
            found += [
                "    if (state := pending_state(found)) is not None:",
                "        await state.initialize_async(None)",
            ]
        found.append("    return found")
        # with INJECTQ_FAST_PATHS=0 the cache is looked up always
        lookup, indent = ("    if cache:  # a new scope's is empty: nothing to look up\n", " " * 8)
        if not FAST_PATHS:
            lookup, indent = "", " " * 4
        lookup += "".join(f"{indent}{line}\n" for line in found)
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
            f"{lookup}"
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
        node = self.planner.plan(key)
        lifetime = node.lifetime
        if node.binding.kind is Kind.INSTANCE and node.spec is not None:
            # a bound resource instance is activated by the innermost scope using it
            inst, activate = node.binding.provider, self.activation.activate_sync
            var_get = self.host.scope_var.get

            def resolve_instance() -> Any:
                activate(inst, key, var_get())
                return inst

            return resolve_instance, True
        if lifetime == SINGLETON:
            if node.binding.kind is Kind.INSTANCE:
                return self.singleton_resolver(node, False), True
            # built once, then found in the ready dict: no resolver worth keeping
            return functools.partial(self.singletons.singleton_now, key, node.binding), False
        if lifetime != TRANSIENT:
            return self.scoped_resolver(node, False)
        unit = _Unit()
        expr = self._construct(node, unit, "scope")
        warn = ""
        if node.spec is not None or node.binding.kind is Kind.CONTEXT:
            key_ref = unit.ref(node.key, f"{node.label}_key")
            warn = f"    if scope is root_scope:\n        warn_root_transient({key_ref})\n"
        unit.helpers(
            get_scope=self.host.scope_var.get,
            raise_closed=_raise_closed,
            root_scope=self.host.root,
            warn_root_transient=self.warn_root_transient,
        )
        name = f"resolve_{identifier(node.label)}"
        if not _USES_SCOPE(expr):
            # plain objects only: no owner is needed, and no resource or scoped instance
            # could be handed out half-disposed from a closed scope (scoped resolvers
            # check for themselves), so skip the scope lookup (with INJECTQ_FAST_PATHS=0
            # it is looked up, and a closed scope still refused only where it is used)
            lookup = "" if FAST_PATHS else "    scope = get_scope()\n"
            source = f"def {name}():\n{lookup}    return {expr}\n"
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
        """The coroutine function ``aget(key)`` runs, and whether it may be cached."""
        node = self.planner.plan(key)
        if not node.needs_async:
            sync, complete = self.root_resolver(key)
            if FAST_PATHS and node.spec is None and node.binding.kind is not Kind.FACTORY:
                # nothing it makes carries a resource state to initialize (a context
                # factory's value comes back entered): the sync resolver's value as is
                # (with INJECTQ_FAST_PATHS=0 the state check below runs for every key)
                async def resolve_plain() -> Any:
                    return sync()

                return resolve_plain, complete

            async def resolve_sync() -> Any:
                value = sync()
                st = getattr(value, "_injectq_resource_state", None)
                if st is not None and st.status != LIVE:
                    await st.initialize_async(None)
                return value

            return resolve_sync, complete
        lifetime = node.lifetime
        if lifetime == SINGLETON:
            if node.binding.kind is Kind.INSTANCE:
                inst, activate = node.binding.provider, self.activation.activate_async
                var_get = self.host.scope_var.get

                async def resolve_instance() -> Any:
                    await activate(inst, key, var_get())
                    return inst

                return resolve_instance, True
            return self.singleton_resolver(node, True), True
        if lifetime != TRANSIENT:
            return self.scoped_resolver(node, True)
        unit = _Unit()
        expr = self._expr(node, unit, "scope", True)
        unit.helpers(
            get_scope=self.host.scope_var.get,
            raise_closed=_raise_closed,
            root_scope=self.host.root,
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
        """Warn once per key that a transient resource was resolved with no scope."""
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
        node = Node(fn, pseudo_binding(fn), getattr(fn, "__qualname__", repr(fn)))
        with self.planner.lock:
            path = [node.label]
            for param in params:
                node.args.append((param, self.planner.plan_param(node, param, path, {})))
        unit = _Unit()
        fn_ref = unit.ref(fn, getattr(fn, "__name__", "function"))
        needs_async = any(dep.needs_async for dep in node.dependencies)
        unit.helpers(get_scope=self.host.scope_var.get)
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
