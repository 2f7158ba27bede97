"""The resource state machine. It exists here once; scopes and the container drive it.

One :class:`ResourceState` per resource *instance* walks
created -> initializing -> live -> disposing -> disposed (and may be activated again).
One :class:`ContextEntry` per entered generator / context-manager factory.

Both kinds sit on an owner's disposal stack (a scope or the container's root) and are
released there in reverse order of successful initialization. The user's own calls to
``initialize()`` / ``dispose()`` go through the same state, so they and the container's
calls are one call per activation.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import threading
import time
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from injectq.resources.monitor import ResourceMonitor, ResourceTypeStats
from injectq.utils.classes import class_attribute
from injectq.utils.exceptions import (
    ResourceInitializationError,
    ResourceTimeoutError,
    ScopeError,
    describe_key,
)
from injectq.utils.internals import (
    ANYIO_BACKEND,
    FAST_PATHS,
    UNKNOWN,
    anyio_innermost_scope,
    asyncio_lookups,
    own_code,
)

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio
    import concurrent.futures

__all__ = [
    "ContextEntry",
    "Owner",
    "ResourceSpec",
    "ResourceState",
    "is_resource_class",
    "resource_spec",
    "state_of",
]

_log = logging.getLogger("injectq.resources")

CREATED, INITIALIZING, LIVE, DISPOSING, DISPOSED = range(5)
_STATUS_NAMES = ("created", "initializing", "live", "disposing", "disposed")

# Guards state transitions only: held for a few attribute writes, never while user code
# runs, so it is not a container-wide lock in the sense of DESIGN §3.8.
_transition = threading.Lock()
_acquire, _release = _transition.acquire, _transition.release
_perf = time.perf_counter
_get_ident = threading.get_ident
_F = TypeVar("_F", bound=Callable[..., Any])


class Owner(Protocol):
    """What the state machine needs from a scope (or the container's root)."""

    stack: list[Any]

    @property
    def label(self) -> str: ...
    @property
    def is_async(self) -> bool | None: ...
    @property
    def monitor(self) -> ResourceMonitor: ...
    @property
    def default_init_timeout(self) -> float | None: ...
    @property
    def default_dispose_timeout(self) -> float | None: ...
    @property
    def pending(self) -> list[asyncio.Task[Any]]: ...
    @property
    def failures(self) -> list[tuple[Any, BaseException]]: ...

    #: set when its exit starts: an activation that joins it afterwards is disowned
    closed: bool


# No event loop can be running before asyncio has been imported, so "is a loop running?"
# is answered without importing it: importing injectq stays light for sync programs.
# Both look-ups come from utils.internals (asyncio's own, where measured worth it).
_get_running_loop: Callable[[], Any] | None = None
_tasks_by_loop: dict[Any, Any] | None = None


def loop_running() -> asyncio.AbstractEventLoop | None:
    """The running event loop of this thread, or None."""
    get = _get_running_loop
    if get is None:
        aio = sys.modules.get("asyncio")
        if aio is None:
            return None
        get = _bind_asyncio(aio)
    return get()  # type: ignore[no-any-return]


def _bind_asyncio(aio: Any) -> Callable[[], Any]:
    global _get_running_loop, _tasks_by_loop
    _get_running_loop, _tasks_by_loop = asyncio_lookups(aio)
    return _get_running_loop


_loop_running = loop_running


def current_task() -> asyncio.Task[Any] | None:
    """``asyncio.current_task()`` without its overhead on 3.11 (None outside a loop)."""
    get, tasks = _get_running_loop, _tasks_by_loop
    if get is not None and tasks is not None:  # the common case once asyncio is loaded
        loop = get()
        return None if loop is None else tasks.get(loop)
    loop = loop_running()
    if loop is None:
        return None
    if _tasks_by_loop is not None:
        return _tasks_by_loop.get(loop)
    return sys.modules["asyncio"].current_task(loop)  # type: ignore[no-any-return]


def _me() -> object:
    """Who is running: the current asyncio task if any, else the thread."""
    if _get_running_loop is None and "asyncio" not in sys.modules:
        return _get_ident()  # no loop can be running: no call for the task look-up
    task = current_task()
    return task if task is not None else _get_ident()


# --------------------------------------------------------------------------- specs
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
    else:
        if inspect.iscoroutinefunction(original):

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


# --------------------------------------------------------------------------- states
STATE_ATTR = _STATE_ATTR = "_injectq_resource_state"
# Instances that refuse attributes (``__slots__``, ``@dataclass(slots=True)``) keep their
# state aside, by id. The table holds it weakly, so an idle state (never initialized,
# failed, disposed) goes with its last user, and while it lives it keeps its instance
# alive, so the id cannot be reused under it. A state in use (initializing, live,
# disposing) may have no other holder (a user's own initialize() on an instance nobody
# else tracks): ``_aside_in_use`` holds it until it is idle again.
_aside: dict[int, weakref.ref[ResourceState]] = {}
_aside_in_use: set[ResourceState] = set()


def state_of(instance: Any, key: Any = None, spec: ResourceSpec | None = None) -> ResourceState:
    """The state of a resource instance, created on first use (with ``spec``, the bound
    class's, when the container knows it; else its own class's)."""
    st = _attached_state(instance)
    if st is not None:
        return st
    st = _aside_state(instance)
    if st is not None:
        return st
    if spec is None:
        spec = resource_spec(type(instance))
    if spec is None:
        raise TypeError(f"{type(instance).__qualname__} is not a resource")
    with _transition:
        st = _attached_state(instance) or _aside_state(instance)
        if st is None:
            st = ResourceState(instance, spec, key)
            try:
                object.__setattr__(instance, _STATE_ATTR, st)
            except (AttributeError, TypeError):
                _keep_aside(instance, st)
    return st


def _aside_state(instance: Any) -> ResourceState | None:
    ref = _aside.get(id(instance))
    if ref is None:
        return None
    st = ref()
    return st if st is not None and st.instance is instance else None


def _keep_aside(instance: Any, st: ResourceState) -> None:
    """Under the lock: ``st`` is the state of ``instance``, which cannot carry it."""
    key = id(instance)

    def forget(ref: weakref.ref[ResourceState]) -> None:
        # called while the state is being freed, its instance still alive: no other
        # instance can have this id yet
        if _aside.get(key) is ref:
            del _aside[key]

    st.kept_aside = True
    _aside[key] = weakref.ref(st, forget)
    if st.status == LIVE:  # no initialize(): in use from creation
        _aside_in_use.add(st)


def _attached_state(instance: Any) -> ResourceState | None:
    """The state set on ``instance`` itself, if any (see ``_prepare``)."""
    try:
        return instance._injectq_resource_state  # type: ignore[no-any-return]
    except AttributeError:
        return None


# typed loosely: also compared with a class's own __setattr__ / __delattr__
_set_attribute: Callable[..., None] = object.__setattr__
_del_attribute: Callable[..., None] = object.__delattr__


def resource_label(key: Any) -> str:
    """How a resource is named in metrics, logs and health reports: the string key
    itself, or the class name as error paths show it."""
    return key if isinstance(key, str) else describe_key(key)


def _describe(key: Any, instance: Any) -> str:
    return resource_label(type(instance) if key is None else key)


def _timed_call(
    fn: Callable[[], Any], timeout: float | None, what: str, state: ResourceState | None = None
) -> Any:
    """Run a sync call, bounded by ``timeout`` when one is set: in a helper thread, since
    Python cannot interrupt a thread (an overrunning call is left to finish). Only a
    resource's own ``@resource(init_timeout=...)`` gets here with a timeout: container
    defaults bound async calls only, so thread-bound objects (sqlite3) keep working.

    ``state``: the resource whose ``initialize()``/``dispose()`` this is. The helper
    thread takes over its name as the initializer (or disposer), so a
    ``super().initialize()`` made there joins the call it is part of instead of waiting
    on it."""
    if timeout is None:
        return fn()
    import concurrent.futures

    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    caller = state.initializer if state is not None else None

    def run() -> None:
        try:
            if state is not None:
                with _transition:  # unless it was given up on (timed out) meanwhile
                    if state.initializer == caller:
                        state.initializer = _get_ident()
            done.set_result(fn())
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, name=f"injectq-{what}", daemon=True).start()
    try:
        return done.result(timeout)
    except concurrent.futures.TimeoutError:
        raise ResourceTimeoutError(f"{what} did not finish within {timeout} s") from None


