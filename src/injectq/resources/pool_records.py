"""The pool's records: an item's entry, a blocked caller, the outcome of one run, the stats.

Plain data with no pool logic, shared by the bookkeeping (``pool_core``) and the sync and
async paths (``pool_sync``, ``pool_async``); kept apart so each of those reads the same
states and none of them imports another.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

T = TypeVar("T")

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
        """The snapshot as a plain ``{field: value}`` dict, safe to serialise."""
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
        assert self.future is not None
        assert self.loop is not None
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
