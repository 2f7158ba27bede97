"""Creation claims: one creation per key in flight, everyone else joins it.

A singleton being created is claimed in the container's in-flight dict; a scoped key in
its scope's cache. The uncontended path takes no lock and allocates no future: a second
caller upgrades the claim to a :class:`CreationSlot` it can wait on, under one small
guard. A claim records who creates (thread, and task in async code), so a caller that
would wait for its own creation gets an error instead of a deadlock.

This module knows nothing of plans or bindings: the singleton walk
(:mod:`injectq.core.singletons`) and the generated scoped resolvers
(:mod:`injectq.core.resolvers`) call it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from injectq.lifecycle.machine import current_task
from injectq.utils.exceptions import (
    CircularDependencyError,
    InjectionError,
    InjectQError,
    describe_key,
)

if TYPE_CHECKING:
    import asyncio

    from injectq.core.scopes import Scope

__all__ = [
    "MISS",
    "NO_VALUE",
    "Claim",
    "CreationSlot",
    "abort_claim",
    "join_claim_async",
    "join_claim_sync",
    "join_slot_async",
    "join_slot_sync",
    "release_claim",
    "slot_for_claim",
    "thread_claim",
    "thread_claims",
    "wake_waiters",
]

#: "no value": what the singleton claims return when the value is not ready (shared by
#: every module that looks values up, so one identity test tells it)
MISS: Any = object()

# ---------------------------------------------------------------------- creation slots
# One in-flight creation per key (a singleton in the container, a scoped key in its
# scope): the first caller builds, everyone else joins its future. The slot records who
# builds it (thread, and task for async builds), so a caller that would wait for itself
# gets an error instead of a deadlock.


class CreationSlot:
    """Marks a key being created, so concurrent callers wait for that one creation.

    Much cheaper than a ``concurrent.futures.Future`` on the uncontended path (no
    Condition, no lock): the Event or asyncio futures exist only once someone waits.
    """

    __slots__ = ("done", "error", "event", "task", "thread", "value", "waiters")

    def __init__(self, thread: int, task: object) -> None:
        self.thread = thread
        self.task = task
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.event: threading.Event | None = None
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] | None = None

    def _finish(self, value: Any, error: BaseException | None) -> None:
        with _slot_guard:
            self.value, self.error, self.done = value, error, True
            event, waiters = self.event, self.waiters
        if event is not None:
            event.set()
        if waiters:
            for loop, future in waiters:
                loop.call_soon_threadsafe(_settle, future, value, error)

    def set_result(self, value: Any) -> None:
        """Finish the creation with ``value`` and wake every waiter."""
        self._finish(value, None)

    def set_exception(self, error: BaseException) -> None:
        """Finish the creation with ``error`` and wake every waiter (each one raises it)."""
        self._finish(None, error)

    def result(self) -> Any:
        """Block until the creation is finished; its value, or raise its error."""
        event: threading.Event | None = None
        with _slot_guard:
            if not self.done:
                if self.event is None:
                    self.event = threading.Event()
                event = self.event
        if event is not None:
            event.wait()
        if self.error is not None:
            raise self.error
        return self.value

    async def aresult(self) -> Any:
        """The async twin of :meth:`result`: waits without blocking the event loop."""
        import asyncio

        future: asyncio.Future[Any] | None = None
        with _slot_guard:
            if not self.done:
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                if self.waiters is None:
                    self.waiters = []
                self.waiters.append((loop, future))
        if future is not None:
            return await future
        if self.error is not None:
            raise self.error
        return self.value


_slot_guard = threading.Lock()


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


# ---------------------------------------------------------------------- singleton claims
# A singleton being created is claimed in the container's ``_inflight`` with the
# creating thread's id (or, in async code, a (task, thread id) pair); a second caller
# upgrades the claim to a CreationSlot it can wait on.


def slot_for_claim(
    inflight: dict[Any, Any], cache: dict[Any, Any], key: Any, claimed: Any
) -> tuple[Any, CreationSlot | None]:
    """(the value if it is ready, else the slot to wait on); a creator's bare thread id
    is upgraded to a slot under the guard, so the creator wakes us when done."""
    if isinstance(claimed, CreationSlot):
        return MISS, claimed
    with _slot_guard:
        value = cache.get(key, MISS)
        if value is not MISS:
            return value, None
        current = inflight.get(key)
        if current is None or isinstance(current, CreationSlot):
            return MISS, current
        if isinstance(current, tuple):  # an async creator: (task, thread id)
            slot = inflight[key] = CreationSlot(current[1], current[0])
        else:  # a sync creator's thread id
            slot = inflight[key] = CreationSlot(current, None)
        # the creator may have finished (cache set, claim popped without the guard)
        # between our look at the cache and posting the slot: look again
        value = cache.get(key, MISS)
        if value is not MISS:
            if inflight.get(key) is slot:
                del inflight[key]
            return value, None
        return MISS, slot


def release_claim(
    inflight: dict[Any, Any], key: Any, value: Any, error: BaseException | None
) -> None:
    """The creator is done: free the claim and wake whoever waits on it."""
    with _slot_guard:
        claimed = inflight.pop(key, None)
    if isinstance(claimed, CreationSlot):
        if error is None:
            claimed.set_result(value)
        else:
            fail_slot(claimed, error, key)


# ---------------------------------------------------------------------- scoped claims
# A scoped key being created holds a Claim in the scope's cache in place of its value:
# one setdefault both looks the key up and claims it, so the uncontended path takes no
# lock. A second caller posts a CreationSlot in ``scope.waiting`` under the guard and
# looks at the cache again; the creator stores the value, then looks for waiters. Each
# side writes before it reads, so at least one of them sees the other.


class Claim:
    """Who is creating a scoped key: the thread, and the task for async creation (so a
    creation that would wait for itself is told apart from one to wait for)."""

    __slots__ = ("task", "thread")

    def __init__(self, thread: int, task: object) -> None:
        self.thread = thread
        self.task = task

    def __repr__(self) -> str:
        return f"<Claim thread={self.thread} task={self.task!r}>"


#: What a lookup of a missing key returns: a Claim, so one type test covers "missing"
#: and "being created".
NO_VALUE = Claim(-1, None)
thread_claims = threading.local()


def thread_claim() -> Claim:
    """The calling thread's claim for sync creations (made once per thread)."""
    claim = thread_claims.claim = Claim(threading.get_ident(), None)
    return claim


