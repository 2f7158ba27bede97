"""A pool's configuration and its bookkeeping under the lock: the part both APIs share.

``PoolCore`` checks the arguments and holds the state (idle, in use, being created or
closed, waiters, counters). Its ``*_locked`` methods are the only code that moves an
item between those places, so "every item is in exactly one place" is checked here; the
sync path (``pool_sync``) and the async path (``pool_async``) wait, create and close
around them and never touch the state otherwise.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from injectq.resources.pool_records import (
    _DISPOSING,
    _DONE,
    _FAILED,
    _GRANTED,
    _INITIALIZING,
    _NEW,
    _NO_ITEM,
    _READY,
    _WAITING,
    _check_size,
    _Entry,
    _is_async_callable,
    _Latch,
    _Waiter,
    logger,
)
from injectq.utils.exceptions import (
    ResourceDisposalError,
    ResourceExhaustedError,
)
from injectq.utils.internals import FAST_PATHS
from injectq.utils.validation import check_timeout

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

T = TypeVar("T")


class PoolCore(Generic[T]):
    """The configuration, state and locked bookkeeping of a :class:`ResourcePool`."""

    # Two overloads for one signature: T is what the factory's awaitable gives for an
    # async factory, what it returns for a sync one. Typing only; the body is below.
    @overload
    def __init__(
        self,
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
        self,
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

    # ------------------------------------------------------- bookkeeping (under lock)

    def _size(self) -> int:
        return len(self._idle) + len(self._in_use) + self._creating + self._closing

    # The checkout and return shortcuts (PoolCheckout takes them first), chosen once:
    # with INJECTQ_FAST_PATHS=0 there are none, and every checkout and return takes
    # the general path (acquire_item / release and their twins).
    if FAST_PATHS:

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

    else:

        def _fast_checkout(self) -> Any:
            """``_NO_ITEM``: the general path for every checkout."""
            return _NO_ITEM

        def _fast_return(self, item: T) -> bool:
            """False: the general path for every return."""
            return False

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
        limit = cast("float", self.max_idle_time)
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

    def _begin_initialize_locked(self) -> tuple[str, _Latch]:
        """The state an initialization found, and the latch to wait on; from "new" this
        caller runs it (the pool is marked initializing, with a fresh latch)."""
        state, latch = self._state, self._latch
        if state is _NEW:
            self._state = _INITIALIZING
            latch = self._latch = _Latch()
        return state, latch

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

    def _end_wait(self, waiter: _Waiter[T], *, timed_out: bool, interrupted: bool) -> int:
        """Take ``waiter`` out of the queue once its wait is over, however it ended, and
        return the state it ended in. A grant that reached a caller who is gone
        (``interrupted``: cancelled, KeyboardInterrupt) is passed on, never lost."""
        wake: list[_Waiter[T]] = []
        with self._lock:
            state = waiter.state
            waiter.state = _DONE
            if state is _WAITING:
                self._waiters.remove(waiter)
                if timed_out:
                    self._timeouts += 1
            elif state is _GRANTED and interrupted:
                self._regrant_locked(waiter.grant, wake)
        self._wake(wake)
        return state

    def _waited(self, waiter: _Waiter[T], state: int, start: float) -> _Entry[T] | None:
        """What a wait that ended in ``state`` gives: the grant (an entry, or None: a
        slot to create in), else the error it failed with, else "exhausted"."""
        if state is _GRANTED:
            return waiter.grant  # granted just as the timeout hit: use it
        if state is _FAILED:
            raise cast("BaseException", waiter.error)
        raise self._exhausted(time.monotonic() - start)

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
            self._wait_max = max(self._wait_max, waited)
        if self._listeners:
            self._emit("acquired", wait_time=waited)

    def _emit(self, event: str, **info: Any) -> None:
        """Tell monitoring listeners; a failing listener is logged, never raised."""
        for listener in tuple(self._listeners):
            try:
                listener(event, self, **info)
            except Exception:
                logger.exception("Pool listener %r failed on %r", listener, event)

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

    def _register(self, item: T) -> _Entry[T]:
        """A freshly created item, lent to whoever held the creation slot."""
        with self._lock:
            entry = _Entry(item, time.monotonic(), self._generation)
            self._creating -= 1
            self._created += 1
            self._in_use[id(item)] = entry
        self._emit("created")
        return entry

    def _creation_failed(self) -> None:
        """Creating an item failed: its reserved slot goes to the next waiter (or is freed)."""
        wake: list[_Waiter[T]] = []
        with self._lock:
            self._hand_locked(None, wake)
        self._wake(wake)

    def _after_close(self, *, freed: bool) -> None:
        wake: list[_Waiter[T]] = []
        with self._lock:
            self._closing -= 1
            self._discarded += 1
            if freed:
                self._freed_slot_locked(wake)
        self._wake(wake)
        self._emit("discarded")

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
