"""The thread-blocking side of a pool: waiting on events, creating and closing in the caller.

Separate from the async side (``pool_async``) because each waits, creates and closes in
its own way; both move items only through ``PoolCore``'s locked bookkeeping.

Twins: each ``_x_sync`` method here has an ``_x_async`` twin in ``pool_async`` (and
``pool_async``'s ``_close_entries_async`` is ``_close_entry_sync`` for several). A ``def``
cannot share a body with an ``async def``, so every decision about the pool's state is
made once, in ``PoolCore``'s ``*_locked`` methods, and the twins keep only the waiting,
creating and closing around them. A change to one twin's steps is a change to both.
"""

from __future__ import annotations

import inspect
import time
from typing import TypeVar

from injectq.resources.pool_core import PoolCore
from injectq.resources.pool_records import (
    _DISPOSING,
    _INITIALIZING,
    _NEW,
    _READY,
    _drop,
    _Entry,
    _Latch,
    _Waiter,
    logger,
)

T = TypeVar("T")
R = TypeVar("R")


def _sync_only(result: R, message: str) -> R:
    """``result`` of a sync call, unless it is an awaitable: then it is dropped (no "never
    awaited" warning) and a TypeError with ``message`` says to use the async API."""
    if inspect.isawaitable(result):
        _drop(result)
        raise TypeError(message)
    return result


class SyncPool(PoolCore[T]):
    """The sync path of a :class:`ResourcePool`: what ``with pool.acquire()`` runs."""

    def _initialize_sync(self) -> None:
        # the async twin is AsyncPool._initialize_async (see the module docstring)
        while True:
            with self._lock:
                state, latch = self._begin_initialize_locked()
            if state is _READY:
                return
            if state is _NEW:
                self._run_initialize_sync(latch)
                return
            self._wait_latch_sync(latch, raise_error=state is _INITIALIZING)

    def _dispose_sync(self) -> None:
        # the async twin is AsyncPool._dispose_async
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

    def _wait_sync(self, waiter: _Waiter[T], start: float) -> _Entry[T] | None:
        assert waiter.event is not None
        interrupted = True  # until the wait returns: e.g. KeyboardInterrupt
        try:
            waiter.event.wait(self.acquire_timeout)
            interrupted = False
        finally:
            state = self._end_wait(waiter, timed_out=not interrupted, interrupted=interrupted)
        return self._waited(waiter, state, start)

    def _prepare_sync(self, grant: _Entry[T] | None) -> _Entry[T]:
        """Turn a grant into a usable entry: create, or check and maybe replace."""
        # the async twin is AsyncPool._prepare_async
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
            item = _sync_only(
                self._factory(), "This pool's factory is async: use `async with pool.acquire()`."
            )
        except BaseException:
            self._creation_failed()
            raise
        return self._register(item)

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
            _sync_only(
                self._call_close(item, sync=True),
                "Closing this pool's items is async: use the async API.",
            )
        except Exception:
            logger.warning("%s: closing %r failed", self._name(), item, exc_info=True)

    def _close_entry_sync(self, entry: _Entry[T]) -> None:
        """Close an entry already counted in ``_closing``, then free its slot."""
        try:
            self._close_item_sync(entry.item)
        finally:
            self._after_close(freed=True)

    def _wait_latch_sync(self, latch: _Latch, *, raise_error: bool) -> None:
        # the async twin is AsyncPool._wait_latch_async
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
        # the async twin is AsyncPool._run_initialize_async
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
        # the async twin is AsyncPool._run_dispose_async
        deadline = None if self.drain_timeout is None else time.monotonic() + self.drain_timeout
        errors: list[Exception] = []
        try:
            while True:
                waiter: _Waiter[T] = _Waiter(None)
                with self._lock:
                    entries, wait = self._dispose_step_locked(deadline, waiter)
                for entry in entries:
                    try:
                        _sync_only(
                            self._call_close(entry.item, sync=True),
                            "Closing this pool's items is async: use `await pool.dispose()`.",
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