async def _timed_await(awaitable: Awaitable[Any], timeout: float | None, what: str) -> Any:
    if timeout is None:
        return await awaitable
    import asyncio

    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError as exc:
        if isinstance(exc, ResourceTimeoutError):
            raise
        raise ResourceTimeoutError(f"{what} did not finish within {timeout} s") from exc


def _run_awaitable(awaitable: Awaitable[Any], timeout: float | None, what: str) -> None:
    """Finish what a sync-looking ``dispose()`` returned to await (a lambda that turned
    out async), with no loop running: a sync scope's exit or ``close()``."""
    import asyncio

    asyncio.run(_timed_await(awaitable, timeout, what))


class _TakeOver(Exception):
    """Told to waiters when the initializer was cancelled: they retry it themselves."""


def _init_error(label: str, exc: BaseException) -> ResourceInitializationError:
    if isinstance(exc, ResourceInitializationError):
        return exc
    err = ResourceInitializationError(f"Failed to initialize resource {label}: {exc!r}")
    err.__cause__ = exc  # raised without `from`: an error that already is one keeps its own
    return err


class ResourceState:
    """The lifecycle of one resource instance (see module docstring)."""

    # Class-level defaults (no __slots__): a state built on the hot path sets only what
    # differs from these.
    waiter: concurrent.futures.Future[None] | None = None
    initializer: object = None
    monitor: ResourceMonitor | None = None
    scope_label = "-"
    init_timeout: float | None = None
    dispose_timeout: float | None = None
    live_since = 0.0
    #: The owner of an activation scheduled by ``get()`` in a running loop: a retry after
    #: that initialization failed (``aget``, ``initialize()``) still belongs to it.
    pending_owner: Owner | None = None
    failure_observed = False
    #: made by the container for an instance it constructed: detached again once
    #: disposed, so the instance <-> state cycle never outlives the activation
    fresh = False
    #: the monitor's counters of this type, which the state counts into itself (see
    #: ResourceMonitor.type_stats): set with the monitor (fresh states: on their class)
    counts: ResourceTypeStats | None = None
    #: The scopes that must exit before the activation is disposed: ``holder``, plus
    #: ``more_holders`` when several hold it (a bound instance shared by concurrent
    #: scopes, DESIGN §3a). One field for the usual single holder: no list to make,
    #: search and empty on every activation. Changed under ``_transition`` only.
    holder: Owner | None = None
    more_holders: list[Owner] | None = None
    #: fresh states: the constructed class, when it sets and deletes attributes as
    #: object does (see _fresh_state_class)
    plain_cls: type | None = None
    #: kept aside, for an instance that cannot carry it (see ``_aside``)
    kept_aside = False
    #: its disposal may run inside an anyio shield (core._anyio): dispose() enters and
    #: leaves its own cancel scopes within the call
    shieldable = True

    def __init__(
        self, instance: Any, spec: ResourceSpec, key: Any = None, label: str | None = None
    ) -> None:
        self.instance = instance
        self.spec = spec
        self.key = key
        self.label = label if label is not None else _describe(key, instance)
        self.status = CREATED if spec.init is not None else LIVE
        self.live_since = _perf()
        self.init_timeout = spec.init_timeout
        self.dispose_timeout = spec.dispose_timeout

    def __repr__(self) -> str:
        return f"<ResourceState {self.label} {_STATUS_NAMES[self.status]}>"

    @property
    def is_live(self) -> bool:
        return self.status == LIVE

    # -- activation by the container -----------------------------------------------------
    def bind_owner(self, owner: Owner, key: Any) -> None:
        """Called by the container before activating: who disposes it, which limits apply."""
        if key is not None and self.key is None:
            self.key = key
            self.label = _describe(key, self.instance)
        if self.monitor is None:
            self.monitor = owner.monitor
            # counted into directly from now on, as a fresh state is (see _disposed)
            self.counts = self.monitor.type_stats(self.spec.type_name)
            # container defaults bound async calls only (see _timed_call)
            if self.spec.init_timeout is None and self.spec.init_async is not False:
                self.init_timeout = owner.default_init_timeout
            if self.spec.dispose_timeout is None and self.spec.dispose_async is not False:
                self.dispose_timeout = owner.default_dispose_timeout
            self.scope_label = owner.label
            self.monitor.record_created(self.label, self.spec.type_name, owner.label)
            if self.status == LIVE:  # no initialize(): live from creation, count it as such
                self.monitor.record_initialized(self.label, self.spec.type_name, owner.label, 0.0)

    def check_owner(self, owner: Owner) -> None:
        """A sync scope cannot await an async dispose: fail now, not at exit (§3.5)."""
        if owner.is_async is False and self.spec.dispose_async is True:
            raise ScopeError(
                f"{self.label} has an async dispose() and cannot be owned by a sync scope. "
                "Use `async with container.scope(...)` / `async with container.resource_scope()`."
            )

    def _hold_live(self, owner: Owner | None) -> bool | None:
        """Hold it for ``owner`` if it is live. None when it is not (disposed after the
        caller saw it live, or after the initialization it waited for): start over.
        Else whether ``owner`` has closed meanwhile (see :func:`_disown_sync`)."""
        with _transition:
            if self.status != LIVE:
                return None
            if owner is not None:
                self._hold_locked(owner)
        return owner is not None and owner.closed

    def hold(self, owner: Owner | None) -> bool:
        """Make ``owner`` one of the scopes that must exit before this is disposed.
        True when ``owner`` has closed meanwhile: see :func:`_disown_sync`."""
        if owner is None:
            return False
        with _transition:
            self._hold_locked(owner)
        return owner.closed

    def _hold_locked(self, owner: Owner) -> None:
        """:meth:`hold`, the lock held."""
        holder, more = self.holder, self.more_holders
        if owner is holder or (more and owner in more):
            return
        if holder is None:
            self.holder = owner
        elif more is None:
            self.more_holders = [owner]
        else:
            more.append(owner)
        # under the lock: a user's dispose() that finds one holder finds it on that
        # holder's stack too (see _claim_dispose)
        owner.stack.append(self)

    def _begin(self) -> tuple[bool, concurrent.futures.Future[None] | None]:
        """Claim the initialization, or get the future to wait on. Under the lock."""
        me = _me()
        with _transition:
            status = self.status
            if status == LIVE:
                return False, None
            if status == INITIALIZING:
                if self.initializer == me:
                    return False, None
                if self.waiter is None:
                    import concurrent.futures

                    self.waiter = concurrent.futures.Future()
                return False, self.waiter
            if status == DISPOSING:
                raise ScopeError(f"{self.label} is being disposed; it cannot be used now.")
            self.status = INITIALIZING
            self.initializer = me
            if self.kept_aside:
                _aside_in_use.add(self)
            return True, None

    def _succeeded(
        self, owner: Owner | None, started: float, created: bool = False
    ) -> Owner | None:
        """The transition to live, for every activation: held by ``owner`` (or the
        scheduling owner) and on its stack, in one turn of the lock. ``created``: a fresh
        activation, counted as created and initialized at once. Returns the owner when it
        has closed meanwhile (see :func:`_disown_sync`), else None."""
        now = _perf()
        with _transition:
            self.status = LIVE
            self.live_since = now
            self.initializer = None
            waiter, self.waiter = self.waiter, None
            if owner is None:
                owner = self.pending_owner
            self.pending_owner = None
            if owner is not None:
                self.scope_label = owner.label
                self._hold_locked(owner)  # in the same turn of the lock
        monitor, counts = self.monitor, self.counts
        if monitor is not None and counts is not None:
            monitor.went_live(
                counts, self.label, self.spec.type_name, self.scope_label, now - started, created
            )
        if waiter is not None:
            waiter.set_result(None)
        return owner if owner is not None and owner.closed else None

    def _failed(self, exc: BaseException, started: float) -> ResourceInitializationError:
        error = _init_error(self.label, exc)
        with _transition:
            self.status = CREATED
            self.initializer = None
            waiter, self.waiter = self.waiter, None
            if self.kept_aside:
                _aside_in_use.discard(self)  # idle: goes with its last user
        if self.monitor is not None:
            self.monitor.record_init_failed(
                self.label, self.spec.type_name, self.scope_label, _perf() - started, exc
            )
        self.failure_observed = waiter is not None
        if waiter is not None:
            # the initializer being cancelled or interrupted is not a failure of the
            # resource: whoever waits takes the initialization over instead
            waiter.set_exception(error if isinstance(exc, Exception) else _TakeOver())
        return error

    def initialize_sync(
        self, owner: Owner | None, allow_async: bool = False
    ) -> Coroutine[Any, Any, None] | None:
        """Initialize (or join the initialization) in this thread. ``allow_async``: a
        user's own ``initialize()`` call inside a running loop, whose sync-looking method
        may return an awaitable: then the coroutine that finishes it is returned."""
        if self.status == LIVE and (closed := self._hold_live(owner)) is not None:
            if closed:
                _disown_sync(self, owner)
            return None
        mine, waiter = self._begin()
        while not mine:
            # status read after the waiter was posted: a fresh activation that went
            # live without the lock (fresh_activator_sync) is seen here, or sees us
            if waiter is not None and self.status != LIVE:
                try:
                    waiter.result()
                except _TakeOver:
                    mine, waiter = self._begin()
                    continue
            closed = self._hold_live(owner)
            if closed is None:  # disposed again before we held it: activate it anew
                mine, waiter = self._begin()
                continue
            if closed:
                _disown_sync(self, owner)
            return None
        started = _perf()
        init = self.spec.init
        if init is None:  # re-activation of a resource that has only dispose()
            if gone := self._succeeded(owner, started):
                _disown_sync(self, gone)
            return None
        try:
            # a sync call: bounded by the resource's own timeout only (container defaults
            # bound async calls, so a sync kind_by_result method stays in this thread)
            if self.spec.init_timeout is None:
                result = init(self.instance)
            else:
                result = _timed_call(
                    functools.partial(init, self.instance),
                    self.spec.init_timeout,
                    f"{self.label}.initialize()",
                    self,
                )
            if result is not None and inspect.isawaitable(result):
                if allow_async:  # a user's own call in a running loop: theirs to await
                    return self._finish_init_async(result, owner, started)
                if self._finish_as_task(result, owner, started):
                    return None
                # async by what it returned, reached from sync code with no loop
                if inspect.iscoroutine(result):
                    result.close()
                raise _returned_awaitable(self.label)
        except BaseException as exc:
            error = self._failed(exc, started)
            if not isinstance(exc, Exception):
                raise
            raise error from error.__cause__  # exc, or the own cause of an error not wrapped
        if gone := self._succeeded(owner, started):
            _disown_sync(self, gone)
        return None

    async def initialize_async(self, owner: Owner | None) -> None:
        if self.status == LIVE and (closed := self._hold_live(owner)) is not None:
            if closed:
                await _disown_async(self, owner)
            return
        mine, waiter = self._begin()
        while not mine:
            if waiter is not None and self.status != LIVE:  # see initialize_sync
                import asyncio  # loaded already: we run in its loop

                try:
                    await asyncio.shield(asyncio.wrap_future(waiter))
                except _TakeOver:
                    mine, waiter = self._begin()
                    continue
            closed = self._hold_live(owner)
            if closed is None:  # see initialize_sync
                mine, waiter = self._begin()
                continue
            if closed:
                await _disown_async(self, owner)
            return
        await self._run_init_async(owner)

    def _finish_as_task(self, result: Awaitable[Any], owner: Owner | None, started: float) -> bool:
        """A sync call of ``initialize()`` returned ``result`` to await (async by what it
        returns, DESIGN §3a). In a running loop it is finished as a task, as ``get()``
        does any async initialization (§3.2): ``aget``, ``initialize()`` and the
        owner's exit join it. False with no loop (or no owner to join it)."""
        loop = _loop_running()
        if loop is None or owner is None:
            return False
        self.pending_owner = owner
        task = loop.create_task(self._run_scheduled(owner, None, (result, started)))
        self.initializer = task
        owner.pending.append(task)
        return True

    async def _finish_init_async(
        self, result: Awaitable[Any], owner: Owner | None, started: float
    ) -> Any:
        """The rest of an initialization whose call returned ``result`` to await; the
        instance once it is live."""
        try:
            await _timed_await(result, self.init_timeout, f"{self.label}.initialize()")
        except BaseException as exc:
            error = self._failed(exc, started)
            if not isinstance(exc, Exception):
                raise
            raise error from error.__cause__
        if gone := self._succeeded(owner, started):
            await _disown_async(self, gone)
        return self.instance

    async def _run_init_async(self, owner: Owner | None) -> None:
        """Run the claimed initialization in this task."""
        started = _perf()
        init = self.spec.init
        if init is None:
            if gone := self._succeeded(owner, started):
                await _disown_async(self, gone)
            return
        timeout = self.init_timeout
        try:
            if timeout is None:
                result = init(self.instance)
                if result is not None and inspect.isawaitable(result):
                    await result
            elif self.spec.init_async is False:
                what = f"{self.label}.initialize()"
                result = _timed_call(functools.partial(init, self.instance), timeout, what, self)
                if inspect.isawaitable(result):
                    await _timed_await(result, timeout, what)
            else:
                result = init(self.instance)  # a lambda may turn out sync
                if inspect.isawaitable(result):
                    await _timed_await(result, timeout, f"{self.label}.initialize()")
        except BaseException as exc:
            error = self._failed(exc, started)
            if not isinstance(exc, Exception):
                raise
            raise error from error.__cause__
        if gone := self._succeeded(owner, started):
            await _disown_async(self, gone)

    def schedule_init(
        self,
        owner: Owner,
        loop: asyncio.AbstractEventLoop,
        after: list[ResourceState] | None = None,
    ) -> None:
        """``get()`` inside a running loop: start the async initialization as a task.

        Claimed synchronously, so any later ``initialize()``/``aget`` joins this one call.
        """
        mine, _ = self._begin()
        if not mine:
            if self.status == LIVE:
                if self.hold(owner):
                    _disown_sync(self, owner)
            else:
                task = loop.create_task(self.initialize_async(owner))
                owner.pending.append(task)
            return
        self.pending_owner = owner
        task = loop.create_task(self._run_scheduled(owner, after))
        with _transition:
            if self.status == INITIALIZING:
                self.initializer = task
        owner.pending.append(task)

    async def _run_scheduled(
        self,
        owner: Owner,
        after: list[ResourceState] | None,
        returned: tuple[Awaitable[Any], float] | None = None,
    ) -> None:
        """The scheduled initialization (after ``after``, its dependencies still being
        initialized): a failure nobody was waiting for is logged and kept on the owner,
        which reports it at its exit (never silently dropped)."""
        try:
            if after:
                started = _perf()
                try:
                    for dep in after:
                        await dep.initialize_async(None)  # joins the dependency's one call
                except BaseException as exc:
                    error = self._failed(exc, started)
                    if not isinstance(exc, Exception):
                        raise
                    raise error from error.__cause__
            if returned is None:
                await self._run_init_async(owner)
            else:  # initialize() was called already; what it returned is awaited here
                await self._finish_init_async(returned[0], owner, returned[1])
        except Exception as exc:
            if not self.failure_observed:
                _log.error(
                    "Scheduled initialization of resource %s failed (get() in a running "
                    "loop); it is reported at the exit of scope %r",
                    self.label,
                    owner.label,
                    exc_info=exc,
                )
                owner.failures.append((self, exc))
            raise

    # -- disposal -------------------------------------------------------------------------
    def _claim_dispose(self, owner: Owner | None, me: object = None) -> bool:
        """Drop ``owner``'s hold; True when this caller must dispose now. ``me``: who
        disposes (the task, else the thread), when the caller knows already."""
        if (
            self.fresh
            and owner is not None
            and owner is self.holder
            and self.more_holders is None
            and self.status == LIVE
        ):
            # The usual scope exit, without the lock: only fresh states, which no other
            # scope holds, and whose one holder popped them off its own stack (or took
            # them back, _take_back). A user's dispose() claims only by taking the state
            # off that stack first (below), and reads the holder before the status.
            self.status = DISPOSING  # first: a user's claim that finds no holder sees it
            self.holder = None
            self.initializer = me if me is not None else _me()
            return True
        _acquire()  # not `with`: on every release, and its __exit__ call costs as much
        try:
            if owner is None:  # the user's own dispose(): every hold goes
                holder = self.holder  # read before the status: see the fresh releases
                if holder is not None and not self.more_holders and self.status == LIVE:
                    # its one scope claims it at exit by popping it off the stack, with
                    # no lock (the fresh releases): take it off first, or find it taken
                    try:
                        holder.stack.remove(self)
                    except ValueError:
                        return False
                self.holder = self.more_holders = None
            elif owner is self.holder:
                self.holder = None
                if self.more_holders:
                    return False
            else:
                more = self.more_holders
                if more and owner in more:
                    more.remove(owner)
                if self.holder is not None or more:
                    return False
            if self.status != LIVE:
                return False
            self.status = DISPOSING
        finally:
            _release()
        self.initializer = me if me is not None else _me()
        return True

    def _disposed(self, started: float, error: BaseException | None) -> BaseException | None:
        # only the disposer moves a state out of DISPOSING: no lock needed here
        now = _perf()
        if self.kept_aside:
            _aside_in_use.discard(self)  # still DISPOSING: no claim can race this
        if self.fresh:
            # detached while still DISPOSING: a user's initialize() from another thread
            # either finds this state busy, or no state and starts a new activation; never
            # a disposed state that is then detached under it
            instance = self.instance
            try:  # _attached_state, inlined
                if instance._injectq_resource_state is self:
                    if type(instance).__delattr__ is _del_attribute:
                        del instance._injectq_resource_state  # the same, without its call
                    else:  # the class's own __delattr__ may refuse or delegate
                        _del_attribute(instance, _STATE_ATTR)
            except AttributeError:
                pass
        self.status = DISPOSED
        self.initializer = None
        if self.holder is not None or self.more_holders is not None:
            # held again meanwhile (a hold() that read LIVE just before the claim)
            _acquire()
            self.holder = self.more_holders = None
            _release()
        if error is not None:
            error.add_note(f"while disposing resource {self.label} (scope {self.scope_label})")
            _log.error("Failed to dispose resource %s", self.label, exc_info=error)
        monitor, counts = self.monitor, self.counts
        if monitor is not None and counts is not None:
            monitor.was_disposed(
                counts,
                self.label,
                self.spec.type_name,
                self.scope_label,
                now - started,
                now - self.live_since,
                error,
            )
        return error

    async def _dispose_async_now(self, started: float | None = None) -> BaseException | None:
        """The general async disposal, in the calling task (DESIGN §3.5, task affinity):
        its error (a cancellation that reached it included), or None."""
        if started is None:
            started = _perf()
        error: BaseException | None = None
        dispose = self.spec.dispose
        if dispose is not None:
            what = f"{self.label}.dispose()"
            try:
                if self.spec.dispose_async is False:
                    result = _timed_call(
                        functools.partial(dispose, self.instance),
                        self.dispose_timeout,
                        what,
                        self,
                    )
                else:
                    result = dispose(self.instance)
                if result is not None and inspect.isawaitable(result):
                    self.initializer = current_task()  # super().dispose() from it joins
                    await _timed_await(result, self.dispose_timeout, what)
            except BaseException as exc:
                error = exc
        return self._disposed(started, error)

    def release_step(
        self, owner: Owner | None, exc: BaseException | None
    ) -> tuple[BaseException | None, Coroutine[Any, Any, BaseException | None] | None]:
        """Async release without a coroutine of our own when the disposal never
        suspends (the common case): returns (error, None) when done, or (None, the
        coroutine to await for the rest).

        The disposer is named by this thread's id, not by the current task (looking that
        up costs a system call on Python 3.11): ``dispose()`` starts right here, where no
        other task of this thread runs; where it suspends, the rest runs in this same task
        (:meth:`_await_rest`), which then names the task."""
        if not self._claim_dispose(owner, _get_ident()):
            return None, None
        started = _perf()
        dispose = self.spec.dispose
        if dispose is None:
            return self._disposed(started, None), None
        if self.spec.dispose_async is False or self.dispose_timeout is not None or not FAST_PATHS:
            return None, self._dispose_async_now(started)
        try:
            result = dispose(self.instance)
            if type(result) is not _Coroutine and not inspect.iscoroutine(result):
                if result is not None and inspect.isawaitable(result):  # not a coroutine
                    return None, self._await_other(started, result)
                return self._disposed(started, None), None
            pending = next(result.__await__(), _FINISHED)  # its first step: see _FINISHED
        except BaseException as error:
            return self._disposed(started, error), None
        if pending is _FINISHED:
            return self._disposed(started, None), None
        return None, self._await_rest(started, result, pending)

    async def _await_other(self, started: float, awaitable: Awaitable[Any]) -> BaseException | None:
        """The rest of a disposal whose ``dispose()`` returned an awaitable that is no
        coroutine, awaited in this task."""
        self.initializer = current_task()
        try:
            await awaitable
        except BaseException as error:
            return self._disposed(started, error)
        return self._disposed(started, None)

    async def _await_rest(
        self, started: float, coro: Coroutine[Any, Any, Any], pending: Any
    ) -> BaseException | None:
        """The rest of an ``async def dispose()`` that suspended after its first step
        (run by hand in :meth:`release_step`), driven on in this task."""
        self.initializer = current_task()
        return self._disposed(started, await _finish_in_this_task(coro, pending))

    def release_sync(self, owner: Owner | None, exc: BaseException | None) -> BaseException | None:
        """``owner`` lets go; the last holder disposes (sync). Returns the error."""
        if not self._claim_dispose(owner, _get_ident()):
            return None
        started = _perf()
        error: BaseException | None = None
        dispose = self.spec.dispose
        if dispose is not None:
            try:
                if self.spec.dispose_timeout is None:  # as in initialize_sync
                    result = dispose(self.instance)
                else:
                    result = _timed_call(
                        functools.partial(dispose, self.instance),
                        self.spec.dispose_timeout,
                        f"{self.label}.dispose()",
                        self,
                    )
                if result is not None and inspect.isawaitable(result):
                    _run_awaitable(result, self.dispose_timeout, f"{self.label}.dispose()")
            except BaseException as exc:
                error = exc
        return self._disposed(started, error)

    @property
    def needs_async_release(self) -> bool:
        return self.spec.dispose_async is not False

    def dispose_sync_by_user(self) -> BaseException | None:
        return self.release_sync(None, None)  # no owner: every hold goes

    async def dispose_async_by_user(self) -> BaseException | None:
        if not self._claim_dispose(None):
            return None
        return await self._dispose_async_now()


