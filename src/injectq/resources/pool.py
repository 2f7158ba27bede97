"""A bounded, fair, cancellation-safe pool of reusable items (connections, clients, ...).

One pool serves both worlds: asyncio tasks wait on per-waiter futures and threads on
per-waiter events, all queued in one FIFO ``deque`` guarded by one ``threading.Lock``
that is never held across a call to user code or an ``await``. Every item the pool
creates is in exactly one place at any moment (idle, in use, or being closed), so it
can be neither lost nor closed twice, whatever gets cancelled when.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from injectq.resources.lifecycle import INITIALIZING, kind_by_result, loop_running, state_of
from injectq.utils.exceptions import (
    ResourceDisposalError,
    ResourceExhaustedError,
    ResourceInitializationError,
)
from injectq.utils.validation import check_timeout

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

__all__ = ["PoolCheckout", "PoolStats", "ResourcePool"]

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger("injectq.resources")

_NEW, _INITIALIZING, _READY, _DISPOSING = "new", "initializing", "ready", "disposing"
_NO_ITEM: Any = object()  # "the fast path does not apply"
_WAITING, _GRANTED, _DONE, _FAILED = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A consistent snapshot of a pool, taken under its lock."""

    size: int
    idle: int
    in_use: int
    waiting: int
    created: int
    discarded: int
    acquired: int
    timeouts: int
    wait_time_mean: float
    wait_time_max: float

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


class _Entry(Generic[T]):
    """An item plus the timestamps that decide when it is too old to hand out."""

    __slots__ = ("created", "generation", "item", "last_used")

    def __init__(self, item: T, now: float, generation: int) -> None:
        self.item = item
        self.created = now
        self.last_used = now
        self.generation = generation


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Waiter(Generic[T]):
    """One blocked caller: a thread (event) or a task (future on its own loop).

    ``state`` and ``grant`` are only changed under the pool lock; the state, not the
    future, is the truth, so a wake-up racing a cancellation is always settled.
    """

    __slots__ = ("error", "event", "future", "grant", "loop", "state")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.state = _WAITING
        self.grant: _Entry[T] | None = None  # None with state _GRANTED: a slot to create
        self.error: BaseException | None = None
        self.loop = loop
        self.event: threading.Event | None = None
        self.future: asyncio.Future[None] | None = None
        if loop is None:
            self.event = threading.Event()
        else:
            self.future = loop.create_future()

    def wake(self) -> None:
        """Called outside the pool lock; raises RuntimeError if the waiter's loop is closed."""
        import asyncio

        if self.event is not None:
            self.event.set()
            return
        assert self.future is not None and self.loop is not None
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            _resolve(self.future)
        else:
            self.loop.call_soon_threadsafe(_resolve, self.future)


class _Latch:
    """The outcome of one initialize/dispose run, awaited by every concurrent caller."""

    __slots__ = ("done", "error", "waiters")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.waiters: list[_Waiter[Any]] = []


def _is_async_callable(fn: object) -> bool:
    # an object with ``async def __call__`` is async too
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


class PoolCheckout(Generic[T]):
    """What :meth:`ResourcePool.acquire` returns: ``async with``, ``with`` or ``await`` it.

    The context-manager forms give the item back on exit (or discard it if the body
    raised); ``await`` hands the item over and leaves releasing it to the caller.
    """

    __slots__ = ("_item", "_pool")

    def __init__(self, pool: ResourcePool[T]) -> None:
        self._pool = pool
        self._item: T | None = None

    async def __aenter__(self) -> T:
        pool = self._pool
        item = pool._fast_checkout()
        self._item = item if item is not _NO_ITEM else await pool.acquire_item()
        return self._item

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        item, self._item = cast(T, self._item), None
        if exc_type is None and self._pool._fast_return(item):
            return
        await self._pool.arelease(item, discard=exc_type is not None)

    def __enter__(self) -> T:
        pool = self._pool
        item = pool._fast_checkout()
        self._item = item if item is not _NO_ITEM else pool.acquire_item_sync()
        return self._item

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        item, self._item = cast(T, self._item), None
        if exc_type is None and self._pool._fast_return(item):
            return
        self._pool.release(item, discard=exc_type is not None)

    def __await__(self) -> Generator[Any, None, T]:
        return self._pool.acquire_item().__await__()


