"""ResourcePool behaviour through its public API, with real SQLite connections.

Every connection the pool opens is counted twice: by a counting factory/close pair, and
from the OS side as file descriptors pointing at the database file.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from injectq import InjectQ
from injectq.resources.pool import PoolStats, ResourcePool
from injectq.utils.exceptions import ResourceExhaustedError, ResourceInitializationError


def open_fds(path: Path) -> int:
    """File descriptors this process has open on ``path``."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            pass  # closed between listdir and readlink
    return count


class Counter:
    """Counts connections opened and closed through the pool; remembers every one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.max_open = 0
        self.created: list[Any] = []
        self.closed: list[Any] = []

    def opened(self, conn: Any) -> Any:
        with self.lock:
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            self.created.append(conn)
        return conn

    def was_closed(self, conn: Any) -> None:
        with self.lock:
            assert not any(c is conn for c in self.closed), "closed twice"
            self.open -= 1
            self.closed.append(conn)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "pool.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    return path


def sync_pool(db: Path, counter: Counter, **kwargs: Any) -> ResourcePool[sqlite3.Connection]:
    def factory() -> sqlite3.Connection:
        return counter.opened(sqlite3.connect(db, check_same_thread=False))

    def close(conn: sqlite3.Connection) -> None:
        conn.close()
        counter.was_closed(conn)

    return ResourcePool(factory, close=close, **kwargs)


def async_pool(db: Path, counter: Counter, **kwargs: Any) -> ResourcePool[aiosqlite.Connection]:
    async def factory() -> aiosqlite.Connection:
        return counter.opened(await aiosqlite.connect(db, timeout=60))

    async def close(conn: aiosqlite.Connection) -> None:
        await conn.close()
        counter.was_closed(conn)

    return ResourcePool(factory, close=close, **kwargs)


def assert_settled(pool: ResourcePool[Any], counter: Counter) -> PoolStats:
    """Nothing lent or waiting, and every connection created is idle or closed."""
    stats = pool.stats()
    assert stats.in_use == 0
    assert stats.waiting == 0
    assert stats.size <= pool.max_size
    assert stats.size == stats.idle
    assert len(counter.created) == stats.idle + len(counter.closed)
    assert counter.open == stats.idle
    return stats


# ---------------------------------------------------------------- bounds and cleanup


async def test_1000_tasks_never_exceed_max_size_open_connections(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=10)
    max_fds = 0

    async def worker(i: int) -> None:
        nonlocal max_fds
        async with pool.acquire() as conn:
            assert counter.open <= 10
            if i % 10 == 0:  # the OS view, sampled to keep the test fast
                max_fds = max(max_fds, open_fds(db))
            await conn.execute("INSERT INTO t VALUES (?)", (i,))
            await conn.commit()

    await asyncio.gather(*(worker(i) for i in range(1000)))

    assert counter.max_open <= 10
    assert 0 < max_fds <= 10
    stats = assert_settled(pool, counter)
    assert stats.acquired == 1000
    assert stats.created == len(counter.created) <= 10

    await pool.dispose()
    assert counter.open == 0
    assert len(counter.closed) == len(counter.created)
    assert open_fds(db) == 0
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    check.close()


def test_sync_pool_under_32_threads(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=4)
    errors: list[BaseException] = []
    in_use = 0
    max_in_use = 0
    max_fds = 0
    guard = threading.Lock()
    start = threading.Barrier(32)

    def worker(n: int) -> None:
        nonlocal in_use, max_in_use, max_fds
        try:
            start.wait()
            for i in range(25):
                with pool.acquire() as conn:
                    with guard:
                        in_use += 1
                        max_in_use = max(max_in_use, in_use)
                    if i % 5 == 0:
                        fds = open_fds(db)
                        with guard:
                            max_fds = max(max_fds, fds)
                    conn.execute("SELECT ?", (n,)).fetchone()
                    with guard:
                        in_use -= 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert max_in_use <= 4
    assert counter.max_open <= 4
    assert 0 < max_fds <= 4
    assert assert_settled(pool, counter).acquired == 32 * 25
    pool.dispose_sync()
    assert counter.open == 0
    assert open_fds(db) == 0


async def test_every_connection_closed_after_dispose(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=5)
    held = [await pool.acquire_item() for _ in range(3)]
    for conn in held:
        await pool.arelease(conn)
    assert open_fds(db) == 3
    await pool.dispose()
    assert counter.open == 0 and len(counter.closed) == 3
    assert open_fds(db) == 0
    assert pool.stats().size == 0


def test_default_close_uses_the_items_close_method(db: Path) -> None:
    pool = ResourcePool(lambda: sqlite3.connect(db), max_size=2)
    with pool.acquire() as conn:
        conn.execute("SELECT 1")
    pool.dispose_sync()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    assert open_fds(db) == 0


async def test_default_close_awaits_async_close(db: Path) -> None:
    pool = ResourcePool(lambda: aiosqlite.connect(db), max_size=2)
    async with pool.acquire() as conn:
        await conn.execute("SELECT 1")
    assert open_fds(db) == 1
    await pool.dispose()
    assert open_fds(db) == 0


# ----------------------------------------------------------------- waiting and fairness


async def test_waiters_are_served_first_come_first_served(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1)
    first = await pool.acquire_item()
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with pool.acquire() as conn:
            order.append(i)
            await conn.execute("SELECT 1")

    tasks = []
    for i in range(10):
        tasks.append(asyncio.create_task(waiter(i)))
        while pool.stats().waiting < i + 1:
            await asyncio.sleep(0)
    await pool.arelease(first)
    await asyncio.gather(*tasks)
    assert order == list(range(10))
    assert_settled(pool, counter)
    await pool.dispose()


def test_sync_waiters_are_served_in_order(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=1)
    first = pool.acquire_item_sync()
    order: list[int] = []

    def waiter(i: int) -> None:
        with pool.acquire():
            order.append(i)

    threads = []
    for i in range(8):
        t = threading.Thread(target=waiter, args=(i,))
        t.start()
        threads.append(t)
        for _ in range(10_000):  # bounded: wait until this thread is queued
            if pool.stats().waiting == i + 1:
                break
            time.sleep(0.001)
    pool.release(first)
    for t in threads:
        t.join()
    assert order == list(range(8))
    pool.dispose_sync()
    assert counter.open == 0


async def test_acquire_timeout_zero_fails_at_once(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1, acquire_timeout=0)
    async with pool.acquire():
        with pytest.raises(ResourceExhaustedError, match=r"max_size=1") as info:
            await pool.acquire_item()
        assert "acquire_timeout" in str(info.value)
        assert pool.stats().waiting == 0
    assert pool.stats().timeouts == 1
    await pool.dispose()


def test_sync_acquire_timeout_zero_fails_at_once(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=2, acquire_timeout=0)
    with pool.acquire(), pool.acquire():
        with pytest.raises(ResourceExhaustedError, match=r"all 2 items in use"):
            pool.acquire_item_sync()
    pool.dispose_sync()


async def test_acquire_times_out_after_waiting(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=2, acquire_timeout=0.05)
    held = [await pool.acquire_item(), await pool.acquire_item()]
    with pytest.raises(ResourceExhaustedError, match=r"max_size=2"):
        await pool.acquire_item()
    stats = pool.stats()
    assert stats.timeouts == 1 and stats.waiting == 0 and stats.in_use == 2
    for conn in held:
        await pool.arelease(conn)
    async with pool.acquire() as conn:  # the pool still works
        await conn.execute("SELECT 1")
    await pool.dispose()
    assert counter.open == 0


def test_sync_acquire_times_out_after_waiting(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=1, acquire_timeout=0.05)
    with pool.acquire():
        with pytest.raises(ResourceExhaustedError):
            pool.acquire_item_sync()
    assert pool.stats().timeouts == 1
    assert_settled(pool, counter)
    pool.dispose_sync()


# --------------------------------------------------------------------- cancellation


async def test_cancelled_waiters_never_leak(db: Path) -> None:
    rng = random.Random(1234)
    for _ in range(50):
        counter = Counter()
        pool = async_pool(db, counter, max_size=3, acquire_timeout=rng.choice([None, 0.01]))

        async def user(rng: random.Random = rng, pool: ResourcePool[Any] = pool) -> None:
            async with pool.acquire() as conn:
                await conn.execute("SELECT 1")
                await asyncio.sleep(rng.random() * 0.002)

        tasks = [asyncio.create_task(user()) for _ in range(20)]
        for task in rng.sample(tasks, 10):
            await asyncio.sleep(rng.random() * 0.002)
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            assert result is None or isinstance(
                result, asyncio.CancelledError | ResourceExhaustedError
            ), result
        # checkouts detached from cancelled callers may still be finishing
        for _ in range(1000):
            if pool.stats().in_use == 0 and pool.stats().size == pool.stats().idle:
                break
            await asyncio.sleep(0.001)
        assert counter.max_open <= 3
        assert_settled(pool, counter)
        await pool.dispose()
        assert counter.open == 0
        assert len(counter.closed) == len(counter.created)
    assert open_fds(db) == 0


async def test_waiter_cancelled_after_being_handed_an_item_passes_it_on(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1)
    conn = await pool.acquire_item()
    first = asyncio.create_task(pool.acquire_item())
    second = asyncio.create_task(pool.acquire_item())
    while pool.stats().waiting < 2:
        await asyncio.sleep(0)
    pool.release(conn)  # hands the connection to `first`...
    first.cancel()  # ...which is cancelled before it runs again
    assert await second is conn
    with pytest.raises(asyncio.CancelledError):
        await first
    await pool.arelease(conn)
    assert_settled(pool, counter)
    assert counter.max_open == 1
    await pool.dispose()


async def test_cancelled_while_connecting_returns_the_new_connection(db: Path) -> None:
    counter = Counter()
    gate = asyncio.Event()

    async def slow_factory() -> aiosqlite.Connection:
        await gate.wait()
        return counter.opened(await aiosqlite.connect(db))

    async def close(conn: aiosqlite.Connection) -> None:
        await conn.close()
        counter.was_closed(conn)

    pool = ResourcePool(slow_factory, max_size=1, close=close)
    task = asyncio.create_task(pool.acquire_item())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    async with pool.acquire() as conn:  # gets the connection the cancelled caller ordered
        await conn.execute("SELECT 1")
    assert len(counter.created) == 1
    assert_settled(pool, counter)
    await pool.dispose()
    assert counter.open == 0


# ---------------------------------------------------------------- discarding items


async def test_body_raising_discards_the_item(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=2)
    with pytest.raises(ZeroDivisionError):
        async with pool.acquire() as conn:
            await conn.execute("SELECT 1")
            1 / 0  # noqa: B018
    assert counter.closed == [conn]
    stats = pool.stats()
    assert stats.discarded == 1 and stats.size == 0
    async with pool.acquire() as other:
        assert other is not conn
    await pool.dispose()


def test_sync_body_raising_discards_the_item(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=2)
    with pytest.raises(KeyError), pool.acquire() as conn:
        raise KeyError("boom")
    assert counter.closed == [conn]
    assert pool.stats().size == 0
    pool.dispose_sync()


def select_one(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return False
    return True


def test_validate_discards_broken_connections(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=2, validate=select_one)
    with pool.acquire() as conn:
        pass
    conn.close()  # behind the pool's back
    with pool.acquire() as fresh:
        assert fresh is not conn
        assert fresh.execute("SELECT 1").fetchone() == (1,)
    stats = pool.stats()
    assert stats.discarded == 1 and stats.size == 1 and stats.created == 2
    pool.dispose_sync()


async def test_async_validate_discards_broken_connections(db: Path) -> None:
    counter = Counter()

    async def ping(conn: aiosqlite.Connection) -> bool:
        try:
            await conn.execute("SELECT 1")
        except ValueError:  # aiosqlite: "no active connection"
            return False
        return True

    pool = async_pool(db, counter, max_size=2, validate=ping)
    async with pool.acquire() as conn:
        pass
    await conn.close()  # behind the pool's back
    async with pool.acquire() as fresh:
        assert fresh is not conn
        await fresh.execute("SELECT 1")
    assert pool.stats().discarded == 1
    await pool.dispose()
    assert open_fds(db) == 0


async def test_max_idle_time_discards_idle_items_at_checkout(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=3, max_idle_time=0.1)
    a, b = await pool.acquire_item(), await pool.acquire_item()
    await pool.arelease(a)
    await pool.arelease(b)
    await asyncio.sleep(0.2)
    async with pool.acquire() as conn:
        assert conn is not a and conn is not b
    for _ in range(1000):  # stale items are closed in the background
        if len(counter.closed) == 2:
            break
        await asyncio.sleep(0.001)
    assert {id(c) for c in counter.closed} == {id(a), id(b)}
    assert_settled(pool, counter)
    await pool.dispose()


def test_max_idle_time_keeps_min_size(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=3, min_size=1, max_idle_time=0.1)
    a, b = pool.acquire_item_sync(), pool.acquire_item_sync()
    pool.release(a)
    pool.release(b)
    time.sleep(0.2)
    with pool.acquire() as conn:
        assert conn is not a and conn is not b
    assert len(counter.closed) == 2
    with pool.acquire() as again:  # fresh and reused
        assert again is conn
    pool.dispose_sync()


def test_recycle_after_discards_old_items_at_release_and_checkout(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=2, recycle_after=0.1)
    with pool.acquire() as old:
        time.sleep(0.2)
    assert counter.closed == [old]  # too old to go back
    assert pool.stats().idle == 0
    with pool.acquire() as young:
        pass
    assert pool.stats().idle == 1
    time.sleep(0.2)
    with pool.acquire() as conn:  # the idle one has aged past recycle_after
        assert conn is not young
    assert counter.closed[:2] == [old, young]
    pool.dispose_sync()
    assert counter.open == 0


# -------------------------------------------------------------------- the lifecycle


async def test_initialize_fills_min_size(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=5, min_size=3)
    await asyncio.gather(*(pool.initialize() for _ in range(10)))
    stats = pool.stats()
    assert stats.idle == 3 and stats.created == 3
    assert open_fds(db) == 3
    await pool.initialize()  # idempotent
    assert pool.stats().created == 3
    await asyncio.gather(*(pool.dispose() for _ in range(5)))
    assert len(counter.closed) == 3 and open_fds(db) == 0
    await pool.dispose()
    assert len(counter.closed) == 3
    await pool.initialize()  # a disposed pool can be activated again
    assert pool.stats().idle == 3
    await pool.dispose()
    assert counter.open == 0


def test_sync_initialize_fills_min_size_and_acquire_is_lazy(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=4, min_size=2)
    assert pool.stats().size == 0
    with pool.acquire():  # never initialized: acquiring initializes it
        assert pool.stats().size == 2
    pool.dispose_sync()
    pool.initialize_sync()
    pool.initialize_sync()
    assert pool.stats().idle == 2 and len(counter.created) == 4
    pool.dispose_sync()
    assert counter.open == 0


async def test_dispose_waits_for_items_in_use(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=2)
    events: list[str] = []
    conn = await pool.acquire_item()

    async def finish_work() -> None:
        await asyncio.sleep(0.05)
        events.append("returned")
        await pool.arelease(conn)

    worker = asyncio.create_task(finish_work())
    await pool.dispose()
    events.append("disposed")
    await worker
    assert events == ["returned", "disposed"]
    assert counter.closed == [conn]


async def test_dispose_closes_items_not_returned_in_time(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=2, drain_timeout=0.05)
    conn = await pool.acquire_item()
    await pool.dispose()
    assert counter.closed == [conn]
    await pool.arelease(conn)  # too late: ignored, not closed twice
    assert len(counter.closed) == 1 and pool.stats().size == 0


async def test_dispose_fails_waiters(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1, drain_timeout=0.05)
    conn = await pool.acquire_item()
    waiter = asyncio.create_task(pool.acquire_item())
    while pool.stats().waiting == 0:
        await asyncio.sleep(0)
    disposing = asyncio.create_task(pool.dispose())
    with pytest.raises(ResourceExhaustedError, match="disposed"):
        await waiter
    await pool.arelease(conn)
    await disposing
    assert counter.open == 0


async def test_factory_error_frees_the_slot(db: Path) -> None:
    calls = 0

    def flaky() -> sqlite3.Connection:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("database is down")
        return sqlite3.connect(db)

    pool = ResourcePool(flaky, max_size=1)
    with pytest.raises(sqlite3.OperationalError, match="down"):
        await pool.acquire_item()
    assert pool.stats().size == 0
    async with pool.acquire() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    await pool.dispose()


async def test_await_acquire_then_release(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1)
    conn = await pool.acquire()
    await conn.execute("SELECT 1")
    assert pool.stats().in_use == 1
    pool.release(conn)
    assert pool.stats().idle == 1
    await pool.dispose()


async def test_sync_api_refuses_async_pools(db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=1)
    with pytest.raises(TypeError, match="async with"):
        pool.acquire_item_sync()
    with pytest.raises(TypeError, match=r"await pool\.initialize"):
        pool.initialize_sync()
    with pytest.raises(TypeError, match=r"await pool\.dispose"):
        pool.dispose_sync()


# ------------------------------------------- one lifecycle, sync and async APIs mixed
#
# A pool has one state whichever API touched it: started through either API, closed
# through either, every item is closed (an item still lent out at the end of
# ``drain_timeout`` included) and the pool can be started again through either.


async def _initialize(pool: ResourcePool[Any]) -> None:
    await pool.initialize()


async def _async_with(pool: ResourcePool[Any]) -> None:
    async with pool.acquire():
        pass


async def _acquire_item(pool: ResourcePool[Any]) -> None:
    await pool.arelease(await pool.acquire_item())


async def _await_acquire(pool: ResourcePool[Any]) -> None:
    pool.release(await pool.acquire())


async def _dispose(pool: ResourcePool[Any]) -> None:
    await pool.dispose()


def _sync_with(pool: ResourcePool[Any]) -> None:
    with pool.acquire():
        pass


def _acquire_item_sync(pool: ResourcePool[Any]) -> None:
    pool.release(pool.acquire_item_sync())


ASYNC_STARTS: dict[str, Callable[[ResourcePool[Any]], Any]] = {
    "await initialize()": _initialize,
    "async with acquire()": _async_with,
    "await acquire_item()": _acquire_item,
    "await acquire()": _await_acquire,
}
SYNC_STARTS: dict[str, Callable[[ResourcePool[Any]], None]] = {
    "initialize_sync()": ResourcePool.initialize_sync,
    "with acquire()": _sync_with,
    "acquire_item_sync()": _acquire_item_sync,
    "initialize() from sync code": ResourcePool.initialize,
}
SYNC_CLOSES: dict[str, Callable[[ResourcePool[Any]], None]] = {
    "dispose_sync()": ResourcePool.dispose_sync,
    "dispose() from sync code": ResourcePool.dispose,
}


def _start(pool: ResourcePool[Any], how: str) -> None:
    if how in ASYNC_STARTS:
        asyncio.run(ASYNC_STARTS[how](pool))
    else:
        SYNC_STARTS[how](pool)


def _close(pool: ResourcePool[Any], how: str) -> None:
    if how == "await dispose()":
        asyncio.run(_dispose(pool))
    else:
        SYNC_CLOSES[how](pool)


def _assert_closed(pool: ResourcePool[Any], counter: Counter, db: Path) -> None:
    stats = pool.stats()
    assert (stats.size, stats.idle, stats.in_use, stats.waiting) == (0, 0, 0, 0)
    assert stats.discarded == stats.created == len(counter.created)
    assert counter.open == 0 and len(counter.closed) == len(counter.created)
    assert open_fds(db) == 0


# every start with every close of the other kind (a plain initialize()/dispose() from
# sync code counts as the sync API: it runs the pool to the end without a loop)
MIXES = [(s, c) for s in SYNC_STARTS for c in ("await dispose()", "dispose() from sync code")]
MIXES += [("initialize() from sync code", "dispose_sync()")]
MIXES += [(s, c) for s in ASYNC_STARTS for c in SYNC_CLOSES]


@pytest.mark.parametrize(("start", "close"), MIXES)
def test_a_sync_pool_started_through_one_api_closes_through_the_other(
    start: str, close: str, db: Path
) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=3, min_size=2, drain_timeout=0.05)
    _start(pool, start)
    assert pool.stats().idle == 2
    lent = pool.acquire_item_sync()  # never returned in time: closed anyway
    _close(pool, close)
    _assert_closed(pool, counter, db)
    assert any(c is lent for c in counter.closed)
    pool.release(lent)  # too late: ignored
    assert pool.stats().size == 0

    # one state: the pool is closed for the async API too, which starts it afresh
    _start(pool, "await initialize()")
    assert pool.stats().idle == 2
    _close(pool, "dispose_sync()" if close == "await dispose()" else "await dispose()")
    _assert_closed(pool, counter, db)
    assert len(counter.closed) == 4


@pytest.mark.parametrize("start", list(ASYNC_STARTS))
def test_an_async_pool_started_in_a_loop_closes_from_sync_code(start: str, db: Path) -> None:
    counter = Counter()
    pool = async_pool(db, counter, max_size=3, min_size=2, drain_timeout=0.05)
    _start(pool, start)
    assert pool.stats().idle == 2
    pool.dispose()  # no loop runs here: the disposal runs on a private one, to the end
    _assert_closed(pool, counter, db)
    asyncio.run(_initialize(pool))  # and the pool can be started again
    assert pool.stats().idle == 2
    asyncio.run(_dispose(pool))
    _assert_closed(pool, counter, db)


def test_threads_start_a_pool_and_the_event_loop_closes_it(db: Path) -> None:
    for _ in range(5):  # the threads give their items back at different moments each run
        counter = Counter()
        pool = sync_pool(db, counter, max_size=4)
        holding = threading.Barrier(5)

        def worker(pool: ResourcePool[sqlite3.Connection], holding: threading.Barrier) -> None:
            with pool.acquire() as conn:  # the threads start the pool
                conn.execute("SELECT 1")
                holding.wait()
                time.sleep(random.random() / 50)

        threads = [threading.Thread(target=worker, args=(pool, holding)) for _ in range(4)]
        for t in threads:
            t.start()
        holding.wait()  # all 4 connections are lent out now
        asyncio.run(_dispose(pool))  # waits for the threads to give them back
        for t in threads:
            t.join()
        _assert_closed(pool, counter, db)
        assert len(counter.closed) == 4


# ------------------------------------------------- a container owning a sync pool


def test_a_sync_application_lets_the_container_own_a_pool_class(db: Path) -> None:
    counter = Counter()

    def connect() -> sqlite3.Connection:
        return counter.opened(sqlite3.connect(db))  # thread-bound: all sync, one thread

    def close(conn: sqlite3.Connection) -> None:
        conn.close()
        counter.was_closed(conn)

    class Database(ResourcePool[sqlite3.Connection]):
        def __init__(self) -> None:
            super().__init__(connect, close=close, max_size=3, min_size=2)

    c = InjectQ()
    c.bind(Database, Database)
    pools = []
    for _ in range(2):  # a closed container starts afresh, with a new pool
        counter = Counter()  # what connect() and close() count from here on
        c.start_sync()
        pool = c.get(Database)
        assert pool.stats().idle == 2 and open_fds(db) == 2
        assert list(c.get_all_resources().values()) == [pool]
        with pool.acquire() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        c.close()
        _assert_closed(pool, counter, db)
        assert c.get_all_resources() == {}
        pools.append(pool)
    assert pools[0] is not pools[1]


def test_a_sync_application_lets_the_container_own_a_bound_pool(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=3, min_size=2)
    c = InjectQ()
    c.bind_instance(ResourcePool, pool)
    assert c.get(ResourcePool) is pool
    assert pool.stats().idle == 2
    c.start_sync(ResourcePool)  # already live: joins, opens nothing more
    assert pool.stats().created == 2
    with pool.acquire() as conn:
        conn.execute("SELECT 1")
    c.close()
    _assert_closed(pool, counter, db)
    metrics = c.resource_metrics()["ResourcePool"]
    assert (metrics["initialized"], metrics["disposed"]) == (1, 1)


def test_container_default_timeouts_leave_a_sync_pool_in_the_callers_thread(db: Path) -> None:
    """Container defaults bound async calls only: a thread-bound sqlite3 connection
    must be opened and closed in the thread that uses the pool, not in a helper thread."""
    counter = Counter()

    def connect() -> sqlite3.Connection:
        return counter.opened(sqlite3.connect(db))  # check_same_thread=True

    def close(conn: sqlite3.Connection) -> None:
        conn.close()  # raises ProgrammingError in any other thread
        counter.was_closed(conn)

    pool = ResourcePool(connect, close=close, max_size=2, min_size=2)
    c = InjectQ(default_init_timeout=5, default_dispose_timeout=5)
    c.bind_instance(ResourcePool, pool)
    with c.resource_scope():  # a sync scope owns the bound pool and disposes it at exit
        with c.get(ResourcePool).acquire() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    _assert_closed(pool, counter, db)


async def test_sync_acquire_after_get_scheduled_the_start_in_this_loop(db: Path) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=3, min_size=2)
    c = InjectQ()
    c.bind_instance(ResourcePool, pool)
    assert c.get(ResourcePool) is pool  # in a running loop: the start is a task
    with pool.acquire() as conn:  # the sync API must not wait for that task
        conn.execute("SELECT 1")
    await c.aclose()  # joins the task, which finds the pool filled
    _assert_closed(pool, counter, db)
    assert len(counter.created) == 2


async def test_sync_acquire_while_a_task_of_this_loop_starts_the_pool_fails_clearly(
    db: Path,
) -> None:
    counter = Counter()
    pool = sync_pool(db, counter, max_size=3, min_size=2)
    starting = asyncio.create_task(_initialize(pool))
    while pool.stats().size < 2:  # the task is half-way: its connections are opening
        await asyncio.sleep(0)
    with pytest.raises(ResourceInitializationError, match=r"await pool\.initialize\(\)"):
        pool.acquire_item_sync()  # waiting would block this loop forever
    await starting
    assert pool.stats().idle == 2
    await pool.dispose()
    _assert_closed(pool, counter, db)


def test_stats_and_listeners(db: Path) -> None:
    events: list[str] = []
    listener: Callable[..., None] = lambda event, pool, **info: events.append(event)  # noqa: E731  (one line)
    pool = ResourcePool(lambda: sqlite3.connect(db), max_size=2)
    pool._listeners.append(listener)
    with pool.acquire():
        pass
    stats = pool.stats()
    assert stats.as_dict() == {
        "size": 1,
        "idle": 1,
        "in_use": 0,
        "waiting": 0,
        "created": 1,
        "discarded": 0,
        "acquired": 1,
        "timeouts": 0,
        "wait_time_mean": stats.wait_time_mean,
        "wait_time_max": stats.wait_time_max,
    }
    assert stats.wait_time_max >= stats.wait_time_mean >= 0
    pool.dispose_sync()
    assert events == ["initialized", "created", "acquired", "released", "discarded", "disposed"]
    assert ResourcePool._is_injectq_resource is True


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_size"):
        ResourcePool(object, max_size=0)
    with pytest.raises(ValueError, match="min_size"):
        ResourcePool(object, max_size=1, min_size=2)
    with pytest.raises(ValueError, match="acquire_timeout"):
        ResourcePool(object, max_size=1, acquire_timeout=-1)


DURATIONS = ("acquire_timeout", "max_idle_time", "recycle_after", "drain_timeout")


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True])
def test_non_finite_or_bool_durations_are_refused_when_the_pool_is_made(
    name: str, value: float, db: Path
) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be .*seconds >= 0"):
        ResourcePool(lambda: sqlite3.connect(db), max_size=1, **{name: value})


@pytest.mark.parametrize("name", DURATIONS)
def test_negative_durations_say_what_is_allowed(name: str, db: Path) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be a number of seconds >= 0 or None"):
        ResourcePool(lambda: sqlite3.connect(db), max_size=1, **{name: -1})


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"max_size": 2.5}, ValueError, r"max_size must be a whole number >= 1, got 2\.5"),
        ({"max_size": True}, ValueError, "max_size must be a whole number >= 1, got True"),
        ({"max_size": "4"}, TypeError, "max_size must be a whole number >= 1"),
        ({"max_size": 2, "min_size": -1}, ValueError, "min_size must be at least 0, got -1"),
        ({"max_size": 2, "min_size": 1.0}, ValueError, "min_size must be a whole number >= 0"),
    ],
)
def test_invalid_sizes_are_refused_when_the_pool_is_made(
    kwargs: dict[str, Any], error: type[Exception], says: str, db: Path
) -> None:
    with pytest.raises(error, match=says):
        ResourcePool(lambda: sqlite3.connect(db), **kwargs)


def test_a_factory_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="factory must be a callable"):
        ResourcePool("sqlite:///app.db", max_size=1)  # type: ignore[call-overload]
