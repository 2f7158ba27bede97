"""Construct and activate: what a plan's node does beyond calling its provider.

A resource class, a factory whose result may be a resource (or None, or an awaitable by
mistake) and a context factory need more than a constructor call: for each such binding
:class:`Activation` makes, once, a *make* function (construct, check, activate) or, for
a resource class, the state machine's per-binding *activator*
(:func:`injectq.lifecycle.machine.fresh_activator_sync`). Generated resolvers call
them; the singleton walk calls them. The state machine itself is
:mod:`injectq.lifecycle.machine`: this module only chooses which of its entry points
a binding uses.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from injectq.core.analysis import may_return_none
from injectq.core.bindings import Kind, context_factory_info
from injectq.lifecycle.entries import context_aenterer, context_enterer
from injectq.lifecycle.fresh import fresh_activator_async, fresh_activator_sync
from injectq.lifecycle.machine import (
    CREATED,
    INITIALIZING,
    LIVE,
    STATE_ATTR,
    ResourceState,
    loop_running,
    resource_label,
    resource_spec,
    state_of,
)
from injectq.utils.exceptions import (
    InjectionError,
    ResourceInitializationError,
    ScopeError,
)
from injectq.utils.internals import FAST_PATHS

if TYPE_CHECKING:
    from injectq.core.host import ContainerHost
    from injectq.core.planning import Node
    from injectq.core.scopes import Scope

__all__ = ["Activation", "pending_state"]


class _PlainResults(set[type]):
    """The result types a factory binding returned that need nothing done: not None, not
    awaitable, not a resource. Those are told by the type alone, so a factory's later
    results of a type seen here skip the checks (``inspect.isawaitable`` is an ABC
    instance check, ~0.15 µs a call). A generator is never recorded: whether it is
    awaitable depends on the function that made it, not on its type. With
    ``INJECTQ_FAST_PATHS=0`` nothing is learned: every result takes every check."""

    __slots__ = ()

    # chosen once: an async factory's make calls learn on every result (the type it
    # checks first is the awaitable's), so a test of FAST_PATHS here would be paid there
    if FAST_PATHS:

        def learn(self, value: Any) -> None:
            cls = type(value)
            if cls is not GeneratorType and not inspect.isawaitable(value):
                self.add(cls)

    else:

        def learn(self, value: Any) -> None:
            pass


def _or_default(value: float | None, default: float | None) -> float | None:
    return value if value is not None else default


def _none_allowed(provider: Any, label: str) -> bool:
    """True when a factory bound without allow_none=True may return None after all (its
    return type says ``-> T | None``: read once, on its first None); else it raises."""
    if not may_return_none(provider):
        raise InjectionError(
            f"The factory for {label} returned None; bind with allow_none=True "
            "(or annotate its return type `-> T | None`) if None is a valid value."
        )
    return True


def pending_state(value: Any) -> Any:
    """The resource state of ``value`` when its initialization is not done (``get()``
    in a running loop scheduled it), else None."""
    state = getattr(value, STATE_ATTR, None)  # never value.__dict__ (see lifecycle)
    if state is None or state.status == LIVE:
        return None
    return state


class Activation:
    """The make functions and activators of one container's bindings, made once per
    binding and registry version."""

    def __init__(self, host: ContainerHost) -> None:
        self.host = host
        self.makers: dict[Any, Callable[..., Any]] = {}
        self.amakers: dict[Any, Callable[..., Any]] = {}
        self.activators: dict[Any, Callable[[Any, Scope], Any]] = {}
        self.enterers: dict[Any, Callable[[Any, Scope], Any]] = {}

    def reset(self) -> None:
        """Forget every make function and activator (the registry changed)."""
        for cache in (self.makers, self.amakers, self.activators, self.enterers):
            if cache:
                cache.clear()

    def _state(self, inst: Any, key: Any, constructed: bool) -> ResourceState:
        """The state of ``inst`` for the general path. Metrics count under the class bound
        to ``key`` (a ``__new__`` may hand back a subclass), as on the fast path; and an
        instance the container has just constructed is detached from its state once
        disposed, as a fresh one is (no instance <-> state cycle left behind)."""
        binding = self.host.bindings.get(key)
        spec = (
            resource_spec(binding.provider)
            if binding is not None and binding.kind is Kind.CLASS
            else None
        )
        st = state_of(inst, key, spec)
        if constructed and st.status == CREATED and st.holder is None:
            st.detaches = True
            st.fresh = FAST_PATHS  # the lock-free claim (see ResourceState.fresh)
        return st

    def activate_sync(
        self,
        inst: Any,
        key: Any,
        owner: Scope,
        deps: tuple[Any, ...] = (),
        constructed: bool = False,
    ) -> None:
        """Activate the resource ``inst`` bound to ``key`` for ``owner`` (sync code): join it
        when live, schedule it after pending ``deps`` in a running loop, else initialize.
        ``constructed``: the container has just made ``inst``."""
        st = self._state(inst, key, constructed)
        st.bind_owner(owner, key)
        st.check_owner(owner)
        if st.status == LIVE:
            st.initialize_sync(owner)  # held (or disowned, if the owner has closed)
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

    async def activate_async(
        self, inst: Any, key: Any, owner: Scope, constructed: bool = False
    ) -> None:
        """Activate the resource ``inst`` bound to ``key`` for ``owner``, awaiting it."""
        st = self._state(inst, key, constructed)
        st.bind_owner(owner, key)
        st.check_owner(owner)
        await st.initialize_async(owner)

    def maker(self, node: Node) -> Callable[..., Any]:
        """Construct-and-activate for a node that is more than a constructor call."""
        made = self.makers.get(node.key)
        if made is None:
            made = self.makers[node.key] = self._sync_make(node)
        return made

    def amaker(self, node: Node) -> Callable[..., Any]:
        """The async twin of :meth:`maker`, for context and factory bindings (a resource
        class is built by the resolvers with its activator)."""
        made = self.amakers.get(node.key)
        if made is None:
            made = self.amakers[node.key] = self._async_make(node)
        return made

    def _sync_make(self, node: Node) -> Callable[..., Any]:
        """``make(owner, *args, **kwargs)``: call the provider, then enter, check or
        activate what it returned, for sync code."""
        binding, label, key = node.binding, node.label, node.key
        provider = binding.provider
        activate = self.activate_sync  # a local of the closures: no attribute look-up
        if binding.kind is Kind.CONTEXT:
            is_async = bool(context_factory_info(provider)[0])  # type: ignore[index]
            enter = None if is_async else self.context_enterer(node)

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

            # Written twice: the async twin is _async_make's factory `make`, the same
            # checks with awaits. A `def` and an `async def` cannot share a body, and
            # this runs on every resolution of the binding; keep the two in step.
            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                nonlocal allow_none
                value = provider(*args, **kwargs)
                if type(value) in plain:  # seen: not None, not awaitable, not a resource
                    return value
                if value is None:
                    if not allow_none:
                        allow_none = _none_allowed(provider, label)
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
            fresh = self.activator(node) if spec.init_async is False else None

            def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                inst = provider(*args, **kwargs)
                # the state machine's path for a fresh instance when it applies; in a
                # running loop a dependency's initialization may still be pending
                if fresh is not None and ((not args and not kwargs) or loop_running() is None):
                    return fresh(inst, _o)
                activate(inst, key, _o, args or tuple(kwargs.values()))
                return inst

        return make

    def context_enterer(self, node: Node) -> Callable[[Any, Scope], Any]:
        """The binding's ``enter(factory_result, owner)`` for a sync context factory (one
        for the sync and the async maker)."""
        enter = self.enterers.get(node.key)
        if enter is None:
            binding = node.binding
            enter = context_enterer(
                node.label,
                self.host.monitor,
                binding.init_timeout,
                binding.dispose_timeout,
            )
            self.enterers[node.key] = enter
        return enter

    def _activated_sync(self, inst: Any, key: Any, owner: Scope) -> Any:
        self.activate_sync(inst, key, owner, constructed=True)
        return inst

    async def _activated_async(self, inst: Any, key: Any, owner: Scope) -> Any:
        await self.activate_async(inst, key, owner, constructed=True)
        return inst

    def activator(self, node: Node, is_async: bool = False) -> Callable[[Any, Scope], Any]:
        """``act(instance, owner)``: activate a just-constructed instance of a resource
        class (the state machine's fresh-instance path). In async code it returns a
        coroutine to await when the activation could not finish right away."""
        act = self.activators.get((node.key, is_async))
        if act is None:
            spec, host = node.spec, self.host
            assert spec is not None
            binding = node.binding
            cls = binding.provider if binding.kind is Kind.CLASS else None
            if is_async:
                act = fresh_activator_async(
                    spec,
                    node.key,
                    resource_label(node.key),
                    host.monitor,
                    host.default_init_timeout,
                    host.default_dispose_timeout,
                    self._activated_async,
                    cls,
                )
            else:
                act = fresh_activator_sync(
                    spec,
                    node.key,
                    resource_label(node.key),
                    host.monitor,
                    host.default_dispose_timeout,
                    self._activated_sync,
                    cls,
                )
            self.activators[(node.key, is_async)] = act
        return act

    def direct_activation(self, node: Node) -> bool:
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

    def _async_make(self, node: Node) -> Callable[..., Any]:
        """The async twin of :meth:`_sync_make`: ``make`` returns what to await."""
        binding, label, key = node.binding, node.label, node.key
        provider = binding.provider
        if binding.kind is Kind.CONTEXT:
            is_async = bool(context_factory_info(provider)[0])  # type: ignore[index]

            if is_async:
                host = self.host
                aenter = context_aenterer(
                    label,
                    host.monitor,
                    # container defaults bound async calls
                    _or_default(binding.init_timeout, host.default_init_timeout),
                    _or_default(binding.dispose_timeout, host.default_dispose_timeout),
                )

                def make_async(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                    return aenter(provider(*args, **kwargs), _o)  # the coroutine to await

                make: Callable[..., Any] = make_async
            else:
                enter = self.context_enterer(node)

                async def make_sync(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                    return enter(provider(*args, **kwargs), _o)

                make = make_sync

        else:
            assert binding.kind is Kind.FACTORY
            activate = self.activate_async
            allow_none = binding.allow_none
            plain = _PlainResults()

            # the async twin of _sync_make's factory `make` (see there)
            async def make(_o: Scope, *args: Any, **kwargs: Any) -> Any:
                nonlocal allow_none
                value = provider(*args, **kwargs)
                if type(value) in plain:
                    return value
                if inspect.isawaitable(value):
                    value = await value
                if value is None:
                    if not allow_none:
                        allow_none = _none_allowed(provider, label)
                    return None
                if resource_spec(type(value)) is not None:
                    await activate(value, key, _o)
                else:
                    plain.learn(value)
                return value

        return make

    def needs_maker(self, node: Node) -> bool:
        """Whether building ``node`` takes a make function, not just its provider."""
        binding = node.binding
        return (
            node.spec is not None or binding.kind is Kind.CONTEXT or (binding.kind is Kind.FACTORY)
        )
