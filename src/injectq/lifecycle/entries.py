"""Context-factory resources: one :class:`ContextEntry` per entered generator or
context-manager factory (``@resource()`` functions), whose ``__enter__`` was its
initialization and whose ``__exit__`` is its disposal (contextlib's rules).

They sit on the same disposal stacks as resource states and are released by the same
teardown loops; the steps of driving a generator are here.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from injectq.lifecycle.calls import (
    _FINISHED,
    _finish_in_this_task,
    _get_ident,
    _perf,
    _timed_await,
    _timed_call,
    current_task,
)
from injectq.lifecycle.disown import disown_async as _disown_async
from injectq.lifecycle.disown import disown_sync as _disown_sync
from injectq.lifecycle.machine import INITIALIZING, Owner, ResourceState
from injectq.lifecycle.monitor import ResourceMonitor, ResourceTypeStats
from injectq.utils.internals import ANYIO_BACKEND, FAST_PATHS, UNKNOWN, anyio_innermost_scope

__all__ = ["ContextEntry", "context_aenterer", "context_enterer", "context_manager_of"]


class ContextEntry(ResourceState):
    """One entered context-manager factory (``@resource()`` generators included):
    ``__enter__`` was its initialization, ``__exit__`` is its disposal (contextlib rules).

    A resource state whose instance is the entered value: it goes live, is claimed and
    is disposed, or fails, through the same transitions (``_succeeded``, ``_claim_dispose``,
    ``_disposed``, ``_failed``), which count it; what differs is how it is initialized and
    disposed (entering and leaving ``cm``), here. One holder (the scope it was entered
    in), so the usual exit claims it without the lock (``fresh``)."""

    fresh = FAST_PATHS  # off: every claim takes the lock
    status = INITIALIZING

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
        #: the entered value (what the generator yielded, or ``__enter__`` returned)
        self.instance: Any = None
        self.type_name = label
        #: its type's counters (an enterer passes the ones it holds: no look-up)
        self.counts = counts if counts is not None else monitor.type_stats(label)
        # on the instance, though None: a class-default read costs twice (3.11)
        self.waiter = self.holder = self.more_holders = None
        #: its exit may run inside an anyio shield (core._anyio): not when entering it
        #: left an anyio cancel scope open across the yield (see _entering_async)
        self.shieldable = True

    @property
    def needs_async_release(self) -> bool:
        """Whether leaving it needs the async path (an async generator or context manager)."""
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
        """Enter ``cm`` (a sync context manager) for ``owner`` and return its value; ``owner``
        leaves it at its exit. A failed enter is counted and raised (:meth:`_raise_failed`).
        (Twin: :meth:`enter_async`.)"""
        # container defaults bound async calls only
        entry = cls(cm, False, label, owner.label, owner.monitor, dispose_timeout)
        entry._created()  # the general path: created, then initialized (or failed)
        started = _perf()
        try:
            value = _timed_call(cm.__enter__, init_timeout, f"{label} (enter)")
        except BaseException as exc:
            entry._raise_failed(_enter_error(exc), started)
        entry.instance = value
        if gone := entry._succeeded(owner, started):  # the scope exited meanwhile
            _disown_sync(entry, gone)
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
        """The async twin of :meth:`enter_sync` for an async context manager, bounded by the
        binding's or the container's default timeout. Written twice because it awaits the
        enter (and notes the anyio scope around it); what the two share, a failed enter
        and a success, is in ``_raise_failed`` and ``_succeeded``: keep the rest in step."""
        if dispose_timeout is None:
            dispose_timeout = owner.default_dispose_timeout
        entry = cls(cm, True, label, owner.label, owner.monitor, dispose_timeout)
        timeout = init_timeout if init_timeout is not None else owner.default_init_timeout
        entry._created()  # the general path: created, then initialized (or failed)
        started = _perf()
        scope_before = _anyio_scope()
        try:
            value = await _timed_await(cm.__aenter__(), timeout, f"{label} (enter)")
        except BaseException as exc:
            entry._raise_failed(_enter_error(exc), started)
        entry.shieldable = _anyio_scope() is scope_before is not UNKNOWN
        entry.instance = value
        if gone := entry._succeeded(owner, started):  # the scope exited meanwhile
            await _disown_async(entry, gone)
        return value

    def _exc_args(self, exc: BaseException | None) -> tuple[Any, Any, Any]:
        if exc is None:
            return None, None, None
        return type(exc), exc, exc.__traceback__

    def _finish(
        self, started: float, error: BaseException | None, body_exc: BaseException | None
    ) -> BaseException | None:
        if error is not None and error is body_exc:
            error = None  # the generator let the body's exception through: not a failure
        return self._disposed(started, error)

    def _exit_sync(self, cm: Any, exc: BaseException | None) -> None:
        """Leave a sync context manager by contextlib's rules (raises what its exit
        raised); a bare generator is wrapped in contextlib's manager first."""
        if type(cm) is types.GeneratorType:
            cm = _generator_cm(cm)
        _timed_call(
            functools.partial(cm.__exit__, *self._exc_args(exc)),
            self.dispose_timeout,
            f"{self.label} (exit)",
        )

    def release_sync(self, owner: Owner | None, exc: BaseException | None) -> BaseException | None:
        """Leave the context manager; its error, or None. An async one left from sync code
        (``close()`` with no loop running) runs its exit on a private loop."""
        if self.is_async:
            import asyncio

            return asyncio.run(self.release_async(owner, exc))
        if not self._claim_dispose(owner, _get_ident()):
            return None
        cm, self.cm = self.cm, None
        started = _perf()
        try:
            bare = type(cm) is types.GeneratorType and self.dispose_timeout is None
            if not bare or exc is not None:
                self._exit_sync(cm, exc)
            elif next(cm, _FINISHED) is not _FINISHED:
                # a bare generator (see context_enterer) that the body did not fail,
                # finished by hand: contextlib's words and steps
                _did_not_stop(cm)
        except BaseException as error:
            return self._finish(started, error, exc)
        return self._disposed(started, None)

    def release_step(
        self, owner: Owner | None, exc: BaseException | None
    ) -> tuple[BaseException | None, Coroutine[Any, Any, BaseException | None] | None]:
        """Leave it from async code without a coroutine of its own when the exit never
        suspends: (error, None) when done, or (None, the coroutine to await for the rest)."""
        if not self.is_async:  # nothing to await: no coroutine for it
            return self.release_sync(owner, exc), None
        cm = self.cm
        timeout = self.dispose_timeout
        if type(cm) is not types.AsyncGeneratorType or exc is not None or timeout is not None:
            return None, self.release_async(owner, exc)
        # a bare async generator (see context_aenterer) whose body succeeded: its exit's
        # first step by hand, as ResourceState.release_step does, the rest (if it
        # suspends) in this task
        if not self._claim_dispose(owner, _get_ident()):
            return None, None
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
        if not self.is_async:
            return self.release_sync(owner, exc)
        if not self._claim_dispose(owner):
            return None
        cm, self.cm = self.cm, None
        started = _perf()
        if type(cm) is types.AsyncGeneratorType:
            cm = _async_generator_cm(cm)  # contextlib's exit (see context_aenterer)
        try:
            await _timed_await(
                cm.__aexit__(*self._exc_args(exc)), self.dispose_timeout, f"{self.label} (exit)"
            )
        except BaseException as error:
            return self._finish(started, error, exc)
        return self._finish(started, None, exc)


