"""DESIGN §3.1/§3.2: exactly once, lazy, user calls join the container's."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, ResourceDisposalError, ResourceInitializationError, resource


def make_async_db(path: Path, gate: asyncio.Event | None = None) -> type:
    @resource
    class AsyncDb:
        inits = 0
        disposals = 0

        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        async def initialize(self) -> None:
            type(self).inits += 1
            if gate is not None:
                await gate.wait()
            else:
                for _ in range(5):
                    await asyncio.sleep(0)
                await asyncio.sleep(0.01)
            self.conn = sqlite3.connect(path, check_same_thread=False)
            self.conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

        async def dispose(self) -> None:
            type(self).disposals += 1
            assert self.conn is not None
            self.conn.close()
            self.conn = None

    return AsyncDb


def make_sync_db(path: Path) -> type:
    @resource
    class SyncDb:
        inits = 0
        disposals = 0
        lock = threading.Lock()

        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        def initialize(self) -> None:
            with self.lock:
                type(self).inits += 1
            threading.Event().wait(0.05)  # slow: everyone else arrives meanwhile
            self.conn = sqlite3.connect(path, check_same_thread=False)

        def dispose(self) -> None:
            type(self).disposals += 1
            assert self.conn is not None
            self.conn.close()
            self.conn = None

    return SyncDb


async def test_1000_tasks_initialize_lazy_singleton_once(tmp_path: Path) -> None:
    Db = make_async_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(Db, Db)
    assert Db.inits == 0  # lazy: binding does nothing
    results = await asyncio.gather(*(c.aget(Db) for _ in range(1000)))
    first = results[0]
    assert all(r is first for r in results)
    assert Db.inits == 1
    assert first.conn is not None
    first.conn.execute("INSERT INTO t VALUES (1)")
    await c.aclose()
    assert Db.disposals == 1
    assert first.conn is None


async def test_1000_tasks_initialize_bound_instance_once_in_one_scope(tmp_path: Path) -> None:
    Db = make_async_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    db = Db()
    c.bind_instance(Db, db)
    async with c.resource_scope():
        results = await asyncio.gather(*(c.aget(Db) for _ in range(1000)))
        assert all(r is db for r in results)
        assert Db.inits == 1
        assert db.conn is not None
    assert Db.disposals == 1


def test_32_threads_initialize_lazy_singleton_once(tmp_path: Path) -> None:
    Db = make_sync_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(Db, Db)
    barrier = threading.Barrier(32)
    seen: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            seen.append(c.get(Db))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(seen) == 32
    assert all(s is seen[0] for s in seen)
    assert Db.inits == 1
    c.close()
    assert Db.disposals == 1


def test_32_threads_calling_initialize_on_one_instance_run_it_once(tmp_path: Path) -> None:
    Db = make_sync_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    db = Db()
    c.bind_instance(Db, db)
    barrier = threading.Barrier(33)
    errors: list[BaseException] = []

    def user_call() -> None:
        try:
            barrier.wait()
            db.initialize()
            assert db.conn is not None
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=user_call) for _ in range(32)]
    for t in threads:
        t.start()
    with c.resource_scope():
        barrier.wait()
        assert c.get(Db) is db
        assert db.conn is not None
        for t in threads:
            t.join(10)
    assert errors == []
    assert Db.inits == 1
    assert Db.disposals == 1  # the scope was one holder; user calls joined its activation


async def test_user_initialize_joins_container_call(tmp_path: Path) -> None:
    gate = asyncio.Event()
    Db = make_async_db(tmp_path / "db.sqlite3", gate)
    c = InjectQ()
    db = Db()
    c.bind_instance(Db, db)
    async with c.resource_scope():
        getter = asyncio.create_task(c.aget(Db))
        for _ in range(5):
            await asyncio.sleep(0)
        assert Db.inits == 1
        # the user's own calls, made while the container's is in flight, wait for it
        user_calls = [asyncio.create_task(db.initialize()) for _ in range(10)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not getter.done()
        assert not any(t.done() for t in user_calls)
        gate.set()
        assert await getter is db
        await asyncio.gather(*user_calls)
        assert db.conn is not None
        assert Db.inits == 1
        await db.initialize()  # once live: a no-op, not a second initialization
        assert Db.inits == 1
    assert Db.disposals == 1


async def test_user_initialize_first_then_container_joins(tmp_path: Path) -> None:
    gate = asyncio.Event()
    Db = make_async_db(tmp_path / "db.sqlite3", gate)
    c = InjectQ()
    db = Db()
    c.bind_instance(Db, db)
    async with c.resource_scope():
        user = asyncio.create_task(db.initialize())
        for _ in range(3):
            await asyncio.sleep(0)
        getter = asyncio.create_task(c.aget(Db))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not getter.done()
        gate.set()
        await user
        assert await getter is db
        assert Db.inits == 1
    # the scope took ownership when it activated it: disposed at exit
    assert Db.disposals == 1
    assert db.conn is None


async def test_get_in_running_loop_schedules_and_aget_joins(tmp_path: Path) -> None:
    gate = asyncio.Event()
    Db = make_async_db(tmp_path / "db.sqlite3", gate)
    c = InjectQ()
    c.bind(Db, Db)
    db = c.get(Db)  # returns now; its initialization is scheduled
    assert db.conn is None
    assert c.get(Db) is db
    for _ in range(3):
        await asyncio.sleep(0)
    assert Db.inits == 1
    waiter = asyncio.create_task(c.aget(Db))
    user = asyncio.create_task(db.initialize())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiter.done() and not user.done()
    gate.set()
    assert await waiter is db
    await user
    assert db.conn is not None
    assert Db.inits == 1
    await c.aclose()
    assert Db.disposals == 1


async def test_get_in_running_loop_inside_scope_joined_by_scope_exit(tmp_path: Path) -> None:
    gate = asyncio.Event()
    Db = make_async_db(tmp_path / "db.sqlite3", gate)
    c = InjectQ()
    c.bind(Db, Db, scope="transient")
    async with c.resource_scope():
        db = c.get(Db)
        assert db.conn is None
        asyncio.get_running_loop().call_later(0.01, gate.set)
    # the exit joined the scheduled initialization, then disposed it
    assert Db.inits == 1
    assert Db.disposals == 1
    assert db.conn is None


def test_sync_get_of_async_init_without_loop_says_use_aget(tmp_path: Path) -> None:
    Db = make_async_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(Db, Db)
    with pytest.raises(ResourceInitializationError, match="aget"):
        c.get(Db)
    assert Db.inits == 0
    # the container still works from async code afterwards
    db = asyncio.run(c.aget(Db))
    assert db.conn is not None
    asyncio.run(c.aclose())
    assert Db.disposals == 1


def test_sync_initialize_runs_on_get_and_is_lazy(tmp_path: Path) -> None:
    Db = make_sync_db(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(Db, Db)
    assert Db.inits == 0
    db = c.get(Db)
    assert db.conn is not None and Db.inits == 1
    db.initialize()  # user call on a live resource: joins (no-op)
    assert Db.inits == 1
    c.close()
    assert Db.disposals == 1
    db.dispose()  # a second dispose of the same activation is a no-op
    assert Db.disposals == 1


def make_flaky(events: list[str], fail: list[bool]) -> type:
    @resource
    class Flaky:
        async def initialize(self) -> None:
            await asyncio.sleep(0)
            events.append("init")
            if fail[0]:
                raise OSError("down")

        async def dispose(self) -> None:
            events.append("dispose")

    return Flaky


@pytest.mark.parametrize("lifetime", ["request", "singleton"])
async def test_retry_after_failed_scheduled_init_is_still_owned(lifetime: str) -> None:
    events: list[str] = []
    fail = [True]
    Flaky = make_flaky(events, fail)
    c = InjectQ()
    c.bind(Flaky, Flaky, scope=lifetime)
    async with c.scope("request"):
        first = c.get(Flaky)  # schedules an initialization that fails
        for _ in range(5):
            await asyncio.sleep(0)
        fail[0] = False
        assert await c.aget(Flaky) is first  # the retry succeeds ...
    if lifetime == "singleton":
        assert events == ["init", "init"]
        await c.aclose()
    # ... and is disposed by the owner of the scheduled activation
    assert events == ["init", "init", "dispose"]


async def test_unobserved_scheduled_init_failure_is_reported_at_scope_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    Flaky = make_flaky(events, [True])
    c = InjectQ()
    c.bind(Flaky, Flaky, scope="request")
    with pytest.raises(ResourceDisposalError) as info:
        async with c.scope("request"):
            c.get(Flaky)
    (error,) = info.value.exceptions
    assert isinstance(error, ResourceInitializationError)
    assert isinstance(error.__cause__, OSError)
    assert "scheduled initialization" in str(info.value)
    assert any(r.name == "injectq.resources" and r.exc_info for r in caplog.records)
    assert events == ["init"]


async def test_observed_scheduled_init_failure_is_not_reported_twice() -> None:
    gate = asyncio.Event()

    @resource
    class Flaky:
        async def initialize(self) -> None:
            await gate.wait()
            raise OSError("down")

    c = InjectQ()
    c.bind(Flaky, Flaky, scope="request")
    async with c.scope("request"):
        c.get(Flaky)
        waiter = asyncio.create_task(c.aget(Flaky))
        for _ in range(3):
            await asyncio.sleep(0)
        gate.set()
        with pytest.raises(ResourceInitializationError):
            await waiter
    # the scope exit did not raise: the waiter already got the error
    assert c.get_all_resources() == {}


@pytest.mark.parametrize("suspend_first", [False, True])
@pytest.mark.parametrize("how", ["scope", "close_async", "close_sync"])
async def test_async_dispose_super_chain_and_other_tasks_calls(
    suspend_first: bool, how: str
) -> None:
    """The disposer is told apart from other callers of ``dispose()`` both before its
    first suspension (named by the thread) and after it (by the task that goes on with
    it): ``super().dispose()`` runs inside the one disposal, and another task's
    ``dispose()`` made meanwhile joins it (no second run)."""
    log: list[str] = []
    others: list[asyncio.Task[None]] = []

    @resource
    class Base:
        async def dispose(self) -> None:
            log.append("base dispose")

    @resource
    class Conn(Base):
        async def initialize(self) -> None:
            log.append("init")

        async def dispose(self) -> None:
            log.append("conn dispose")
            others.append(asyncio.ensure_future(self.dispose()))  # another task's call
            if suspend_first:
                await asyncio.sleep(0.001)
            await super().dispose()
            await asyncio.sleep(0.001)  # the other call runs while this one is busy

    c = InjectQ()
    if how == "scope":
        c.bind(Conn, Conn, scope="request")
        async with c.scope("request"):
            await c.aget(Conn)
    else:
        c.bind(Conn, Conn)
        await c.aget(Conn)
        if how == "close_async":
            await c.aclose()
        else:  # sync close(): on a private loop, in a thread with none running
            await asyncio.to_thread(c.close)
            others.clear()  # the private loop has finished (and cancelled) them
    await asyncio.gather(*others)
    assert log == ["init", "conn dispose", "base dispose"]


def make_closing_db(path: Path) -> type:
    """A sync resource over a real SQLite connection that counts its disposals."""

    @resource
    class ClosingDb:
        disposals = 0
        guard = threading.Lock()

        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None
            self.closed_by: list[str] = []

        def initialize(self) -> None:
            self.conn = sqlite3.connect(path, check_same_thread=False)

        def dispose(self) -> None:
            with type(self).guard:
                type(self).disposals += 1
                self.closed_by.append(threading.current_thread().name)
            assert self.conn is not None
            self.conn.close()

    return ClosingDb


def test_users_dispose_racing_the_scope_exit_disposes_exactly_once(tmp_path: Path) -> None:
    # The scope's exit claims a resource it alone holds without the transition lock
    # (it pops it off its own stack); a user's dispose() from another thread claims it
    # by taking it off that stack under the lock. Whoever wins, one disposal, and the
    # loser neither disposes again nor leaves it live. Run many times, with a short
    # switch interval, so that both orders and the interleavings between them occur.
    import sys

    ClosingDb = make_closing_db(tmp_path / "race.db")
    c = InjectQ()
    c.bind(ClosingDb, ClosingDb, scope="request")
    rounds = 300
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    winners: set[str] = set()
    try:
        for round_ in range(rounds):
            barrier = threading.Barrier(2)
            with c.scope("request"):
                db = c.get(ClosingDb)

                def user(db: Any = db, barrier: threading.Barrier = barrier) -> None:
                    barrier.wait()
                    db.dispose()

                thread = threading.Thread(target=user, name="user")
                thread.start()
                barrier.wait()
                if round_ % 3 == 0:
                    time.sleep(0.001)  # the user first, in these rounds
            thread.join()
            assert len(db.closed_by) == 1, db.closed_by
            winners.update(db.closed_by)
            with pytest.raises(sqlite3.ProgrammingError):  # closed, not left live
                db.conn.execute("SELECT 1")
    finally:
        sys.setswitchinterval(interval)
    assert ClosingDb.disposals == rounds
    metrics = c.resource_metrics()["ClosingDb"]
    assert (metrics["initialized"], metrics["disposed"], metrics["active"]) == (rounds, rounds, 0)
    assert winners == {"MainThread", "user"}  # both orders happened


def test_users_dispose_inside_the_scope_is_not_repeated_at_exit(tmp_path: Path) -> None:
    ClosingDb = make_closing_db(tmp_path / "early.db")
    c = InjectQ()
    c.bind(ClosingDb, ClosingDb, scope="request")
    with c.scope("request") as scope:
        db = c.get(ClosingDb)
        thread = threading.Thread(target=db.dispose, name="user")
        thread.start()
        thread.join()
        assert db.closed_by == ["user"]
        assert scope.stack == []  # taken off its scope's stack by the user's claim
    assert db.closed_by == ["user"]
    assert c.resource_metrics()["ClosingDb"]["disposed"] == 1


def test_users_dispose_after_the_scope_took_it_leaves_it_to_the_scope(tmp_path: Path) -> None:
    # The interleaving the race above rarely hits, made to happen: the scope's exit has
    # popped the resource off its stack (its claim), and only then does a user's
    # dispose() from another thread arrive. The user's call must leave it to the scope,
    # which disposes it once. (White-box: the stack is swapped for one that runs the
    # user's call right after each pop.)
    ClosingDb = make_closing_db(tmp_path / "late.db")
    c = InjectQ()
    c.bind(ClosingDb, ClosingDb, scope="request")

    class UserDisposesAfterPop(list[Any]):
        def pop(self, index: int = -1) -> Any:
            entry = super().pop(index)
            thread = threading.Thread(target=entry.instance.dispose, name="user")
            thread.start()
            thread.join()
            assert entry.instance.closed_by == []  # the user's call did not dispose it
            return entry

    with c.scope("request") as scope:
        db = c.get(ClosingDb)
        scope.stack = UserDisposesAfterPop(scope.stack)
    assert db.closed_by == ["MainThread"]
    assert c.resource_metrics()["ClosingDb"]["disposed"] == 1


@pytest.mark.parametrize("how", ["scope", "singleton", "async scope"])
def test_super_calls_inside_a_timed_sync_initialize_and_dispose_run_once(
    tmp_path: Path, how: str
) -> None:
    # A sync initialize()/dispose() bounded by the resource's own timeout runs in a
    # helper thread. A super().initialize() / super().dispose() made there is part of
    # the one call: it runs the base class's method (no waiting on itself until the
    # timeout, no silently skipped base dispose).
    log: list[str] = []

    @resource
    class Database:
        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        def initialize(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite", check_same_thread=False)
            log.append("base init")

        def dispose(self) -> None:
            assert self.conn is not None
            self.conn.close()
            log.append("base dispose")

    @resource(init_timeout=5.0, dispose_timeout=5.0)
    class Orders(Database):
        def initialize(self) -> None:
            super().initialize()
            assert self.conn is not None
            self.conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER)")
            log.append("orders init")

        def dispose(self) -> None:
            log.append("orders dispose")
            super().dispose()

    c = InjectQ()
    if how == "singleton":
        c.bind(Orders, Orders)
        orders = c.get(Orders)
        assert orders.conn is not None
        orders.conn.execute("INSERT INTO orders VALUES (1)")
        c.close()
    elif how == "scope":
        c.bind(Orders, Orders, scope="request")
        with c.scope("request"):
            c.get(Orders).conn.execute("INSERT INTO orders VALUES (1)")
    else:
        c.bind(Orders, Orders, scope="request")

        async def run() -> None:
            async with c.scope("request"):
                (await c.aget(Orders)).conn.execute("INSERT INTO orders VALUES (1)")

        asyncio.run(run())
    assert log == ["base init", "orders init", "orders dispose", "base dispose"]
    metrics = c.resource_metrics()["Orders"]
    assert (metrics["initialized"], metrics["disposed"], metrics["init_errors"]) == (1, 1, 0)


async def test_users_async_dispose_after_an_async_scope_took_it_leaves_it_to_the_scope(
    tmp_path: Path,
) -> None:
    # The async twin of the forced interleaving above: an async scope's exit has popped
    # the resource (its claim, taken without the lock), then a user's `await dispose()`
    # arrives from another thread, on that thread's own loop. It must leave the disposal
    # to the scope, which runs it once.
    closed_by: list[str] = []

    @resource
    class AsyncStore:
        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        async def initialize(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "store.db", check_same_thread=False)

        async def dispose(self) -> None:
            closed_by.append(threading.current_thread().name)
            assert self.conn is not None
            self.conn.close()

    c = InjectQ()
    c.bind(AsyncStore, AsyncStore, scope="request")

    class UserDisposesAfterPop(list[Any]):
        def pop(self, index: int = -1) -> Any:
            entry = super().pop(index)
            instance = entry.instance
            thread = threading.Thread(target=lambda: asyncio.run(instance.dispose()), name="user")
            thread.start()
            thread.join()
            assert closed_by == []  # the user's call did not dispose it
            return entry

    async with c.scope("request") as scope:
        store = await c.aget(AsyncStore)
        scope.stack = UserDisposesAfterPop(scope.stack)
    assert closed_by == ["MainThread"]
    with pytest.raises(sqlite3.ProgrammingError):
        assert store.conn is not None
        store.conn.execute("SELECT 1")
    assert c.resource_metrics()["AsyncStore"]["disposed"] == 1
