"""The resource state machine. It exists here once; scopes and the container drive it.

One :class:`ResourceState` per resource *instance* walks
created -> initializing -> live -> disposing -> disposed (and may be activated again).
Its neighbours, each with one job: :mod:`~injectq.lifecycle.specs` reads a resource class
once, :mod:`~injectq.lifecycle.calls` calls user code (timeouts, the running task),
:mod:`~injectq.lifecycle.fresh` is the fast path of a just-constructed instance (the same
transitions, fewer steps), :mod:`~injectq.lifecycle.entries` drives generator and
context-manager factories.

States and entries sit on an owner's disposal stack (a scope or the container's root)
and are released there in reverse order of successful initialization. The user's own
calls to ``initialize()`` / ``dispose()`` go through the same state, so they and the
container's calls are one call per activation.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

from injectq.lifecycle.attachment import (
    aside_in_use,
    aside_state,
    attached_state,
    del_attribute,
    keep_aside,
)
from injectq.lifecycle.calls import (
    _FINISHED,
    _Coroutine,
    _finish_in_this_task,
    _get_ident,
    _loop_running,
    _me,
    _perf,
    _run_awaitable,
    _timed_await,
    _timed_call,
    _transition,
    current_task,
    loop_running,
)
from injectq.lifecycle.disown import disown_async as _disown_async
from injectq.lifecycle.disown import disown_sync as _disown_sync
from injectq.lifecycle.monitor import ResourceMonitor, ResourceTypeStats
from injectq.lifecycle.specs import (
    _STATE_ATTR,
    STATE_ATTR,
    ResourceSpec,
    is_resource_class,
    kind_by_result,
    resource_spec,
)
from injectq.lifecycle.states import (
    CREATED,
    DISPOSED,
    DISPOSING,
    INITIALIZING,
    LIVE,
    STATUS_NAMES,
    Owner,
)
from injectq.utils.exceptions import (
    ResourceInitializationError,
    ScopeError,
    describe_key,
)
from injectq.utils.internals import FAST_PATHS

if TYPE_CHECKING:  # annotations only: asyncio is imported where async code runs
    import asyncio
    import concurrent.futures


__all__ = [
    "CREATED",
    "DISPOSED",
    "DISPOSING",
    "INITIALIZING",
    "LIVE",
    "STATE_ATTR",
    "Owner",
    "ResourceSpec",
    "ResourceState",
    "current_task",
    "is_resource_class",
    "kind_by_result",
    "loop_running",
    "resource_spec",
    "state_of",
]

_log = logging.getLogger("injectq.resources")


_acquire, _release = _transition.acquire, _transition.release


# --------------------------------------------------------------------------- states
def state_of(instance: Any, key: Any = None, spec: ResourceSpec | None = None) -> ResourceState:
    """The state of a resource instance, created on first use (with ``spec``, the bound
    class's, when the container knows it; else its own class's)."""
    st = attached_state(instance)
    if st is not None:
        return st
    st = aside_state(instance)
    if st is not None:
        return st
    if spec is None:
        spec = resource_spec(type(instance))
    if spec is None:
        raise TypeError(f"{type(instance).__qualname__} is not a resource")
    with _transition:
        st = attached_state(instance) or aside_state(instance)
        if st is None:
            st = ResourceState(instance, spec, key)
            try:
                object.__setattr__(instance, _STATE_ATTR, st)
            except (AttributeError, TypeError):
                keep_aside(instance, st)
    return st


def resource_label(key: Any) -> str:
    """How a resource is named in metrics, logs and health reports: the string key
    itself, or the class name as error paths show it."""
    return key if isinstance(key, str) else describe_key(key)


def _describe(key: Any, instance: Any) -> str:
    return resource_label(type(instance) if key is None else key)


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
    #: one holder at a time, taken and let go by its owner's stack: the usual scope exit
    #: claims the disposal without the lock (see _claim_dispose); fresh states and
    #: context entries, never with ``INJECTQ_FAST_PATHS=0`` (every claim takes the lock)
    fresh = False
    #: made by the container for an instance it constructed: detached again once
    #: disposed, so the instance <-> state cycle never outlives the activation
    detaches = False
    #: the monitor's counters of this type, which the state machine counts into itself
    #: (see ResourceMonitor.type_stats): set with the monitor (fresh states: on their class)
    counts: ResourceTypeStats  # no default: read only where a monitor is set
    #: the binding's key (None: a user-managed instance; context entries have none)
    key: Any = None
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
        self.type_name = spec.type_name
        self.status = CREATED if spec.init is not None else LIVE
        self.live_since = _perf()
        self.init_timeout = spec.init_timeout
        self.dispose_timeout = spec.dispose_timeout

    def __repr__(self) -> str:
        return f"<ResourceState {self.label} {STATUS_NAMES[self.status]}>"

    @property
    def is_live(self) -> bool:
        """Whether the resource is initialized and not disposed (usable)."""
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
            self._created()
            if self.status == LIVE:  # no initialize(): live from creation, counted as such
                self._succeeded(None, _perf())

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
                aside_in_use.add(self)
            return True, None

    def _succeeded(
        self, owner: Owner | None, started: float, created: bool = False
    ) -> Owner | None:
        """The transition to live, for every activation: held by ``owner`` (or the
        scheduling owner) and on its stack, in one turn of the lock. ``created``: a fresh
        activation, counted as created and initialized at once. Returns the owner when it
        has closed meanwhile (see :func:`_disown_sync`), else None."""
        now = _perf()
        if created and owner is not None:
            # A fresh activation takes no lock: no other scope can hold it yet. It is held
            # and on the stack before it is live, so a user's dispose() from another thread
            # that sees it live finds it there (_claim_dispose); a user's initialize() that
            # came to wait posted its waiter before it looked at the status again (_begin),
            # so it is seen below.
            self.live_since = now
            self.holder = owner
            owner.stack.append(self)
            self.status = LIVE
            self.initializer = None
            waiter = None
            if self.waiter is not None:
                with _transition:
                    waiter, self.waiter = self.waiter, None
        else:
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
        # the monitor's counts of going live, here only (no call: this runs per activation)
        monitor = self.monitor
        if monitor is not None and monitor.enabled:
            counts = self.counts
            if created:  # a fresh activation: one counter for created and initialized
                counts.activated += 1
            else:
                counts.initialized += 1
            counts.init_durations.append(now - started)
            if monitor._subscribers:
                monitor.publish_live(self, now - started, created)
        if waiter is not None:
            waiter.set_result(None)
        return owner if owner is not None and owner.closed else None

    def _created(self) -> None:
        """The monitor's count of a creation, here only: a state bound to its first owner
        (:meth:`bind_owner`), or a fresh activation that does not go live in one step (its
        initialization failed, or returned an awaitable). A fresh activation that does
        goes live as ``activated`` (:meth:`_succeeded`): one count for the two."""
        monitor = self.monitor
        if monitor is not None and monitor.enabled:
            self.counts.created += 1
            if monitor._subscribers:
                monitor.publish_created(self)

    def _raise_failed(self, exc: BaseException, started: float, created: bool = False) -> NoReturn:
        """The initialization raised ``exc``: record it (:meth:`_failed`), then raise it as a
        ``ResourceInitializationError`` (the original as its cause; an error that already
        is one keeps its own). A cancellation or an interrupt goes through unchanged."""
        error = self._failed(exc, started, created)
        if not isinstance(exc, Exception):
            raise exc
        raise error from error.__cause__

    def _failed(
        self, exc: BaseException, started: float, created: bool = False
    ) -> ResourceInitializationError:
        """The transition of a failed initialization, for every activation (context
        entries and fresh activations included): back to created, the waiters told, and
        counted. ``created``: a fresh activation, whose creation is counted with it."""
        error = _init_error(self.label, exc)
        with _transition:
            self.status = CREATED
            self.initializer = None
            waiter, self.waiter = self.waiter, None
            if self.kept_aside:
                aside_in_use.discard(self)  # idle: goes with its last user
        if created:
            self._created()
        # the monitor's count of a failed initialization, here only
        monitor = self.monitor
        if monitor is not None and monitor.enabled:
            self.counts.init_errors += 1
            if monitor._subscribers:
                monitor.publish_init_failed(self, _perf() - started, exc)
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
                _refuse_awaitable(result, self.label)
        except BaseException as exc:
            self._raise_failed(exc, started)
        if gone := self._succeeded(owner, started):
            _disown_sync(self, gone)
        return None

    async def initialize_async(self, owner: Owner | None) -> None:
        """The async twin of :meth:`initialize_sync`: initialize (or join the
        initialization) in this task."""
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
            self._raise_failed(exc, started)
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
            self._raise_failed(exc, started)
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
                    self._raise_failed(exc, started)
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
            aside_in_use.discard(self)  # still DISPOSING: no claim can race this
        if self.detaches:
            # detached while still DISPOSING: a user's initialize() from another thread
            # either finds this state busy, or no state and starts a new activation; never
            # a disposed state that is then detached under it
            instance = self.instance
            try:  # _attached_state, inlined
                if instance._injectq_resource_state is self:
                    if type(instance).__delattr__ is del_attribute:
                        del instance._injectq_resource_state  # the same, without its call
                    else:  # the class's own __delattr__ may refuse or delegate
                        del_attribute(instance, _STATE_ATTR)
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
        # the monitor's counts of a disposal, here only (as in _succeeded)
        monitor = self.monitor
        if monitor is not None and monitor.enabled:
            counts = self.counts
            lifetime = now - self.live_since
            counts.disposed += 1
            counts.dispose_durations.append(now - started)
            counts.lifetimes.append(lifetime)
            if lifetime > counts.max_lifetime:  # noqa: PLR1730  # a branch, not a call
                counts.max_lifetime = lifetime
            if error is not None:
                counts.dispose_errors += 1
            if monitor._subscribers:
                monitor.publish_disposed(self, now - started, lifetime, error)
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
            except BaseException as raised:
                error = raised
        return self._disposed(started, error)

    @property
    def needs_async_release(self) -> bool:
        """Whether disposing it needs the async path (an ``async def dispose()``, or one not
        known until it runs)."""
        return self.spec.dispose_async is not False

    def dispose_sync_by_user(self) -> BaseException | None:
        """A user's own ``dispose()`` call, sync: disposes it now whoever holds it; the error,
        or None."""
        return self.release_sync(None, None)  # no owner: every hold goes

    async def dispose_async_by_user(self) -> BaseException | None:
        """A user's own ``await dispose()``: disposes it now whoever holds it; the error, or None."""
        if not self._claim_dispose(None):
            return None
        return await self._dispose_async_now()


def _async_dispose_in_sync_scope(label: str) -> ScopeError:
    return ScopeError(
        f"{label} has an async dispose() and cannot be owned by a sync scope. "
        "Use `async with container.scope(...)` / `async with container.resource_scope()`."
    )


def _refuse_awaitable(result: Awaitable[Any], label: str) -> NoReturn:
    """An initialize() async by what it returned, reached from sync code with no loop:
    close the coroutine (no "never awaited" warning) and raise the error that says so."""
    if inspect.iscoroutine(result):
        result.close()
    raise _returned_awaitable(label)


def _returned_awaitable(label: str) -> ResourceInitializationError:
    return ResourceInitializationError(
        f"{label}.initialize() returned an awaitable, so it is async: resolve it with "
        "`await container.aget(...)` inside a running event loop."
    )