def _async_dispose_in_sync_scope(label: str) -> ScopeError:
    return ScopeError(
        f"{label} has an async dispose() and cannot be owned by a sync scope. "
        "Use `async with container.scope(...)` / `async with container.resource_scope()`."
    )


def _fresh_failed(st: ResourceState, exc: BaseException, started: float) -> NoReturn:
    """A fresh activation's ``initialize`` raised ``exc``: record it, wake whoever waits,
    and raise (a ResourceInitializationError, or ``exc`` itself when it is no Exception:
    a cancellation or an interrupt goes through unchanged)."""
    assert st.monitor is not None
    st.monitor.record_created(st.label, st.spec.type_name, st.scope_label)
    error = st._failed(exc, started)
    if not isinstance(exc, Exception):
        raise exc
    raise error from error.__cause__


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
    assert st.monitor is not None
    if in_async:
        st.monitor.record_created(st.label, st.spec.type_name, st.scope_label)
        return st._finish_init_async(result, owner, started)
    if st._finish_as_task(result, owner, started):
        st.monitor.record_created(st.label, st.spec.type_name, st.scope_label)
        return st.instance
    if inspect.iscoroutine(result):
        result.close()  # never to be awaited: no "never awaited" warning
    _fresh_failed(st, _returned_awaitable(st.label), started)


