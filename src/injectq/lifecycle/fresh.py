"""Fresh activations: the hot path of every scoped and transient resource class.

An instance the container has just constructed takes the same transitions as every
other activation (:mod:`injectq.lifecycle.machine`); what is specialised here is which
steps run (see the section comment below).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from injectq.lifecycle.attachment import del_attribute as _del_attribute
from injectq.lifecycle.attachment import set_attribute as _set_attribute
from injectq.lifecycle.calls import (
    _get_ident,
    _me,
    _perf,
    _timed_await,
    _timed_call,
)
from injectq.lifecycle.disown import disown_async as _disown_async
from injectq.lifecycle.disown import disown_sync as _disown_sync
from injectq.lifecycle.machine import (
    INITIALIZING,
    Owner,
    ResourceSpec,
    ResourceState,
    _async_dispose_in_sync_scope,
    _returned_awaitable,
)
from injectq.lifecycle.monitor import ResourceMonitor
from injectq.lifecycle.specs import _STATE_ATTR
from injectq.utils.internals import FAST_PATHS, own_code

__all__ = ["fresh_activator_async", "fresh_activator_sync"]


def _init_returned(
    st: ResourceState, result: Awaitable[Any], owner: Owner, started: float, in_async: bool
) -> Any:
    """A fresh activation's sync-looking ``initialize`` returned an awaitable: it is async
    by what it returns (DESIGN §3a). Async resolution gets a coroutine that awaits it, in
    its task, and goes live through the general transitions. Sync resolution inside a
    running loop (``get()``, and ``aget`` of a graph planned as sync) finishes it as a
    task, as ``get()`` does any async initialization (DESIGN §3.2): the instance is
    handed out initializing, and ``aget``, ``initialize()`` or the scope's exit join it.
    With no loop it cannot be awaited: the activation fails, saying to use ``aget``."""
    st._created()  # not live in one step: created now, then live (or failed) as any state
    if in_async:
        return st._finish_init_async(result, owner, started)
    if not st._finish_as_task(result, owner, started):
        if inspect.iscoroutine(result):
            result.close()  # never to be awaited: no "never awaited" warning
        st._raise_failed(_returned_awaitable(st.label), started)
    return st.instance


# -------------------------------------------------------------------- fresh activations
# The hot path of every scoped and transient resource class: an instance the container
# has just constructed. It takes the same transitions as every other activation
# (``_succeeded``, ``_failed``, ``release_*``, ``_claim_dispose``, ``_disposed``); what it
# specialises is *which* steps run: no look-up of the state (it is made here), no lock to
# attach it (nobody else can reach the instance yet), and the per-binding constants on a
# state class made once. With ``INJECTQ_FAST_PATHS=0`` the compiler is handed the general
# path instead (see fresh_activator_sync).

#: the transitions a fresh state runs on every activation and disposal: its class gets
#: a code object of each of its own (utils.internals.own_code: separate inline caches
#: per binding, the same code)
_HOT_TRANSITIONS = (
    "_succeeded",
    "_hold_locked",
    "_claim_dispose",
    "_disposed",
    "release_sync",
    "release_step",
)


def _fresh_state_class(
    spec: ResourceSpec,
    key: Any,
    label: str,
    monitor: ResourceMonitor,
    default_init_timeout: float | None,
    default_dispose_timeout: float | None,
    cls: type | None,
) -> type[ResourceState]:
    """A :class:`ResourceState` subclass carrying what is the same for every activation
    of one binding in one container, so an activation sets only what differs. ``cls``:
    the class the container constructs, when known; if it keeps object's own attribute
    setting and deleting, ``plain_cls`` is it, so marking an instance of exactly that
    class needs no look-up of its ``__setattr__``/``__delattr__``."""
    plain_cls: type | None = None
    if cls is not None and cls.__setattr__ is _set_attribute and cls.__delattr__ is _del_attribute:
        plain_cls = cls
    init_timeout, dispose_timeout = spec.init_timeout, spec.dispose_timeout
    # container defaults bound async calls only (see _timed_call)
    if init_timeout is None and spec.init_async is not False:
        init_timeout = default_init_timeout
    if dispose_timeout is None and spec.dispose_async is not False:
        dispose_timeout = default_dispose_timeout
    transitions = {name: own_code(getattr(ResourceState, name)) for name in _HOT_TRANSITIONS}
    return type(
        "ResourceState",
        (ResourceState,),
        {
            **transitions,
            "__module__": __name__,
            "__qualname__": f"ResourceState[{label}]",
            "fresh": True,
            "detaches": True,
            "type_name": spec.type_name,
            # an activation starts by initializing: one attribute write fewer for it
            "status": INITIALIZING,
            "spec": spec,
            "key": key,
            "label": label,
            "monitor": monitor,
            "counts": monitor.type_stats(spec.type_name),
            "plain_cls": plain_cls,
            "init_timeout": init_timeout,
            "dispose_timeout": dispose_timeout,
        },
    )


def fresh_activator_sync(
    spec: ResourceSpec,
    key: Any,
    label: str,
    monitor: ResourceMonitor,
    default_dispose_timeout: float | None,
    general: Callable[[Any, Any, Any], Any],
    cls: type | None = None,
    in_async: bool = False,
) -> Callable[[Any, Owner], Any]:
    """``act(inst, owner) -> inst``: activate a resource the container has just
    constructed, for a class whose ``initialize`` is sync (or absent). ``general(inst,
    key, owner)`` is the full path, taken (and its result returned) when the instance
    is not fresh (``__new__`` handed back one seen before, or it has no room for the
    state). ``monitor`` and the default timeout are the container's, the same for every
    scope that can own the instance. ``in_async``:
    called by async resolution, which awaits a coroutine ``act`` returns (an
    ``initialize`` that returned an awaitable: see :func:`_init_returned`)."""
    assert spec.init_async is False

    def act_general(inst: Any, owner: Owner, me: object = None) -> Any:
        return general(inst, key, owner)

    if not FAST_PATHS:
        return act_general
    state_cls = _fresh_state_class(spec, key, label, monitor, None, default_dispose_timeout, cls)
    plain_cls, async_dispose = state_cls.plain_cls, spec.dispose_async is True
    init, init_timeout = spec.init, spec.init_timeout
    what = f"{label}.initialize()"

    def act(inst: Any, owner: Owner, me: object = None) -> Any:
        # Attach a new state to the instance: the same lines begin both colours' act (a
        # call for them cost about 2 % of a request scope); keep the two in step.
        try:
            if inst._injectq_resource_state is not None:  # seen before: not fresh
                return general(inst, key, owner)
        except AttributeError:
            pass
        if async_dispose and owner.is_async is False:
            raise _async_dispose_in_sync_scope(label)
        st = _new_state(state_cls)
        try:
            if type(inst) is plain_cls or type(inst).__setattr__ is _set_attribute:
                inst._injectq_resource_state = st  # object's own store, minus its call
            else:  # past the class's own __setattr__ (frozen, delegating classes)
                _set_attribute(inst, _STATE_ATTR, st)
        except (AttributeError, TypeError):  # no room on it (__slots__): kept aside
            return general(inst, key, owner)
        st.instance = inst
        # on the instance, though None: a class-default read costs twice (3.11)
        st.waiter = st.more_holders = st.holder = None
        st.scope_label = owner.label
        started = _perf()
        if init is not None:  # st.status is INITIALIZING (the class default)
            st.initializer = _get_ident()
            try:
                if init_timeout is None:
                    result = init(inst)
                else:
                    result = _timed_call(functools.partial(init, inst), init_timeout, what, st)
            except BaseException as exc:
                st._raise_failed(exc, started, created=True)
            if result is not None and inspect.isawaitable(result):  # async by result (§3a)
                return _init_returned(st, result, owner, started, in_async)
        if gone := st._succeeded(owner, started, True):
            _disown_sync(st, gone)
        return inst

    return own_code(act)


def fresh_activator_async(
    spec: ResourceSpec,
    key: Any,
    label: str,
    monitor: ResourceMonitor,
    default_init_timeout: float | None,
    default_dispose_timeout: float | None,
    general: Callable[[Any, Any, Any], Coroutine[Any, Any, Any]],
    cls: type | None = None,
) -> Callable[[Any, Owner], Any]:
    """``await act(inst, owner, me)`` for async code: the activated instance (``me``:
    the current task, when the caller knows it already). An ``async def initialize`` is
    awaited right here, so cancellation reaches it as usual; awaiting our coroutine costs
    less than driving the user's with ``send()`` (a StopIteration raised per call).
    ``general(inst, key, owner)``: the full path, a coroutine returning ``inst``. With a
    sync ``initialize`` this is :func:`fresh_activator_sync`'s ``act``: the instance, or
    a coroutine to await."""
    if spec.init_async is False:
        return fresh_activator_sync(
            spec, key, label, monitor, default_dispose_timeout, general, cls, in_async=True
        )

    def act_general(inst: Any, owner: Owner, me: object = None) -> Any:
        return general(inst, key, owner)

    if spec.init_async is None or not FAST_PATHS:  # None: only calling it tells
        return act_general
    state_cls = _fresh_state_class(
        spec, key, label, monitor, default_init_timeout, default_dispose_timeout, cls
    )
    plain_cls, async_dispose = state_cls.plain_cls, spec.dispose_async is True
    init, init_timeout = spec.init, state_cls.init_timeout
    assert init is not None
    what = f"{label}.initialize()"

    async def act(inst: Any, owner: Owner, me: object = None) -> Any:
        # Attach a new state to the instance: the same lines begin both colours' act (a
        # call for them cost about 2 % of a request scope); keep the two in step.
        try:
            if inst._injectq_resource_state is not None:  # seen before: not fresh
                return await general(inst, key, owner)
        except AttributeError:
            pass
        if async_dispose and owner.is_async is False:
            raise _async_dispose_in_sync_scope(label)
        st = _new_state(state_cls)
        try:
            if type(inst) is plain_cls or type(inst).__setattr__ is _set_attribute:
                inst._injectq_resource_state = st  # object's own store, minus its call
            else:  # past the class's own __setattr__ (frozen, delegating classes)
                _set_attribute(inst, _STATE_ATTR, st)
        except (AttributeError, TypeError):  # no room on it (__slots__): kept aside
            return await general(inst, key, owner)
        st.instance = inst
        # on the instance, though None: a class-default read costs twice (3.11)
        st.waiter = st.more_holders = st.holder = None
        st.scope_label = owner.label
        st.initializer = me if me is not None else _me()  # INITIALIZING: the class default
        started = _perf()
        try:
            if init_timeout is None:
                await init(inst)
            else:
                await _timed_await(init(inst), init_timeout, what)
        except BaseException as exc:
            st._raise_failed(exc, started, created=True)
        if gone := st._succeeded(owner, started, True):
            await _disown_async(st, gone)
        return inst

    return own_code(act)


_new_state = object.__new__
