"""The asyncio side of a pool: waiting on futures, work detached from cancellable callers.

Separate from the sync side (``pool_sync``) because each waits, creates and closes in its
own way; both move items only through ``PoolCore``'s locked bookkeeping.

Twins: each ``_x_async`` method here has an ``_x_sync`` twin in ``pool_sync``; why they
are written twice, and what they share, is said there. Change both together.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from injectq.resources.pool_core import PoolCore
from injectq.resources.pool_records import (
    _DISPOSING,
    _INITIALIZING,
    _NEW,
    _READY,
    _Entry,
    _Latch,
    _retrieve,
    _Waiter,
    logger,
)

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio

T = TypeVar("T")
R = TypeVar("R")


class AsyncPool(PoolCore[T]):
    """The async path of a :class:`ResourcePool`: what ``async with pool.acquire()`` runs."""

    async def _initialize_async(self) -> None:
        # the sync twin is SyncPool._initialize_sync (see pool_sync's docstring)
        while True:
            with self._lock:
                state, latch = self._begin_initialize_locked()
            if state is _READY:
                return
            if state is _NEW:
                await self._detached(self._run_initialize_async(latch))
                return
            await self._wait_latch_async(latch, raise_error=state is _INITIALIZING)

    async def _dispose_async(self) -> None:
        # the sync twin is SyncPool._dispose_sync
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
            state = self._end_wait(waiter, timed_out=timed_out, interrupted=cancelled)
        return self._waited(waiter, state, start)

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

    async def _prepare_async(self, grant: _Entry[T] | None) -> _Entry[T]:
        # the sync twin is SyncPool._prepare_sync
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
            self._creation_failed()
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
        # the sync twin is SyncPool._wait_latch_sync
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
        # the sync twin is SyncPool._run_initialize_sync
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

    async def _run_dispose_async(self, latch: _Latch) -> None:
        # the sync twin is SyncPool._run_dispose_sync
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