class ResourcePool(Generic[T]):
    """At most ``max_size`` items from ``factory``, lent out one caller at a time.

    The pool is itself a resource (``initialize`` fills ``min_size`` items, ``dispose``
    closes them all), so a container can own it like any other singleton.
    """

    _is_injectq_resource = True

    @overload
    def __init__(
        self: ResourcePool[T],
        factory: Callable[[], Awaitable[T]],
        *,
        max_size: int,
        min_size: int = 0,
        acquire_timeout: float | None = None,
        max_idle_time: float | None = None,
        recycle_after: float | None = None,
        validate: Callable[[T], bool | Awaitable[bool]] | None = None,
        close: Callable[[T], object] | None = None,
        drain_timeout: float | None = 30.0,
    ) -> None: ...

    @overload
    def __init__(
        self: ResourcePool[T],
        factory: Callable[[], T],
        *,
        max_size: int,
        min_size: int = 0,
        acquire_timeout: float | None = None,
        max_idle_time: float | None = None,
        recycle_after: float | None = None,
        validate: Callable[[T], bool | Awaitable[bool]] | None = None,
        close: Callable[[T], object] | None = None,
        drain_timeout: float | None = 30.0,
    ) -> None: ...

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        max_size: int,
        min_size: int = 0,
        acquire_timeout: float | None = None,
        max_idle_time: float | None = None,
        recycle_after: float | None = None,
        validate: Callable[[T], bool | Awaitable[bool]] | None = None,
        close: Callable[[T], object] | None = None,
        drain_timeout: float | None = 30.0,
    ) -> None:
        """``drain_timeout``: how long ``dispose`` waits for lent items before closing them anyway.

        Every argument is checked here, before anything is set: a bad size or duration
        raises ``ValueError`` (``TypeError`` for a value that is not a number at all).
        """
        for name, fn in (("factory", factory), ("validate", validate), ("close", close)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a callable, got {fn!r}.")
        _check_size("max_size", max_size, 1)
        _check_size("min_size", min_size, 0)
        if min_size > max_size:
            raise ValueError(
                f"min_size must be between 0 and max_size ({max_size}), got {min_size}."
            )
        acquire_timeout = check_timeout("acquire_timeout", acquire_timeout)
        max_idle_time = check_timeout("max_idle_time", max_idle_time)
        recycle_after = check_timeout("recycle_after", recycle_after)
        drain_timeout = check_timeout("drain_timeout", drain_timeout)
        self._factory = factory
        self.max_size = max_size
        self.min_size = min_size
        self.acquire_timeout = acquire_timeout
        self.max_idle_time = max_idle_time
        self.recycle_after = recycle_after
        self.drain_timeout = drain_timeout
        self._validate = validate
        self._close = close
        self._factory_is_async = _is_async_callable(factory)
        self._listeners: list[Callable[..., None]] = []
        self._sync_calls = threading.local()  # .active: a sync call runs in this thread

        self._lock = threading.Lock()
        self._state = _NEW
        self._latch = _Latch()
        self._generation = 0
        self._idle: deque[_Entry[T]] = deque()  # right end = most recently returned
        self._in_use: dict[int, _Entry[T]] = {}  # id(item) -> entry, lent or granted
        self._creating = 0  # slots reserved for items being created
        self._closing = 0  # items taken out of circulation, not yet closed
        self._waiters: deque[_Waiter[T]] = deque()
        self._drain: _Waiter[T] | None = None  # dispose waiting for items to come back
        self._background: set[asyncio.Task[Any]] = set()
        self._created = 0
        self._discarded = 0
        self._acquired = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0

    def __repr__(self) -> str:
        s = self.stats()
        return f"<ResourcePool {self._state} size={s.size}/{self.max_size} idle={s.idle} in_use={s.in_use}>"

    # ------------------------------------------------------------------ public API

    @property
    def is_async(self) -> bool:
        """Whether the pool needs the async API: its factory or ``close`` is ``async def``.

        A sync function that returns an awaitable cannot be told apart before it is
        called; pass an ``async def`` factory to make such a pool's nature explicit.
        """
        return self._factory_is_async or (
            self._close is not None and _is_async_callable(self._close)
        )

    def acquire(self) -> PoolCheckout[T]:
        """``async with pool.acquire() as item`` (or ``with``, or ``item = await ...``)."""
        return PoolCheckout(self)

    def stats(self) -> PoolStats:
        with self._lock:
            n = self._acquired
            return PoolStats(
                size=self._size(),
                idle=len(self._idle),
                in_use=len(self._in_use),
                waiting=len(self._waiters),
                created=self._created,
                discarded=self._discarded,
                acquired=n,
                timeouts=self._timeouts,
                wait_time_mean=self._wait_total / n if n else 0.0,
                wait_time_max=self._wait_max,
            )

    async def acquire_item(self) -> T:
        """Check an item out; give it back with :meth:`arelease` (or :meth:`release`)."""
        import asyncio

        if self._state is not _READY:
            await self._ensure_ready()
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        with self._lock:
            waiter, grant = self._checkout_locked(loop)
            stale = self._take_stale_locked(start) if self.max_idle_time is not None else ()
        if stale:
            self._spawn(self._close_entries_async(stale))
        if waiter is not None:
            grant = await self._wait_async(waiter, start)
        if grant is not None and self._fresh(grant, time.monotonic()) and self._validate is None:
            entry = grant  # the common case: an idle item, nothing to check, no await
        else:
            entry = await self._detached(self._prepare_async(grant), self._orphaned)
        self._record_acquired(start)
        return entry.item

    def acquire_item_sync(self) -> T:
        """Thread-blocking :meth:`acquire_item`, for pools whose factory is sync."""
        if self._factory_is_async:
            raise TypeError(
                "This pool's factory is async: use `async with pool.acquire()` "
                "or `await pool.acquire_item()`."
            )
        if self._state is not _READY:
            self._ensure_ready_sync()
        start = time.monotonic()
        with self._lock:
            waiter, grant = self._checkout_locked(None)
            stale = self._take_stale_locked(start) if self.max_idle_time is not None else ()
        for entry in stale:
            self._close_entry_sync(entry)
        if waiter is not None:
            grant = self._wait_sync(waiter, start)
        entry = self._prepare_sync(grant)
        self._record_acquired(start)
        return entry.item

    def release(self, item: T, *, discard: bool = False) -> None:
        """Give an item back; ``discard=True`` closes it instead (it is broken).

        When the item must be closed and closing is async, this needs a running loop
        (the close then runs as a task); otherwise use ``await pool.arelease(item)``.
        """
        entry = self._pop_in_use(item)
        if entry is None:
            return
        if not self._must_close(entry, discard):
            self._return(entry)
            return
        if not self._close_is_async(item):
            self._close_entry_sync(entry)
            return
        if loop_running() is None:
            self._return_unclosed(entry)
            raise TypeError("Closing this pool's items is async: use `await pool.arelease(item)`.")
        self._spawn(self._close_entries_async((entry,)))

    async def arelease(self, item: T, *, discard: bool = False) -> None:
        """Give an item back, awaiting its close when it has to be discarded."""
        entry = self._pop_in_use(item)
        if entry is None:
            return
        if not self._must_close(entry, discard):
            self._return(entry)
            return
        await self._detached(self._close_entries_async((entry,)))

    # ------------------------------------------------------------- resource protocol
    #
    # One lifecycle, whichever API drives it. ``initialize``/``dispose`` are the pool's
    # resource methods: the state machine (lifecycle.py) joins the user's calls, the
    # container's and those the sync API makes into one call per activation. They are
    # sync or async per pool: a pool whose factory and ``close`` are sync runs them
    # synchronously unless an event loop runs in this thread (there, lent items come
    # back from tasks of that loop, so dispose must not block it); the state machine
    # decides by what each call returns (``kind_by_result``).

    @kind_by_result
    def initialize(self) -> Any:
        """Fill ``min_size`` items; concurrent and repeated calls share the one run.

        ``await pool.initialize()`` in async code. A pool whose factory is sync can also
        be started from sync code: ``pool.initialize_sync()`` (or a plain
        ``pool.initialize()`` when no event loop runs), or simply by acquiring.
        """
        if self._runs_async():
            return self._initialize_async()
        self._initialize_sync()
        return None

    def initialize_sync(self) -> None:
        """:meth:`initialize`, blocking the calling thread, for pools whose factory is sync."""
        self._require_sync("initialize_sync", "await pool.initialize()")
        state = state_of(self)
        initializer, loop = state.initializer, loop_running()
        if (
            loop is not None
            and state.status == INITIALIZING
            and isinstance(initializer, sys.modules["asyncio"].Task)
            and initializer.get_loop() is loop
        ):
            # A task of the loop this thread runs has claimed the initialization (e.g.
            # container.get() in a running loop scheduled it): waiting for it here would
            # block the loop that has to run it. Filling the pool is idempotent, so fill
            # it now and let the task find it ready; unless the task is half-way through.
            if self._state is _INITIALIZING:
                raise ResourceInitializationError(
                    f"{self._name()} is being initialized by a task of the event loop "
                    "running in this thread, which cannot go on while this call waits; "
                    "`await pool.initialize()` (or use `async with pool.acquire()`) there."
                )
            self._initialize_sync()
            return
        with self._driven_sync():
            state.initialize_sync(None)

    @kind_by_result
    def dispose(self) -> Any:
        """Close every item exactly once; lent items are waited for up to ``drain_timeout``.

        ``await pool.dispose()`` in async code; from sync code, ``pool.dispose_sync()``
        (or a plain ``pool.dispose()`` when no event loop runs) closes a sync pool, however
        it was started. The pool can be initialized again afterwards. Cancelling an
        awaited ``dispose()`` does not cut the disposal short: it finishes in the
        background.
        """
        if self._runs_async():
            return self._dispose_async()
        self._dispose_sync()
        return None

    def dispose_sync(self) -> None:
        """:meth:`dispose`, blocking the calling thread, for pools whose items close synchronously."""
        self._require_sync("dispose_sync", "await pool.dispose()")
        with self._driven_sync():
            error = state_of(self).dispose_sync_by_user()
        if error is not None:
            raise error

    def _runs_async(self) -> bool:
        """Whether this call of :meth:`initialize`/:meth:`dispose` returns a coroutine."""
        if self.is_async:
            return True
        return loop_running() is not None and not getattr(self._sync_calls, "active", False)

    @contextlib.contextmanager
    def _driven_sync(self) -> Iterator[None]:
        """Mark this thread's call as sync: it blocks, even where an event loop runs."""
        calls = self._sync_calls
        outer = getattr(calls, "active", False)
        calls.active = True
        try:
            yield
        finally:
            calls.active = outer

    async def _initialize_async(self) -> None:
        while True:
            with self._lock:
                state, latch = self._state, self._latch
                if state is _READY:
                    return
                if state is _NEW:
                    self._state = _INITIALIZING
                    latch = self._latch = _Latch()
            if state is _NEW:
                await self._detached(self._run_initialize_async(latch))
                return
            await self._wait_latch_async(latch, raise_error=state is _INITIALIZING)

    def _initialize_sync(self) -> None:
        while True:
            with self._lock:
                state, latch = self._state, self._latch
                if state is _READY:
                    return
                if state is _NEW:
                    self._state = _INITIALIZING
                    latch = self._latch = _Latch()
            if state is _NEW:
                self._run_initialize_sync(latch)
                return
            self._wait_latch_sync(latch, raise_error=state is _INITIALIZING)

    async def _dispose_async(self) -> None:
        while True:
            with self._lock:
                state, latch, wake = self._begin_dispose_locked()
            self._wake(wake)
            if state is None:
                return
            if state is _DISPOSING:
                await self._wait_latch_async(latch, raise_error=True)
                return
            if state is _INITIALIZING:
                await self._wait_latch_async(latch, raise_error=False)
                continue
            await self._detached(self._run_dispose_async(latch))
            return

    def _dispose_sync(self) -> None:
        while True:
            with self._lock:
                state, latch, wake = self._begin_dispose_locked()
            self._wake(wake)
            if state is None:
                return
            if state is _DISPOSING:
                self._wait_latch_sync(latch, raise_error=True)
                return
            if state is _INITIALIZING:
                self._wait_latch_sync(latch, raise_error=False)
                continue
            self._run_dispose_sync(latch)
            return

    # ------------------------------------------------------- bookkeeping (under lock)

    def _size(self) -> int:
        return len(self._idle) + len(self._in_use) + self._creating + self._closing

    def _fast_checkout(self) -> Any:
        """An idle item when nothing needs checking, timing or waiting for; else
        ``_NO_ITEM`` (the caller takes the full path). The common case in a warm pool."""
        if (
            self._state is not _READY
            or self._validate is not None
            or self.max_idle_time is not None
            or self.recycle_after is not None
            or self._listeners
        ):
            return _NO_ITEM
        with self._lock:
            if self._waiters or not self._idle or self._state is not _READY:
                return _NO_ITEM
            entry = self._idle.pop()
            self._in_use[id(entry.item)] = entry
            self._acquired += 1  # waited 0 s: nothing to add to the wait totals
        return entry.item

    def _fast_return(self, item: T) -> bool:
        """Put an item straight back when nobody waits and nothing must close it."""
        if self.recycle_after is not None or self._listeners:
            return False
        with self._lock:
            if self._waiters or self._drain is not None:
                return False
            key = id(item)
            entry = self._in_use.get(key)
            if entry is None or entry.item is not item or entry.generation != self._generation:
                return False
            del self._in_use[key]
            if self.max_idle_time is not None:
                entry.last_used = time.monotonic()
            self._idle.append(entry)
        return True

    def _checkout_locked(
        self, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[_Waiter[T] | None, _Entry[T] | None]:
        """An idle entry, a creation slot (None), or a queued waiter: FIFO, bounded."""
        if self._state is _DISPOSING:
            raise ResourceExhaustedError(
                f"{self._name()} is being disposed; nothing can be acquired."
            )
        if not self._waiters:
            if self._idle:
                entry = self._idle.pop()
                self._in_use[id(entry.item)] = entry
                return None, entry
            if self._size() < self.max_size:
                self._creating += 1
                return None, None
        if self.acquire_timeout == 0:
            self._timeouts += 1
            raise self._exhausted(0)
        waiter: _Waiter[T] = _Waiter(loop)
        self._waiters.append(waiter)
        return waiter, None

    def _take_stale_locked(self, now: float) -> list[_Entry[T]]:
        """Idle entries unused for ``max_idle_time``, oldest first, keeping ``min_size``."""
        stale: list[_Entry[T]] = []
        limit = cast(float, self.max_idle_time)
        spare = len(self._idle) + len(self._in_use) + self._creating - self.min_size
        while self._idle and spare > 0 and now - self._idle[0].last_used > limit:
            stale.append(self._idle.popleft())
            self._closing += 1
            spare -= 1
        return stale

    def _hand_locked(self, entry: _Entry[T] | None, wake: list[_Waiter[T]]) -> None:
        """Pass an entry (or a free slot, ``None``) to the first waiter, else park it."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.state, waiter.grant = _GRANTED, entry
            if entry is not None:
                self._in_use[id(entry.item)] = entry
            wake.append(waiter)
            return
        if entry is None:
            self._creating -= 1
        else:
            self._idle.append(entry)
        if self._drain is not None:
            wake.append(self._drain)
            self._drain = None

    def _finish_latch_locked(
        self, latch: _Latch, error: BaseException | None
    ) -> list[_Waiter[Any]]:
        latch.done, latch.error = True, error
        waiters, latch.waiters = latch.waiters, []
        return waiters

    def _begin_dispose_locked(self) -> tuple[str | None, _Latch, list[_Waiter[T]]]:
        state, latch = self._state, self._latch
        wake: list[_Waiter[T]] = []
        if state in (_DISPOSING, _INITIALIZING):
            return state, latch, wake
        if state is _NEW and self._size() == 0:
            return None, latch, wake
        self._state = _DISPOSING
        self._latch = _Latch()
        error = f"{self._name()} was disposed while waiting for an item."
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.state, waiter.error = _FAILED, ResourceExhaustedError(error)
            wake.append(waiter)
        return state, self._latch, wake

    def _dispose_step_locked(
        self, deadline: float | None, waiter: _Waiter[T] | None
    ) -> tuple[list[_Entry[T]], bool]:
        """Entries for dispose to close now, and whether it must wait for more."""
        entries = list(self._idle)
        self._idle.clear()
        busy = self._size() > 0
        if busy and deadline is not None and time.monotonic() >= deadline:
            if self._in_use:
                logger.warning(
                    "%s: %d item(s) still in use after %ss; closing them anyway.",
                    self._name(),
                    len(self._in_use),
                    self.drain_timeout,
                )
            entries.extend(self._in_use.values())
            self._in_use.clear()
            busy = False  # items still being created or closed elsewhere are not waited for
        self._closing += len(entries)
        if busy and not entries:
            self._drain = waiter
        return entries, busy and not entries

    # ------------------------------------------------------------- shared helpers

    def _name(self) -> str:
        return f"ResourcePool(max_size={self.max_size})"

    def _exhausted(self, waited: float) -> ResourceExhaustedError:
        return ResourceExhaustedError(
            f"{self._name()} has all {self.max_size} items in use and none was returned within "
            f"{waited:.3g}s (acquire_timeout={self.acquire_timeout}). Raise max_size or "
            "acquire_timeout, or release items sooner (use `async with pool.acquire()`)."
        )

    def _fresh(self, entry: _Entry[T], now: float) -> bool:
        if self.recycle_after is not None and now - entry.created > self.recycle_after:
            return False
        return self.max_idle_time is None or now - entry.last_used <= self.max_idle_time

    def _must_close(self, entry: _Entry[T], discard: bool) -> bool:
        if discard or entry.generation != self._generation:
            return True
        return (
            self.recycle_after is not None and time.monotonic() - entry.created > self.recycle_after
        )

    def _pop_in_use(self, item: T) -> _Entry[T] | None:
        """Take a returned item out of ``in_use``; None if it is not lent (released twice)."""
        with self._lock:
            entry = self._in_use.get(id(item))
            if entry is None or entry.item is not item:
                entry = None
            else:
                del self._in_use[id(item)]
                self._closing += 1  # held aside until returned or closed
        if entry is None:
            logger.debug("%s: release of an item it does not lend: ignored.", self._name())
        return entry

    def _return(self, entry: _Entry[T]) -> None:
        """Back into circulation after :meth:`_pop_in_use`."""
        entry.last_used = time.monotonic()
        wake: list[_Waiter[T]] = []
        with self._lock:
            self._closing -= 1
            self._hand_locked(entry, wake)
        self._wake(wake)
        self._emit("released")

    def _return_unclosed(self, entry: _Entry[T]) -> None:
        """Undo :meth:`_pop_in_use` when the caller cannot close it here."""
        with self._lock:
            self._closing -= 1
            self._in_use[id(entry.item)] = entry

    def _withdraw(self, entry: _Entry[T]) -> None:
        """Take a lent entry out of circulation, to be closed (still counted in size)."""
        with self._lock:
            del self._in_use[id(entry.item)]
            self._closing += 1

    def _replacement_locked(self) -> _Entry[T] | None:
        """After closing a withdrawn entry for a caller: another idle one, or a slot."""
        self._closing -= 1
        self._discarded += 1
        if self._idle and self._state is not _DISPOSING:
            entry = self._idle.pop()
            self._in_use[id(entry.item)] = entry
            return entry
        self._creating += 1
        return None

    def _wake(self, waiters: list[_Waiter[T]]) -> None:
        for waiter in waiters:
            try:
                waiter.wake()
            except RuntimeError:  # its event loop is closed: that caller is gone
                self._abandon(waiter)

    def _abandon(self, waiter: _Waiter[T]) -> None:
        """Give back whatever a waiter that will never run again was granted."""
        wake: list[_Waiter[T]] = []
        with self._lock:
            if waiter.state is _GRANTED:
                waiter.state = _DONE
                self._regrant_locked(waiter.grant, wake)
        self._wake(wake)

    def _regrant_locked(self, entry: _Entry[T] | None, wake: list[_Waiter[T]]) -> None:
        if entry is not None:
            del self._in_use[id(entry.item)]
        self._hand_locked(entry, wake)

    def _freed_slot_locked(self, wake: list[_Waiter[T]]) -> None:
        """An item was closed (``_closing`` already decremented): its slot is free."""
        self._creating += 1
        self._hand_locked(None, wake)

    def _record_acquired(self, start: float) -> None:
        waited = time.monotonic() - start
        with self._lock:
            self._acquired += 1
            self._wait_total += waited
            if waited > self._wait_max:
                self._wait_max = waited
        if self._listeners:
            self._emit("acquired", wait_time=waited)

    def _emit(self, event: str, **info: Any) -> None:
        """Tell monitoring listeners; a failing listener is logged, never raised."""
        for listener in tuple(self._listeners):
            try:
                listener(event, self, **info)
            except Exception:
                logger.exception("Pool listener %r failed on %r", listener, event)

    def _require_sync(self, what: str, instead: str) -> None:
        if self.is_async:
            raise TypeError(f"This pool is async: {what}() cannot run it; use `{instead}`.")

    def _close_is_async(self, item: T) -> bool:
        if self._close is not None:
            return _is_async_callable(self._close)
        method = getattr(item, "close", None) or getattr(item, "dispose", None)
        if method is None:
            return callable(getattr(item, "aclose", None))
        return _is_async_callable(method)

    def _call_close(self, item: T, *, sync: bool) -> Any:
        if self._close is not None:
            return self._close(item)
        names = ("close", "dispose") if sync else ("aclose", "close", "dispose")
        for name in names:
            method = getattr(item, name, None)
            if callable(method):
                return method()
        return None

    # ------------------------------------------------------------------ sync path

    def _wait_sync(self, waiter: _Waiter[T], start: float) -> _Entry[T] | None:
        assert waiter.event is not None
        interrupted = True
        try:
            waiter.event.wait(self.acquire_timeout)
            interrupted = False
        finally:
            wake: list[_Waiter[T]] = []
            with self._lock:
                state = waiter.state
                waiter.state = _DONE
                if state is _WAITING:
                    self._waiters.remove(waiter)
                    if not interrupted:
                        self._timeouts += 1
                elif state is _GRANTED and interrupted:
                    self._regrant_locked(waiter.grant, wake)  # e.g. KeyboardInterrupt
            self._wake(wake)
        if state is _GRANTED:
            return waiter.grant
        if state is _FAILED:
            raise cast(BaseException, waiter.error)
        raise self._exhausted(time.monotonic() - start)

    def _prepare_sync(self, grant: _Entry[T] | None) -> _Entry[T]:
        """Turn a grant into a usable entry: create, or check and maybe replace."""
        while True:
            if grant is None:
                return self._create_sync()
            entry = grant
            try:
                ok = self._fresh(entry, time.monotonic()) and self._check_sync(entry.item)
            except BaseException:
                self._release_grant_sync(entry)
                raise
            if ok:
                return entry
            grant = self._replace_sync(entry)

    def _check_sync(self, item: T) -> bool:
        if self._validate is None:
            return True
        try:
            result = self._validate(item)
        except Exception:
            logger.debug("%s: validate raised; discarding the item.", self._name(), exc_info=True)
            return False
        if inspect.isawaitable(result):
            _drop(result)
            raise TypeError("validate() is async: use the pool with `async with`.")
        return bool(result)

    def _create_sync(self) -> _Entry[T]:
        try:
            item = self._factory()
            if inspect.isawaitable(item):
                _drop(item)
                raise TypeError("This pool's factory is async: use `async with pool.acquire()`.")
        except BaseException:
            wake: list[_Waiter[T]] = []
            with self._lock:
                self._hand_locked(None, wake)
            self._wake(wake)
            raise
        return self._register(item)

    def _register(self, item: T) -> _Entry[T]:
        """A freshly created item, lent to whoever held the creation slot."""
        with self._lock:
            entry = _Entry(item, time.monotonic(), self._generation)
            self._creating -= 1
            self._created += 1
            self._in_use[id(item)] = entry
        self._emit("created")
        return entry

    def _replace_sync(self, entry: _Entry[T]) -> _Entry[T] | None:
        """Close a stale or broken lent entry and keep its turn: another idle one or a slot."""
        self._withdraw(entry)
        try:
            self._close_item_sync(entry.item)
        except BaseException:
            self._after_close(freed=True)
            raise
        with self._lock:
            grant = self._replacement_locked()
        self._emit("discarded")
        return grant

    def _release_grant_sync(self, entry: _Entry[T]) -> None:
        self._withdraw(entry)
        self._close_entry_sync(entry)

    def _close_item_sync(self, item: T) -> None:
        try:
            result = self._call_close(item, sync=True)
            if inspect.isawaitable(result):
                _drop(result)
                raise TypeError("Closing this pool's items is async: use the async API.")
        except Exception:
            logger.warning("%s: closing %r failed", self._name(), item, exc_info=True)

    def _close_entry_sync(self, entry: _Entry[T]) -> None:
        """Close an entry already counted in ``_closing``, then free its slot."""
        try:
            self._close_item_sync(entry.item)
        finally:
            self._after_close(freed=True)

    def _after_close(self, *, freed: bool) -> None:
        wake: list[_Waiter[T]] = []
        with self._lock:
            self._closing -= 1
            self._discarded += 1
            if freed:
                self._freed_slot_locked(wake)
        self._wake(wake)
        self._emit("discarded")

    def _wait_latch_sync(self, latch: _Latch, *, raise_error: bool) -> None:
        waiter: _Waiter[T] | None = None
        with self._lock:
            if not latch.done:
                waiter = _Waiter(None)
                latch.waiters.append(waiter)
        if waiter is not None:
            assert waiter.event is not None
            waiter.event.wait()
        if raise_error and latch.error is not None:
            raise latch.error

    def _run_initialize_sync(self, latch: _Latch) -> None:
        with self._lock:
            missing = max(0, self.min_size - self._size())
            self._creating += missing
        made: list[_Entry[T]] = []
        error: BaseException | None = None
        try:
            for _ in range(missing):
                missing -= 1
                made.append(self._create_sync())
        except BaseException as exc:
            error = exc
        self._finish_initialize(latch, made, missing, error)
        if error is not None:
            for entry in made:
                self._release_grant_sync(entry)
            raise error

    def _run_dispose_sync(self, latch: _Latch) -> None:
        deadline = None if self.drain_timeout is None else time.monotonic() + self.drain_timeout
        errors: list[Exception] = []
        try:
            while True:
                waiter: _Waiter[T] = _Waiter(None)
                with self._lock:
                    entries, wait = self._dispose_step_locked(deadline, waiter)
                for entry in entries:
                    try:
                        result = self._call_close(entry.item, sync=True)
                        if inspect.isawaitable(result):
                            _drop(result)
                            raise TypeError(
                                "Closing this pool's items is async: use `await pool.dispose()`."
                            )
                    except Exception as exc:
                        errors.append(exc)
                    finally:
                        self._after_close(freed=False)
                if not entries and not wait:
                    break
                if wait:
                    assert waiter.event is not None
                    waiter.event.wait(
                        None if deadline is None else max(0.0, deadline - time.monotonic())
                    )
        finally:
            self._finish_dispose(latch, errors)

    # ----------------------------------------------------------------- async path

    async def _ensure_ready(self) -> None:
        if self._state is _DISPOSING:
            raise ResourceExhaustedError(
                f"{self._name()} is being disposed; nothing can be acquired."
            )
        await self.initialize()

    def _ensure_ready_sync(self) -> None:
        if self._state is _DISPOSING:
            raise ResourceExhaustedError(
                f"{self._name()} is being disposed; nothing can be acquired."
            )
        self.initialize_sync()

    async def _wait_async(self, waiter: _Waiter[T], start: float) -> _Entry[T] | None:
        import asyncio

        assert waiter.future is not None
        timed_out = cancelled = False
        try:
            if self.acquire_timeout is None:
                await waiter.future
            else:
                async with asyncio.timeout(self.acquire_timeout):
                    await waiter.future
        except TimeoutError:
            timed_out = True
        except BaseException:
            cancelled = True
            raise
        finally:
            wake: list[_Waiter[T]] = []
            with self._lock:
                state = waiter.state
                waiter.state = _DONE
                if state is _WAITING:
                    self._waiters.remove(waiter)
                    if timed_out:
                        self._timeouts += 1
                elif state is _GRANTED and cancelled:
                    self._regrant_locked(waiter.grant, wake)  # pass it on, never lose it
            self._wake(wake)
        if state is _GRANTED:
            return waiter.grant  # granted just as the timeout hit: use it
        if state is _FAILED:
            raise cast(BaseException, waiter.error)
        raise self._exhausted(time.monotonic() - start)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        import asyncio

        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _detached(
        self,
        coro: Coroutine[Any, Any, R],
        on_orphan: Callable[[asyncio.Task[R]], None] | None = None,
    ) -> R:
        """Run pool work to completion even if the caller is cancelled meanwhile.

        Half-created connections and half-closed ones are how pools leak; the work
        finishes in a task, and ``on_orphan`` routes its result back into the pool.
        """
        import asyncio

        task = self._spawn(coro)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if on_orphan is not None:
                task.add_done_callback(on_orphan)
            else:
                task.add_done_callback(_retrieve)
            raise

    def _orphaned(self, task: asyncio.Task[_Entry[T]]) -> None:
        """A checkout whose caller was cancelled: put the item it prepared back."""
        if task.cancelled() or task.exception() is not None:
            return
        self.release(task.result().item)

    async def _prepare_async(self, grant: _Entry[T] | None) -> _Entry[T]:
        while True:
            if grant is None:
                return await self._create_async()
            entry = grant
            try:
                ok = self._fresh(entry, time.monotonic()) and await self._check_async(entry.item)
            except BaseException:
                self._withdraw(entry)
                await self._close_entries_async((entry,))
                raise
            if ok:
                return entry
            self._withdraw(entry)
            await self._close_item_async(entry.item)
            with self._lock:
                grant = self._replacement_locked()
            self._emit("discarded")

    async def _check_async(self, item: T) -> bool:
        if self._validate is None:
            return True
        try:
            result = self._validate(item)
            if inspect.isawaitable(result):
                result = await result
            return bool(result)
        except Exception:
            logger.debug("%s: validate raised; discarding the item.", self._name(), exc_info=True)
            return False

    async def _create_async(self) -> _Entry[T]:
        try:
            item = self._factory()
            if inspect.isawaitable(item):
                item = await item
        except BaseException:
            wake: list[_Waiter[T]] = []
            with self._lock:
                self._hand_locked(None, wake)
            self._wake(wake)
            raise
        return self._register(item)

    async def _close_item_async(self, item: T) -> Exception | None:
        try:
            result = self._call_close(item, sync=False)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.warning("%s: closing %r failed", self._name(), item, exc_info=True)
            return exc
        return None

    async def _close_entries_async(self, entries: tuple[_Entry[T], ...] | list[_Entry[T]]) -> None:
        """Close entries already counted in ``_closing`` and free their slots."""
        for entry in entries:
            try:
                await self._close_item_async(entry.item)
            finally:
                self._after_close(freed=True)

    async def _wait_latch_async(self, latch: _Latch, *, raise_error: bool) -> None:
        import asyncio

        waiter: _Waiter[T] | None = None
        with self._lock:
            if not latch.done:
                waiter = _Waiter(asyncio.get_running_loop())
                latch.waiters.append(waiter)
        if waiter is not None:
            assert waiter.future is not None
            try:
                await waiter.future
            except asyncio.CancelledError:
                with self._lock:
                    if waiter in latch.waiters:
                        latch.waiters.remove(waiter)
                raise
        if raise_error and latch.error is not None:
            raise latch.error

    async def _run_initialize_async(self, latch: _Latch) -> None:
        import asyncio

        with self._lock:
            missing = max(0, self.min_size - self._size())
            self._creating += missing
        results = await asyncio.gather(
            *(self._create_async() for _ in range(missing)), return_exceptions=True
        )
        made = [r for r in results if isinstance(r, _Entry)]
        errors = [r for r in results if not isinstance(r, _Entry)]
        error = errors[0] if errors else None
        self._finish_initialize(latch, made, 0, error)
        if error is not None:
            for entry in made:
                self._withdraw(entry)
            await self._close_entries_async(made)
            raise error

    def _finish_initialize(
        self, latch: _Latch, made: list[_Entry[T]], unused: int, error: BaseException | None
    ) -> None:
        wake: list[_Waiter[Any]] = []
        with self._lock:
            self._creating -= unused
            if error is None:
                for entry in made:
                    del self._in_use[id(entry.item)]
                    self._idle.append(entry)
                self._state = _READY
            else:
                self._state = _NEW  # the next access tries again
            wake.extend(self._finish_latch_locked(latch, error))
        self._wake(wake)
        if error is None:
            self._emit("initialized", size=len(made))

    async def _run_dispose_async(self, latch: _Latch) -> None:
        import asyncio

        deadline = None if self.drain_timeout is None else time.monotonic() + self.drain_timeout
        errors: list[Exception] = []
        try:
            while True:
                waiter: _Waiter[T] = _Waiter(asyncio.get_running_loop())
                with self._lock:
                    entries, wait = self._dispose_step_locked(deadline, waiter)
                for entry in entries:
                    try:
                        error = await self._close_item_async(entry.item)
                        if error is not None:
                            errors.append(error)
                    finally:
                        self._after_close(freed=False)
                if not entries and not wait:
                    break
                if wait:
                    assert waiter.future is not None
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    try:
                        async with asyncio.timeout(remaining):
                            await waiter.future
                    except TimeoutError:
                        with self._lock:
                            if self._drain is waiter:
                                self._drain = None
        finally:
            self._finish_dispose(latch, errors)

    def _finish_dispose(self, latch: _Latch, errors: list[Exception]) -> None:
        """Back to "new" (a later acquire starts afresh); raise what closing failed with."""
        error = None
        if errors:
            error = ResourceDisposalError(f"{self._name()}: closing some items failed", errors)
        with self._lock:
            self._drain = None
            self._state = _NEW
            self._generation += 1
            wake = self._finish_latch_locked(latch, error)
        self._wake(wake)
        self._emit("disposed")
        if error is not None:
            raise error


def _check_size(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "a bool" if isinstance(value, bool) else type(value).__name__
        error = ValueError if isinstance(value, (bool, float)) else TypeError
        raise error(f"{name} must be a whole number >= {least}, got {value!r} ({kind}).")
    if value < least:
        raise ValueError(f"{name} must be at least {least}, got {value}.")


def _drop(awaitable: object) -> None:
    """Close a coroutine that sync code cannot await, so it does not warn "never awaited"."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