def _post_waiter(scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim) -> Any:
    """A slot to wait on while ``claim`` holds ``key``, or what the cache holds now."""
    with _slot_guard:
        current = cache.get(key, NO_VALUE)
        if current is not claim:
            return current
        waiting = scope.waiting
        if waiting is None:
            waiting = scope.waiting = {}
        slot = waiting.get(key)
        if slot is None:
            slot = waiting[key] = CreationSlot(claim.thread, claim.task)
        return slot


def _claim_gone(label: str) -> InjectionError:
    return InjectionError(f"the creation of {label} failed in another thread or task; try again")


def join_claim_sync(scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, label: str) -> Any:
    """Wait for the creation of ``key`` that ``claim`` holds, and return its value."""
    while True:
        _refuse_own_creation(claim.thread, claim.task, label)
        found = _post_waiter(scope, cache, key, claim)
        if type(found) is CreationSlot:
            return found.result()
        if found is NO_VALUE:
            raise _claim_gone(label)
        if type(found) is not Claim:
            return found
        claim = found  # claimed again by someone else meanwhile


async def join_claim_async(
    scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, label: str
) -> Any:
    """The async twin of :func:`join_claim_sync`."""
    while True:
        if claim.thread == threading.get_ident() and (
            claim.task is None or claim.task is current_task()
        ):
            raise CircularDependencyError([label, label])
        found = _post_waiter(scope, cache, key, claim)
        if type(found) is CreationSlot:
            return await found.aresult()
        if found is NO_VALUE:
            raise _claim_gone(label)
        if type(found) is not Claim:
            return found
        claim = found


def wake_waiters(scope: Scope, key: Any, value: Any) -> None:
    """The creator stored ``key``'s value: wake whoever waits for it."""
    with _slot_guard:
        slot = scope.waiting.pop(key, None) if scope.waiting else None
    if slot is not None:
        slot.set_result(value)


def abort_claim(
    scope: Scope, cache: dict[Any, Any], key: Any, claim: Claim, error: BaseException
) -> None:
    """The creation failed: free the key (the next access tries again) and hand the
    error to whoever waits."""
    with _slot_guard:
        if cache.get(key) is claim:
            del cache[key]
        slot = scope.waiting.pop(key, None) if scope.waiting else None
    if slot is not None:
        fail_slot(slot, error, key)


def fail_slot(slot: CreationSlot, exc: BaseException, key: Any) -> None:
    """Hand ``exc`` to the waiters of ``slot`` (an interruption as an error of its own)."""
    if not isinstance(exc, Exception):
        exc = InjectQError(f"creation of {describe_key(key)} was interrupted")
    slot.set_exception(exc)


def _refuse_own_creation(thread: int, task: object, label: str) -> None:
    """A sync caller must not wait for a creation its own thread holds: a sync one is a
    cycle, an async one (a task of this thread's loop) could never finish meanwhile."""
    if thread == threading.get_ident():
        if task is None:
            raise CircularDependencyError([label, label])
        raise InjectionError(
            f"{label} is being created by `await container.aget({label})` in this thread's "
            f"event loop; a sync get here would block that loop. Use "
            f"`await container.aget({label})`."
        )


def join_slot_sync(slot: CreationSlot, label: str) -> Any:
    """Wait for the singleton creation ``slot`` stands for, and return its value."""
    _refuse_own_creation(slot.thread, slot.task, label)
    return slot.result()


async def join_slot_async(slot: CreationSlot, label: str) -> Any:
    """The async twin of :func:`join_slot_sync`."""
    if slot.thread == threading.get_ident() and (slot.task is None or slot.task is current_task()):
        raise CircularDependencyError([label, label])
    return await slot.aresult()
