"""How the state machine calls user code: which loop and task are running, a call
bounded by a timeout, and a coroutine driven on in the task that awaits it.

Below the state machine (:mod:`injectq.lifecycle.machine`), which it knows nothing of.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from injectq.utils.exceptions import ResourceTimeoutError
from injectq.utils.internals import asyncio_lookups

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

# Guards the state machine's transitions only: held for a few attribute writes, never
# while user code runs, so it is not a container-wide lock in the sense of DESIGN §3.8.
# (Here, below the state machine, because a timed call takes over a name under it.)
_transition = threading.Lock()
_perf = time.perf_counter
_get_ident = threading.get_ident

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


def _timed_call(fn: Callable[[], Any], timeout: float | None, what: str, state: Any = None) -> Any:
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


# the timeout is the resource's configured one: this helper applies it with asyncio.timeout
# and names the step in the error
async def _timed_await(awaitable: Awaitable[Any], timeout: float | None, what: str) -> Any:  # noqa: ASYNC109
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


#: What ``next(coro.__await__(), _FINISHED)`` returns for a coroutine that finished
#: without suspending: a disposal's first step run by hand. ``coro.send(None)`` would
#: raise a StopIteration for it, which costs ~0.25 µs per async disposal in S4;
#: iteration that ends with a None result raises none.
_FINISHED: Any = object()
#: how a disposal that returned a coroutine is told apart fast (see release_step)
_Coroutine = types.CoroutineType


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