def _returned_awaitable(label: str) -> ResourceInitializationError:
    return ResourceInitializationError(
        f"{label}.initialize() returned an awaitable, so it is async: resolve it with "
        "`await container.aget(...)` inside a running event loop."
    )


def _release_waiter(st: ResourceState) -> None:
    with _transition:
        waiter, st.waiter = st.waiter, None
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


# -------------------------------------------------------------- activations in flight
# A task or a copied-context thread may still be initializing a resource when the scope
# that owns it exits (DESIGN §3.3, §3.6): it goes live on a closed scope. Every place where
# an activation joins its owner's stack checks ``owner.closed`` right after, and hands the
# activation back here: it is disposed at once and the caller gets ScopeError, so nothing
# stays live and unowned. The check follows the push, and the exit sets ``closed`` before
# it pops: either the exit's pop finds the entry, or the check sees the scope closed.


def _take_back(entry: ResourceState | ContextEntry, owner: Owner) -> bool:
    """Whether the caller must dispose ``entry``, which went live on ``owner`` after it
    closed: it is still on the stack (taken off it now), or the exit popped it while it was
    still initializing and let go of it without disposing it."""
    with _transition:
        try:
            owner.stack.remove(entry)
        except ValueError:
            # popped by the exit: it disposes a live state itself, unless it let go
            return (
                isinstance(entry, ResourceState)
                and entry.status == LIVE
                and entry.holder is None
                and not entry.more_holders
            )
        return True