def _did_not_stop(gen: Any) -> NoReturn:
    try:
        raise RuntimeError("generator didn't stop")
    finally:
        gen.close()


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


def _entry_class(
    label: str, monitor: ResourceMonitor, dispose_timeout: float | None, is_async: bool
) -> type[ContextEntry]:
    """A :class:`ContextEntry` subclass carrying what is the same for every entry of one
    binding (as a fresh resource's state class does), so entering sets only what differs
    (:func:`_new_entry`)."""
    return type(
        "ContextEntry",
        (ContextEntry,),
        {
            "__module__": __name__,
            "__qualname__": f"ContextEntry[{label}]",
            "is_async": is_async,
            "label": label,
            "type_name": label,
            "monitor": monitor,
            "counts": monitor.type_stats(label),
            "dispose_timeout": dispose_timeout,
        },
    )


_new_object = object.__new__


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
    entry_cls = _entry_class(label, monitor, dispose_timeout, False)

    def enter(result: Any, owner: Owner) -> Any:
        if type(result) is not types.GeneratorType or init_timeout is not None or not FAST_PATHS:
            return ContextEntry.enter_sync(
                context_manager_of(result), label, owner, init_timeout, dispose_timeout
            )
        entry: ContextEntry = _new_object(entry_cls)  # what differs per entry:
        entry.cm, entry.scope_label = result, owner.label
        # on the instance, though None: a class-default read costs twice (3.11)
        entry.waiter = entry.holder = entry.more_holders = None
        started = _perf()
        try:
            value = next(result)
        except BaseException as exc:
            entry._raise_failed(_enter_error(exc), started, created=True)
        entry.instance = value
        if gone := entry._succeeded(owner, started, True):  # the scope exited meanwhile
            _disown_sync(entry, gone)
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
    entry_cls = _entry_class(label, monitor, dispose_timeout, True)

    async def aenter(result: Any, owner: Owner) -> Any:
        if (
            type(result) is not types.AsyncGeneratorType
            or init_timeout is not None
            or not FAST_PATHS
        ):
            return await ContextEntry.enter_async(
                context_manager_of(result), label, owner, init_timeout, dispose_timeout
            )
        entry: ContextEntry = _new_object(entry_cls)  # what differs per entry:
        entry.cm, entry.scope_label = result, owner.label
        # on the instance, though None: a class-default read costs twice (3.11)
        entry.waiter = entry.holder = entry.more_holders = None
        started = _perf()
        scope_before = _anyio_scope()
        try:
            value = await result.__anext__()
        except BaseException as exc:
            entry._raise_failed(_enter_error(exc), started, created=True)
        entry.shieldable = _anyio_scope() is scope_before is not UNKNOWN
        entry.instance = value
        if gone := entry._succeeded(owner, started, True):  # the scope exited meanwhile
            await _disown_async(entry, gone)
        return value

    return aenter


def _anyio_scope() -> Any:
    """The current task's innermost anyio cancel scope (None before anyio ran on asyncio):
    compared around entering an async context factory, to tell whether it left one open
    across its ``yield`` (ContextEntry.shieldable)."""
    if ANYIO_BACKEND not in sys.modules:
        return None
    return anyio_innermost_scope(current_task())


def _enter_error(exc: BaseException) -> BaseException:
    """What entering a context factory's result raised, as its failed initialization
    counts and raises it: a bare generator that ended before it yielded is told in
    contextlib's words."""
    if type(exc) is StopIteration or type(exc) is StopAsyncIteration:
        return RuntimeError("generator didn't yield")
    return exc


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
