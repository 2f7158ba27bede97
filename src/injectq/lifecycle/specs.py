"""Reading a resource class once: its ``initialize``/``dispose`` steps, sync or async,
and their timeouts (:class:`ResourceSpec`); and the joining wrappers that make a user's
own ``initialize()``/``dispose()`` call and the container's one call.

Below the state machine; the wrappers reach it when they run.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from injectq.lifecycle.calls import _get_ident, _loop_running, _me
from injectq.utils.classes import class_attribute

_F = TypeVar("_F", bound=Callable[..., Any])
#: the attribute a resource instance carries its state in (see lifecycle.state_of)
STATE_ATTR = _STATE_ATTR = "_injectq_resource_state"


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """How to drive one resource class: read once, when the container first sees it.
    (It does not refer to the class, so caching it never keeps the class alive.)"""

    init: Callable[[Any], Any] | None
    dispose: Callable[[Any], Any] | None
    #: True/False when known from the function; None when only the call can tell (lambdas).
    init_async: bool | None
    dispose_async: bool | None
    init_timeout: float | None
    dispose_timeout: float | None
    #: what the monitor keys metrics by: the class's name, for every event of its
    #: instances (one a ``__new__`` of it returns included, whatever its own class)
    type_name: str = ""


# Keyed by id, not by the class: a cache entry must not keep a class alive (programs and
# tests create classes on the fly). A weak reference to the class drops its entry when
# the class goes, before its id can be reused.
_SPECS: dict[int, ResourceSpec | None] = {}
_SPEC_WATCHERS: dict[int, weakref.ref[type]] = {}
_UNSEEN: Any = object()
_MARK = "_is_injectq_resource"


def resource_spec(cls: type) -> ResourceSpec | None:
    """The spec of a resource class, or None when ``cls`` is not a resource."""
    spec: ResourceSpec | None = _SPECS.get(id(cls), _UNSEEN)  # a miss is common: no try
    if spec is not _UNSEEN:
        return spec
    spec = _prepare(cls) if class_attribute(cls, _MARK, False) is True else None
    key = id(cls)
    try:
        _SPEC_WATCHERS[key] = weakref.ref(cls, functools.partial(_forget_spec, key))
    except TypeError:  # cannot be watched: not cached (its id could be reused unseen)
        return spec
    _SPECS[key] = spec
    return spec


def _forget_spec(key: int, _gone: object) -> None:
    _SPECS.pop(key, None)
    _SPEC_WATCHERS.pop(key, None)


def is_resource_class(cls: type) -> bool:
    """Whether ``resource_spec(cls)`` is not None, without recording a no: for a class
    the container builds once (a singleton), where the record is not worth its cost.
    An unmarked class is told by its marker alone (the usual case: no look-up)."""
    if type(cls) is type and cls.__base__ is object:  # class_attribute, without its frame
        namespace = cls.__dict__  # `in`, not .get: usually absent, and binds no method
        marked = _MARK in namespace and namespace[_MARK] is True
    else:
        marked = class_attribute(cls, _MARK, False) is True
    # marked: unless it was first seen unmarked, and recorded so (as resource_spec says)
    return marked and _SPECS.get(id(cls), _UNSEEN) is not None


_BY_RESULT = "_injectq_kind_by_result"


def kind_by_result(fn: _F) -> _F:
    """Mark an ``initialize``/``dispose`` method that is sync for some instances and
    async for others (it returns an awaitable only sometimes): the state machine then
    decides by what each call returns, as it does for a lambda."""
    setattr(fn, _BY_RESULT, True)
    return fn


def _kind(fn: Callable[..., Any] | None) -> bool | None:
    if fn is None:
        return False
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isfunction(fn) and (fn.__name__ == "<lambda>" or hasattr(fn, _BY_RESULT)):
        return None  # it may return a coroutine; only calling it tells
    return False


def _prepare(cls: type) -> ResourceSpec:
    options: dict[str, Any] = dict(getattr(cls, "_injectq_resource_options", None) or {})
    init_fn = _method_or_func(cls, options.get("initialize_func", "initialize"), "initialize")
    dispose_fn = _method_or_func(cls, options.get("dispose_func", "dispose"), "dispose")
    if getattr(cls, _STATE_ATTR, _UNSEEN) is _UNSEEN:
        # a class-level default: an instance's state is then an ordinary attribute, read
        # and set without touching the instance's ``__dict__`` (on 3.11, once that dict
        # is asked for, every attribute read on the instance gets several times slower)
        with contextlib.suppress(AttributeError, TypeError):
            setattr(cls, _STATE_ATTR, None)
    return ResourceSpec(
        init=init_fn,
        dispose=dispose_fn,
        init_async=_kind(init_fn),
        dispose_async=_kind(dispose_fn),
        init_timeout=options.get("init_timeout"),
        dispose_timeout=options.get("dispose_timeout"),
        type_name=cls.__name__,
    )


def _method_or_func(cls: type, target: Any, public_name: str) -> Callable[[Any], Any] | None:
    """Resolve a method name or a callable to the original function, installing the
    joining wrapper on the class so user calls and container calls are one call."""
    if target is None:
        return None
    if isinstance(target, str):
        method = inspect.getattr_static(cls, target, None)
        if method is None:
            return None
        if isinstance(method, (staticmethod, classmethod)):
            raise TypeError(f"{cls.__qualname__}.{target} must be a plain method")
        original: Callable[[Any], Any] = getattr(method, "_injectq_original", method)
        if not getattr(method, "_injectq_original", None):
            setattr(cls, target, _joining_wrapper(original, public_name))
        return original
    if callable(target):
        if public_name not in cls.__dict__ and not hasattr(cls, public_name):
            # managed_resource with a callable: give users the same joining method
            setattr(cls, public_name, _joining_wrapper(target, public_name))
        return target  # type: ignore[no-any-return]
    raise TypeError(f"{public_name}_func must be a method name or a callable, got {target!r}")


def _joining_wrapper(original: Callable[..., Any], which: str) -> Callable[..., Any]:
    """``original`` (a resource's own initialize or dispose) wrapped so a user's call joins
    the state machine: the state machine's own call (the initializer or disposer itself)
    runs ``original``; any other call joins the one transition. Four wrappers (initialize
    / dispose, sync / async) of one shape, written out: each joins in its own way, and a
    ``def`` cannot share an ``async def``'s body. Keep their "is this our own call?"
    tests in step."""
    # the state machine sits above this module: reached when a class is first prepared
    from injectq.lifecycle.machine import DISPOSING, INITIALIZING, state_of

    if which == "initialize":
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def initialize(self: Any, *args: Any, **kwargs: Any) -> None:
                st = state_of(self)
                if st.status == INITIALIZING and st.initializer is _me():
                    await original(self, *args, **kwargs)  # super().initialize()
                    return
                await st.initialize_async(None)

            wrapper: Callable[..., Any] = initialize
        else:

            @functools.wraps(original)
            def initialize_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
                st = state_of(self)
                if st.status == INITIALIZING and st.initializer in (_me(), _get_ident()):
                    return original(self, *args, **kwargs)
                if st.spec.init_async is None and _loop_running() is not None:
                    return st.initialize_async(None)
                loop = _loop_running()
                if (
                    loop is not None
                    and st.status == INITIALIZING
                    and isinstance(st.initializer, sys.modules["asyncio"].Task)
                    and loop is st.initializer.get_loop()
                ):
                    # scheduled behind an async dependency in this very loop: blocking
                    # here would deadlock it, so hand back a task to await (it joins)
                    return loop.create_task(st.initialize_async(None))
                return st.initialize_sync(None, allow_async=loop is not None)

            wrapper = initialize_sync
    elif inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def dispose(self: Any, *args: Any, **kwargs: Any) -> None:
            st = state_of(self)
            # the disposer: this thread (a sync release, or an async one until
            # dispose() first suspends: see release_step), else the task running it
            if st.status == DISPOSING and st.initializer in (_get_ident(), _me()):
                await original(self, *args, **kwargs)
                return
            error = await st.dispose_async_by_user()
            if error is not None:
                raise error

        wrapper = dispose
    else:

        @functools.wraps(original)
        def dispose_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            st = state_of(self)
            if st.status == DISPOSING and st.initializer in (_me(), _get_ident()):
                return original(self, *args, **kwargs)
            if st.spec.dispose_async is None and _loop_running() is not None:
                return _raise_if_error(st.dispose_async_by_user())
            error = st.dispose_sync_by_user()
            if error is not None:
                raise error
            return None

        wrapper = dispose_sync
    wrapper._injectq_original = original  # type: ignore[attr-defined]
    return wrapper


async def _raise_if_error(awaitable: Awaitable[BaseException | None]) -> None:
    error = await awaitable
    if error is not None:
        raise error