def _disowned(
    entry: ResourceState | ContextEntry, owner: Owner, error: BaseException | None
) -> ScopeError:
    err = ScopeError(
        f"Scope {owner.label!r} closed while {entry.label} was being activated in it, so "
        "it was disposed again. Finish the work that uses a scope (await the tasks, join "
        "the threads you start in it) before the scope exits."
    )
    if error is not None:
        err.add_note(f"its disposal failed: {error!r}")
    return err


def _disown_sync(entry: ResourceState | ContextEntry, owner: Owner | None) -> NoReturn:
    """``entry`` went live on ``owner``, which had closed: dispose it, raise ScopeError."""
    assert owner is not None
    error = entry.release_sync(owner, None) if _take_back(entry, owner) else None
    raise _disowned(entry, owner, error)


async def _disown_async(entry: ResourceState | ContextEntry, owner: Owner | None) -> NoReturn:
    """:func:`_disown_sync` in async code: the disposal is awaited in this task."""
    assert owner is not None
    error = None
    if _take_back(entry, owner):
        error, rest = entry.release_step(owner, None)
        if rest is not None:
            error = await rest
    raise _disowned(entry, owner, error)


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


def _fresh_state(state_cls: type[ResourceState], inst: Any, owner: Owner) -> ResourceState | None:
    """The state of a just-constructed ``inst``, attached to it; None when ``inst`` is
    not fresh (``__new__`` handed back one seen before) or has no room for it
    (``__slots__``): the general path takes those."""
    try:
        if inst._injectq_resource_state is not None:  # seen before: not fresh
            return None
    except AttributeError:
        pass
    st: ResourceState = _new_state(state_cls)
    if st.spec.dispose_async is True and owner.is_async is False:
        raise _async_dispose_in_sync_scope(st.label)
    try:
        if type(inst) is state_cls.plain_cls or type(inst).__setattr__ is _set_attribute:
            inst._injectq_resource_state = st  # object's own store, minus its call
        else:  # past the class's own __setattr__ (frozen, delegating classes)
            _set_attribute(inst, _STATE_ATTR, st)
    except (AttributeError, TypeError):  # no room on it (__slots__): kept aside
        return None
    st.instance = inst
    # on the instance, though None: a class-default read costs twice (3.11)
    st.waiter = st.more_holders = st.holder = None
    st.scope_label = owner.label
    return st


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
    is not fresh (see :func:`_fresh_state`). ``monitor`` and the default timeout are the
    container's, the same for every scope that can own the instance. ``in_async``:
    called by async resolution, which awaits a coroutine ``act`` returns (an
    ``initialize`` that returned an awaitable: see :func:`_init_returned`)."""
    assert spec.init_async is False

    def act_general(inst: Any, owner: Owner, me: object = None) -> Any:
        return general(inst, key, owner)

    if not FAST_PATHS:
        return act_general
    state_cls = _fresh_state_class(spec, key, label, monitor, None, default_dispose_timeout, cls)
    init, init_timeout = spec.init, spec.init_timeout
    what = f"{label}.initialize()"

    def act(inst: Any, owner: Owner, me: object = None) -> Any:
        st = _fresh_state(state_cls, inst, owner)
        if st is None:
            return general(inst, key, owner)
        started = _perf()
        if init is not None:  # st.status is INITIALIZING (the class default)
            st.initializer = _get_ident()
            try:
                if init_timeout is None:
                    result = init(inst)
                else:
                    result = _timed_call(functools.partial(init, inst), init_timeout, what, st)
            except BaseException as exc:
                _fresh_failed(st, exc, started)
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
    init, init_timeout = spec.init, state_cls.init_timeout
    assert init is not None
    what = f"{label}.initialize()"

    async def act(inst: Any, owner: Owner, me: object = None) -> Any:
        st = _fresh_state(state_cls, inst, owner)
        if st is None:
            return await general(inst, key, owner)
        st.initializer = me if me is not None else _me()  # INITIALIZING: the class default
        started = _perf()
        try:
            if init_timeout is None:
                await init(inst)
            else:
                await _timed_await(init(inst), init_timeout, what)
        except BaseException as exc:
            _fresh_failed(st, exc, started)
        if gone := st._succeeded(owner, started, True):
            await _disown_async(st, gone)
        return inst

    return own_code(act)


_new_state = object.__new__
#: What ``next(coro.__await__(), _FINISHED)`` returns for a coroutine that finished
#: without suspending: a disposal's first step run by hand. ``coro.send(None)`` would
#: raise a StopIteration for it, which costs ~0.25 µs per async disposal in S4;
#: iteration that ends with a None result raises none.
_FINISHED: Any = object()
#: how a disposal that returned a coroutine is told apart fast (see release_step)
_Coroutine = types.CoroutineType


class ContextEntry:
    """One entered context-manager factory (``@resource()`` generators included):
    ``__enter__`` was its initialization, ``__exit__`` is its disposal (contextlib rules)."""

    __slots__ = (
        "cm",
        "counts",
        "dispose_timeout",
        "is_async",
        "label",
        "live_since",
        "monitor",
        "scope_label",
        "shieldable",
        "type_name",
        "value",
    )

    def __init__(
        self,
        cm: Any,
        is_async: bool,
        label: str,
        scope_label: str,
        monitor: ResourceMonitor,
        dispose_timeout: float | None,
        counts: ResourceTypeStats | None = None,
    ) -> None:
        self.cm = cm
        self.is_async = is_async
        self.label = label
        self.monitor = monitor
        self.scope_label = scope_label
        #: what bounds the exit: the binding's, or for an async one the container's default
        self.dispose_timeout = dispose_timeout
        self.value: Any = None
        self.type_name = label
        self.live_since = 0.0
        #: its type's counters (an enterer passes the ones it holds: no look-up)
        self.counts = counts if counts is not None else monitor.type_stats(label)
        #: its exit may run inside an anyio shield (core._anyio): not when entering it
        #: left an anyio cancel scope open across the yield (see _entering_async)
        self.shieldable = True

    @property
    def instance(self) -> Any:
        return self.value

    @property
    def is_live(self) -> bool:
        return self.cm is not None

    @property
    def needs_async_release(self) -> bool:
        return self.is_async

    @classmethod
    def enter_sync(
        cls,
        cm: Any,
        label: str,
        owner: Owner,
        init_timeout: float | None,
        dispose_timeout: float | None,
    ) -> Any:
        # container defaults bound async calls only
        entry = cls(cm, False, label, owner.label, owner.monitor, dispose_timeout)
        entry.monitor.record_created(label, label, owner.label)
        started = _perf()
        try:
            value = _timed_call(cm.__enter__, init_timeout, f"{label} (enter)")
        except BaseException as exc:
            _entry_failed(entry.monitor, label, owner.label, started, exc, created=True)
        entry._entered(value, owner, started, False)
        if owner.closed:  # the scope exited while this was being entered
            _disown_sync(entry, owner)
        return value

    @classmethod
    async def enter_async(
        cls,
        cm: Any,
        label: str,
        owner: Owner,
        init_timeout: float | None,
        dispose_timeout: float | None,
    ) -> Any:
        if dispose_timeout is None:
            dispose_timeout = owner.default_dispose_timeout
        entry = cls(cm, True, label, owner.label, owner.monitor, dispose_timeout)
        timeout = init_timeout if init_timeout is not None else owner.default_init_timeout
        entry.monitor.record_created(label, label, owner.label)
        started = _perf()
        scope_before = _anyio_scope()
        try:
            value = await _timed_await(cm.__aenter__(), timeout, f"{label} (enter)")
        except BaseException as exc:
            _entry_failed(entry.monitor, label, owner.label, started, exc, created=True)
        entry.shieldable = _anyio_scope() is scope_before is not UNKNOWN
        entry._entered(value, owner, started, False)
        if owner.closed:  # the scope exited while this was being entered
            await _disown_async(entry, owner)
        return value

    def _entered(self, value: Any, owner: Owner, started: float, created: bool) -> None:
        """Live: on ``owner``'s stack and counted (``created``: in the same step)."""
        self.value = value
        now = _perf()
        self.live_since = now
        owner.stack.append(self)
        self.monitor.went_live(
            self.counts, self.label, self.type_name, self.scope_label, now - started, created
        )

    def _exc_args(self, exc: BaseException | None) -> tuple[Any, Any, Any]:
        if exc is None:
            return None, None, None
        return type(exc), exc, exc.__traceback__

    def _finish(
        self, started: float, error: BaseException | None, body_exc: BaseException | None
    ) -> BaseException | None:
        if error is not None and error is body_exc:
            error = None  # the generator let the body's exception through: not a failure
        if error is not None:
            error.add_note(f"while disposing resource {self.label} (scope {self.scope_label})")
            _log.error("Failed to dispose resource %s", self.label, exc_info=error)
        now = _perf()
        self.monitor.was_disposed(
            self.counts,
            self.label,
            self.type_name,
            self.scope_label,
            now - started,
            now - self.live_since,
            error,
        )
        return error

    def _exit_sync(self, cm: Any, exc: BaseException | None) -> None:
        """Leave a sync context manager (raises what its exit raised). A bare generator
        (see context_enterer) that the body did not fail is finished by hand; for
        anything else it is handed to contextlib, whose rules apply as they are."""
        if type(cm) is types.GeneratorType:
            if exc is None and self.dispose_timeout is None:
                if next(cm, _FINISHED) is not _FINISHED:  # contextlib's words and steps
                    try:
                        raise RuntimeError("generator didn't stop")
                    finally:
                        cm.close()
                return
            cm = _generator_cm(cm)
        _timed_call(
            functools.partial(cm.__exit__, *self._exc_args(exc)),
            self.dispose_timeout,
            f"{self.label} (exit)",
        )

    def release_sync(self, owner: Owner | None, exc: BaseException | None) -> BaseException | None:
        cm, self.cm = self.cm, None
        if cm is None:
            return None
        started = _perf()
        error: BaseException | None = None
        try:
            if self.is_async:
                import asyncio

                if type(cm) is types.AsyncGeneratorType:
                    cm = _async_generator_cm(cm)  # contextlib's exit (see context_aenterer)
                asyncio.run(
                    _timed_await(
                        cm.__aexit__(*self._exc_args(exc)),
                        self.dispose_timeout,
                        f"{self.label} (exit)",
                    )
                )
            else:
                self._exit_sync(cm, exc)
        except BaseException as err:
            error = err
        return self._finish(started, error, exc)

    def release_step(
        self, owner: Owner | None, exc: BaseException | None
    ) -> tuple[BaseException | None, Coroutine[Any, Any, BaseException | None] | None]:
        if not self.is_async:  # nothing to await: no coroutine for it
            return self.release_sync(owner, exc), None
        cm = self.cm
        timeout = self.dispose_timeout
        if type(cm) is not types.AsyncGeneratorType or exc is not None or timeout is not None:
            return None, self.release_async(owner, exc)
        # a bare async generator (see context_aenterer) whose body succeeded: its exit's
        # first step by hand, as _fresh_release does, the rest (if it suspends) in this task
        self.cm = None
        started = _perf()
        exiting = _finish_async_generator(cm)
        try:
            pending = next(exiting.__await__(), _FINISHED)
        except BaseException as error:
            return self._finish(started, error, None), None
        if pending is _FINISHED:
            return self._finish(started, None, None), None
        return None, self._exit_rest(started, exiting, pending)

    async def _exit_rest(
        self, started: float, exiting: Coroutine[Any, Any, Any], pending: Any
    ) -> BaseException | None:
        return self._finish(started, await _finish_in_this_task(exiting, pending), None)

    async def release_async(
        self, owner: Owner | None, exc: BaseException | None
    ) -> BaseException | None:
        """Leave the context manager in this task; its error, or None."""
        cm, self.cm = self.cm, None
        if cm is None:
            return None
        started = _perf()
        error: BaseException | None = None
        try:
            if self.is_async:
                if type(cm) is types.AsyncGeneratorType:
                    cm = _async_generator_cm(cm)  # contextlib's exit (see context_aenterer)
                await _timed_await(
                    cm.__aexit__(*self._exc_args(exc)), self.dispose_timeout, f"{self.label} (exit)"
                )
            else:
                self._exit_sync(cm, exc)
        except BaseException as err:
            error = err
        return self._finish(started, error, exc)


