"""Scopes: a cache of scoped instances plus a disposal stack, and nothing else.

A scope is entered with ``with`` or ``async with``; the innermost scope lives in the
container's ``ContextVar`` so each thread and asyncio task sees its own, and tasks created
inside a scope inherit it. The container's root is a scope too (it owns singletons).
Leaving a scope releases its stack in reverse order through the resource state machine.
"""

from __future__ import annotations

import logging
import sys
import warnings
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from injectq.core._anyio import ANYIO_BACKEND, shield, shields_needed
from injectq.core.bindings import ScopeType  # re-exported: InjectQ's import path
from injectq.lifecycle.machine import CREATED, ResourceState, current_task
from injectq.lifecycle.monitor import ResourceMonitor
from injectq.utils.exceptions import (
    ResourceDisposalError,
    ResourceInitializationError,
    ScopeError,
)

if TYPE_CHECKING:
    import asyncio

    from injectq.core.container import InjectQ

__all__ = ["Scope", "ScopeType"]

_modules = sys.modules

_log = logging.getLogger("injectq.resources")


class Scope:
    """One scope activation. Named scopes (``"request"``) cache scoped bindings; every
    scope owns the resources activated while it is the innermost one.

    Kept small on purpose: entering and leaving a scope is on every request's path, so
    what only resources need (monitor, timeouts, pending initializations) is looked up
    or created when a resource first needs it.
    """

    # No __slots__, and every attribute read on the hot path set here, even to None: on
    # 3.11 reading an attribute that only the class defines costs about twice one the
    # instance holds, and the resolvers read ``waiting`` once per key they build.
    # (``parent`` and ``is_async`` are set on entering; the root, never entered, reads
    # these defaults.)
    parent: Scope | None = None
    is_async: bool | None = None

    def __init__(self, container: InjectQ, name: str | None, label: str | None = None) -> None:
        self.container = container
        self.name = name
        self.cache: dict[Any, Any] = {}
        self.stack: list[Any] = []
        self.closed = False
        self._token: Token[Scope] | None = None
        self._pending: list[asyncio.Task[Any]] | None = None
        self._failures: list[tuple[ResourceState, BaseException]] | None = None
        #: key -> slot of callers waiting for a creation in progress (the compiler's claims)
        self.waiting: dict[Any, Any] | None = None
        # how it is named in metrics and errors: its name, unless told (root, anonymous)
        self.label = label or name or "resource_scope"

    @property
    def monitor(self) -> ResourceMonitor:
        """The container's resource monitor, which counts this scope's resources."""
        return self.container.resource_monitor

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Scope {self.label} {state}, {len(self.stack)} resource(s)>"

    # -- what the resource state machine needs (see lifecycle.states.Owner) ---------------------
    @property
    def default_init_timeout(self) -> float | None:
        """The container's default ``initialize()`` timeout (async calls), or None."""
        return self.container._default_init_timeout

    @property
    def default_dispose_timeout(self) -> float | None:
        """The container's default ``dispose()`` timeout (async calls), or None."""
        return self.container._default_dispose_timeout

    @property
    def pending(self) -> list[asyncio.Task[Any]]:
        """Initializations ``get()`` scheduled in a running loop; joined at exit."""
        if self._pending is None:
            self._pending = []
        return self._pending

    @property
    def failures(self) -> list[tuple[ResourceState, BaseException]]:
        """Resources whose scheduled initialization failed and that no one was told about;
        raised at the scope's exit."""
        if self._failures is None:
            self._failures = []
        return self._failures

    # -- entering ------------------------------------------------------------------------
    def _enter(self, is_async: bool) -> Self:
        if self._token is not None or self.closed:
            raise ScopeError(
                f"Scope {self.label!r} was already entered; create a new one with "
                "container.scope(...) for each use."
            )
        var = self.container._scope_var
        self.parent = var.get()
        self.is_async = is_async
        self._token = var.set(self)
        return self

    def __enter__(self) -> Self:
        # _enter() inlined: this is on every request's path
        if self._token is not None or self.closed:
            return self._enter(False)  # raises the error
        var = self.container._scope_var
        self.parent = var.get()
        self.is_async = False
        self._token = var.set(self)
        return self

    async def __aenter__(self) -> Self:
        # _enter() inlined, as in __enter__
        if self._token is not None or self.closed:
            return self._enter(True)  # raises the error
        var = self.container._scope_var
        self.parent = var.get()
        self.is_async = True
        self._token = var.set(self)
        return self

    def _leave_context(self) -> None:
        token = self._token
        if token is None:
            return
        var = self.container._scope_var
        current = var.get()
        if current is not self and current is not None and _encloses(self, current):
            # an outer scope exited before an inner one: refused, nothing changed (the
            # reset would point the context at this scope once the inner one exits)
            raise ScopeError(
                f"Scope {self.label!r} exited while an inner scope ({current.label!r}) it "
                "encloses is still open. Exit scopes in the reverse order of entering them "
                "(`with` blocks do); exit the inner scope first."
            )
        self._token = None
        try:
            var.reset(token)
        except ValueError:
            self._restore_parent()

    def _restore_parent(self) -> None:
        # exited in another context than entered (e.g. a framework's generator
        # dependency): the token cannot reset it, so restore the parent explicitly
        if self.parent is not None:
            self.container._scope_var.set(self.parent)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # _leave_context's usual case (the innermost scope, left in the context it was
        # entered in) is written in both exits: a call for it cost ~1.5 % of a request
        # scope; keep the two in step
        var = self.container._scope_var
        if var.get() is self and (token := self._token) is not None:
            self._token = None
            try:
                var.reset(token)
            except ValueError:
                self._restore_parent()
        else:
            self._leave_context()
        errors, interrupt = self.close_sync(exc)
        if errors or interrupt is not None:
            _raise_after_exit(self.label, errors, interrupt, exc)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # _leave_context's usual case (the innermost scope, left in the context it was
        # entered in) is written in both exits: a call for it cost ~1.5 % of a request
        # scope; keep the two in step
        var = self.container._scope_var
        if var.get() is self and (token := self._token) is not None:
            self._token = None
            try:
                var.reset(token)
            except ValueError:
                self._restore_parent()
        else:
            self._leave_context()
        errors, interrupt = await self.close_async(exc)
        if errors or interrupt is not None:
            _raise_after_exit(self.label, errors, interrupt, exc)

    # -- closing: one loop per colour, for a scope's exit and the container's close ----
    def close_sync(
        self, exc: BaseException | None = None
    ) -> tuple[list[Exception], BaseException | None]:
        """Release the stack in reverse order; return (failures, first interruption).
        Every entry is released whatever the others did (DESIGN §3.5). ``exc``: what the
        scope's body raised, handed to each disposal (a generator sees it at its yield)."""
        self.closed = True
        if self._pending:
            raise ScopeError(
                f"Scope {self.label!r} has async initializations in flight; "
                "close it with `async with` / `await container.aclose()`."
            )
        errors: list[Exception] = []
        interrupt: BaseException | None = None
        stack = self.stack
        while stack:
            entry = stack.pop()
            try:
                err = entry.release_sync(self, exc)
            except BaseException as unexpected:  # release_* return errors; belt and braces
                err = unexpected
            if err is not None:
                interrupt = _file(err, errors, interrupt)
        if self._failures is not None:
            self._collect_failures(errors)
        self.cache.clear()
        return errors, interrupt

    async def close_async(
        self, exc: BaseException | None = None
    ) -> tuple[list[Exception], BaseException | None]:
        """The async twin of :meth:`close_sync`, in the calling task: every disposal runs
        here, before and after each of its awaits (DESIGN §3.5, task affinity).

        Cancellation: under anyio the teardown is shielded (``core._anyio``). A raw
        ``task.cancel()`` reaches the disposal in progress, as in any asyncio code; the
        remaining disposals still run, and the cancellation is returned as the
        interruption (re-raised once everything is disposed), so ``asyncio.timeout`` and
        ``TaskGroup`` around a scope keep working. A disposal that swallows a
        cancellation meant for this task does not make it vanish: the task's
        ``cancelling()`` count tells, and a ``CancelledError`` is still returned."""
        self.closed = True
        errors: list[Exception] = []
        interrupt: BaseException | None = None
        if self._pending:
            interrupt = await self._join_pending()
        task: asyncio.Task[Any] | None = None
        cancelling = 0
        stack = self.stack
        # under anyio: a shield around each async disposal (core._anyio)
        shielding = ANYIO_BACKEND in _modules and shields_needed(current_task())
        while stack:
            entry = stack.pop()
            try:
                if shielding and entry.needs_async_release and entry.shieldable:
                    with shield():
                        err, rest = entry.release_step(self, exc)
                        if rest is not None:
                            err = await rest
                else:
                    err, rest = entry.release_step(self, exc)
                    if rest is not None:  # the disposal suspended: the rest, in this task
                        if task is None and (task := current_task()) is not None:
                            cancelling = task.cancelling()
                        err = await rest
            except BaseException as unexpected:  # release_* return errors
                err = unexpected
            if err is not None:
                interrupt = _file(err, errors, interrupt)
        if interrupt is None and task is not None and task.cancelling() > cancelling:
            interrupt = sys.modules["asyncio"].CancelledError()
        if self._failures is not None:
            self._collect_failures(errors)
        self.cache.clear()
        return errors, interrupt

    async def _join_pending(self) -> BaseException | None:
        """Wait for the initializations ``get()`` scheduled in a running loop: they belong
        to this scope. Their failures were recorded in ``failures``; a cancellation that
        arrives meanwhile is returned once they are done."""
        import asyncio

        interrupt: BaseException | None = None
        while self._pending:
            task = self._pending.pop()
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError as cancelled:
                if not task.done():
                    interrupt = interrupt or cancelled
                    await _wait_shielded(task)
            except BaseException:  # noqa: S110  # not lost: see the comment below
                pass  # recorded in self.failures, or delivered to a waiter
        return interrupt

    def _collect_failures(self, errors: list[Exception]) -> None:
        """Scheduled initializations that failed and were never reported to anyone."""
        failures, self._failures = self._failures, None
        if not failures:
            return
        for state, error in failures:
            if (
                state.status == CREATED
                and isinstance(error, Exception)
                and not any(err is error for err in errors)  # a dependency's, shared
            ):
                errors.append(error)

    def __del__(self) -> None:
        if self.closed or (self.parent is None and self._token is None and not self.stack):
            return
        live = [getattr(entry, "label", repr(entry)) for entry in self.stack if entry.is_live]
        if live:
            warnings.warn(
                f"Scope {self.label!r} was garbage-collected with live resources: "
                f"{', '.join(live)}. Use `with`/`async with` so they are disposed.",
                ResourceWarning,
                stacklevel=1,
            )


