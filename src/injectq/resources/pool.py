"""A bounded, fair, cancellation-safe pool of reusable items (connections, clients, ...).

One pool serves both worlds: asyncio tasks wait on per-waiter futures and threads on
per-waiter events, all queued in one FIFO ``deque`` guarded by one ``threading.Lock``
that is never held across a call to user code or an ``await``. Every item the pool
creates is in exactly one place at any moment (idle, in use, or being closed), so it
can be neither lost nor closed twice, whatever gets cancelled when.

This module is the public face (``ResourcePool``, ``PoolCheckout``) and the pool's
resource protocol; the parts live in ``pool_records`` (entries, waiters), ``pool_core``
(configuration and the bookkeeping under the lock), ``pool_sync`` and ``pool_async``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from injectq.lifecycle.machine import INITIALIZING, kind_by_result, loop_running, state_of
from injectq.resources.pool_async import AsyncPool
from injectq.resources.pool_records import (
    _DISPOSING,
    _INITIALIZING,
    _NO_ITEM,
    _READY,
    PoolStats,
    _Entry,
    _is_async_callable,
)
from injectq.resources.pool_sync import SyncPool
from injectq.utils.exceptions import (
    ResourceExhaustedError,
    ResourceInitializationError,
)

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

__all__ = ["PoolCheckout", "PoolStats", "ResourcePool"]

T = TypeVar("T")


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
        # twin of __exit__: the protocol wants both colours, and a shared helper would
        # be one more call on every checkout
        item, self._item = cast("T", self._item), None
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
        # twin of __aexit__ (see there)
        item, self._item = cast("T", self._item), None
        if exc_type is None and self._pool._fast_return(item):
            return
        self._pool.release(item, discard=exc_type is not None)

    def __await__(self) -> Generator[Any, None, T]:
        return self._pool.acquire_item().__await__()


class ResourcePool(SyncPool[T], AsyncPool[T]):
    """At most ``max_size`` items from ``factory``, lent out one caller at a time.

    The pool is itself a resource (``initialize`` fills ``min_size`` items, ``dispose``
    closes them all), so a container can own it like any other singleton.

    Examples:
        ``with pool.acquire()`` in threads (``async with`` in tasks) lends an item and
        takes it back at the end of the block:

        >>> import sqlite3
        >>> from injectq import ResourcePool
        >>> pool = ResourcePool(lambda: sqlite3.connect(":memory:"), max_size=2)
        >>> with pool.acquire() as conn:
        ...     conn.execute("SELECT 1").fetchone()
        (1,)
        >>> pool.stats().idle, pool.stats().in_use
        (1, 0)
        >>> pool.dispose_sync()  # closes every item

        Owned by a container, which fills it at ``start_sync()`` and closes it at the end:

        >>> from injectq import InjectQ
        >>> class Database(ResourcePool[sqlite3.Connection]):
        ...     def __init__(self) -> None:
        ...         super().__init__(lambda: sqlite3.connect(":memory:"), max_size=4, min_size=2)
        >>> with InjectQ() as container:
        ...     container.bind(Database, Database)
        ...     container.start_sync()
        ...     pool = container.get(Database)
        ...     opened = pool.stats().idle
        >>> opened, pool.stats().size
        (2, 0)
    """

    _is_injectq_resource = True

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
        """A consistent snapshot of the pool's counts and wait times, taken under its lock:
        ``pool.stats().in_use`` is the number of items checked out right now."""
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
        # twin of acquire_item: the same steps, waiting, preparing and closing stale
        # items the blocking way (the pool's state moves only in PoolCore's *_locked)
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
    # resource methods: the state machine (lifecycle/machine.py) joins the user's calls, the
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

    def _require_sync(self, what: str, instead: str) -> None:
        if self.is_async:
            raise TypeError(f"This pool is async: {what}() cannot run it; use `{instead}`.")

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

    def _orphaned(self, task: asyncio.Task[_Entry[T]]) -> None:
        """A checkout whose caller was cancelled: put the item it prepared back."""
        if task.cancelled() or task.exception() is not None:
            return
        self.release(task.result().item)