class _Continue:
    """Awaitable that goes on driving, in the awaiting task, a coroutine whose first step
    was taken by hand (``pending``: what that step yielded). What the task sends or
    throws in (a cancellation) reaches the coroutine as if it had been awaited from the
    start."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.pending
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # thrown in by the task that drives us
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish_in_this_task(
    coro: Coroutine[Any, Any, Any], pending: Any
) -> BaseException | None:
    """Drive the rest of a disposal (see :class:`_Continue`) in this task; its error (a
    cancellation that reached it included) is returned, not raised: the scope goes on
    with the remaining disposals and re-raises an interruption at the end."""
    try:
        await _Continue(coro, pending)
    except BaseException as exc:
        return exc
    return None


def _same(value: Any) -> Any:
    return value


# contextlib's managers around a generator that is already made: its rules for entering
# and leaving apply as they are. Made once here: a contextmanager() per call cost ~1 µs.
_generator_cm = contextlib.contextmanager(_same)
_async_generator_cm = contextlib.asynccontextmanager(_same)


def context_manager_of(factory_result: Any) -> Any:
    """Normalise what a context factory returned into a context manager."""
    cls = type(factory_result)  # neither generator type can be subclassed
    if cls is types.GeneratorType:
        return _generator_cm(factory_result)
    if cls is types.AsyncGeneratorType:
        return _async_generator_cm(factory_result)
    return factory_result


def context_enterer(
    label: str,
    monitor: ResourceMonitor,
    init_timeout: float | None,
    dispose_timeout: float | None,
) -> Callable[[Any, Owner], Any]:
    """``enter(factory_result, owner) -> value``: enter what a sync context factory
    returned, for one binding. A bare generator (an ``@resource()`` generator function,
    no init timeout) is entered by hand, ``next(gen)``, and counts into its type's
    counters held here, as a fresh resource does; anything else goes through
    :meth:`ContextEntry.enter_sync` and contextlib."""
    counts = monitor.type_stats(label)

    def enter(result: Any, owner: Owner) -> Any:
        if type(result) is not types.GeneratorType or init_timeout is not None or not FAST_PATHS:
            return ContextEntry.enter_sync(
                context_manager_of(result), label, owner, init_timeout, dispose_timeout
            )
        entry = ContextEntry(result, False, label, owner.label, monitor, dispose_timeout, counts)
        started = _perf()
        try:
            value = next(result)
        except BaseException as exc:
            _entry_failed(monitor, label, owner.label, started, exc)
        entry._entered(value, owner, started, True)
        if owner.closed:  # the scope exited while this was being entered
            _disown_sync(entry, owner)
        return value

    return enter


def context_aenterer(
    label: str,
    monitor: ResourceMonitor,
    init_timeout: float | None,
    dispose_timeout: float | None,
) -> Callable[[Any, Owner], Coroutine[Any, Any, Any]]:
    """The async twin of :func:`context_enterer`, for an async context factory:
    ``await aenter(factory_result, owner)``. The timeouts are the binding's, or where it
    has none the container's defaults (they bound async calls). A bare async generator
    with no init timeout is entered with ``await gen.__anext__()``; its exit is taken
    by :meth:`ContextEntry.release_step`."""
    counts = monitor.type_stats(label)

    async def aenter(result: Any, owner: Owner) -> Any:
        if (
            type(result) is not types.AsyncGeneratorType
            or init_timeout is not None
            or not FAST_PATHS
        ):
            return await ContextEntry.enter_async(
                context_manager_of(result), label, owner, init_timeout, dispose_timeout
            )
        entry = ContextEntry(result, True, label, owner.label, monitor, dispose_timeout, counts)
        started = _perf()
        scope_before = _anyio_scope()
        try:
            value = await result.__anext__()
        except BaseException as exc:
            _entry_failed(monitor, label, owner.label, started, exc)
        entry.shieldable = _anyio_scope() is scope_before is not UNKNOWN
        entry._entered(value, owner, started, True)
        if owner.closed:  # the scope exited while this was being entered
            await _disown_async(entry, owner)
        return value

    return aenter


def _anyio_scope() -> Any:
    """The current task's innermost anyio cancel scope (None before anyio ran on asyncio):
    compared around entering an async context factory, to tell whether it left one open
    across its ``yield`` (ContextEntry.shieldable)."""
    if ANYIO_BACKEND not in sys.modules:
        return None
    return anyio_innermost_scope(current_task())


def _entry_failed(
    monitor: ResourceMonitor,
    label: str,
    scope_label: str,
    started: float,
    exc: BaseException,
    created: bool = False,
) -> NoReturn:
    """Entering a context factory's result raised ``exc``: count it (and the creation,
    unless ``created`` was recorded already), then raise it as an initialization error
    (a cancellation or an interrupt goes through unchanged). A bare generator that
    ended before it yielded is told in contextlib's words."""
    if type(exc) is StopIteration or type(exc) is StopAsyncIteration:
        exc = RuntimeError("generator didn't yield")
    if not created:
        monitor.record_created(label, label, scope_label)
    monitor.record_init_failed(label, label, scope_label, _perf() - started, exc)
    if not isinstance(exc, Exception):
        raise exc
    error = _init_error(label, exc)
    raise error from error.__cause__


async def _finish_async_generator(gen: Any) -> None:
    """``_AsyncGeneratorContextManager.__aexit__`` for a body that succeeded, step for
    step: the generator must end at its next step."""
    try:
        await gen.__anext__()
    except StopAsyncIteration:
        return
    try:
        raise RuntimeError("generator didn't stop")
    finally:
        await gen.aclose()