def _file(
    err: BaseException, errors: list[Exception], interrupt: BaseException | None
) -> BaseException | None:
    """File what a release returned: a failure among ``errors``; an interruption
    (cancellation, KeyboardInterrupt) as the one to re-raise, unless one came first.
    Returns the interruption."""
    if isinstance(err, Exception):
        errors.append(err)
        return interrupt
    return interrupt if interrupt is not None else err


def _encloses(scope: Scope, inner: Scope) -> bool:
    """Whether ``inner`` is an open scope entered inside ``scope``."""
    parent = inner.parent
    while parent is not None:
        if parent is scope:
            return not inner.closed
        parent = parent.parent
    return False


async def _wait_shielded(task: asyncio.Future[Any]) -> None:
    """Wait for ``task`` to finish even if we are cancelled (again) meanwhile."""
    import asyncio

    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except BaseException:
            return


def _raise_after_exit(
    label: str,
    errors: list[Exception],
    interrupt: BaseException | None,
    body_exc: BaseException | None,
) -> None:
    """Report disposal failures: raised when the body succeeded, attached as notes when
    the body raised; an interruption (cancellation, KeyboardInterrupt) wins after
    everything was disposed."""
    if interrupt is not None:
        for err in errors:
            interrupt.add_note(f"disposal also failed: {err!r}")
        raise interrupt
    if not errors:
        return
    if body_exc is None:
        disposals = sum(1 for err in errors if not isinstance(err, ResourceInitializationError))
        what = f"{disposals} resource(s) failed to dispose"
        if disposals < len(errors):
            # initializations scheduled by get() in a running loop that failed unobserved
            what += f", {len(errors) - disposals} scheduled initialization(s) failed"
        raise ResourceDisposalError(f"{what} at the exit of scope {label!r}", errors)
    for err in errors:
        notes = "; ".join(getattr(err, "__notes__", []) or [])
        body_exc.add_note(
            f"disposal failed: {err!r} ({notes})" if notes else f"disposal failed: {err!r}"
        )
