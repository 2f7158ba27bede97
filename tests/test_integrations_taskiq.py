"""Taskiq integration with a real InMemoryBroker: every task execution runs in its own
request scope, and the aiosqlite connections tasks use are closed when each task ends."""

import asyncio
import itertools
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import aiosqlite
import pytest
from taskiq import InMemoryBroker

from injectq import InjectQ, ResourceDisposalError, resource
from injectq.integrations.taskiq import (
    InjectQTaskiqMiddleware,
    InjectTask,
    InjectTaskiq,
    get_task_container,
    setup_taskiq,
)
from injectq.utils.exceptions import InjectionError, InjectQError


def open_fds(path: Path) -> int:
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            pass
    return count


class Stats:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.opens = self.closes = self.live = self.peak = 0

    def opened(self) -> None:
        with self.lock:
            self.opens += 1
            self.live += 1
            self.peak = max(self.peak, self.live)

    def closed(self) -> None:
        with self.lock:
            self.closes += 1
            self.live -= 1


_serials = itertools.count()


@resource
class Connection:
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.raw: aiosqlite.Connection | None = None
        # ids can be reused once a connection is collected; a serial number cannot
        self.serial = next(_serials)

    async def initialize(self) -> None:
        self.raw = await aiosqlite.connect(self.stats.db_path)
        self.stats.opened()

    async def dispose(self) -> None:
        assert self.raw is not None
        await self.raw.close()
        self.stats.closed()

    async def count(self) -> int:
        assert self.raw is not None
        async with self.raw.execute("SELECT COUNT(*) FROM jobs") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def record(self, job: str) -> None:
        assert self.raw is not None
        await self.raw.execute("INSERT INTO jobs (name) VALUES (?)", (job,))
        await self.raw.commit()


@resource
class Mailer:
    """Singleton resource: one for all tasks, disposed at broker shutdown."""

    created = 0
    disposed = 0

    def __init__(self) -> None:
        type(self).created += 1
        self.sent: list[str] = []

    def dispose(self) -> None:
        type(self).disposed += 1


class JobService:
    def __init__(self, connection: Connection, mailer: Mailer) -> None:
        self.connection = connection
        self.mailer = mailer


@pytest.fixture
def stats(tmp_path: Path) -> Stats:
    path = tmp_path / "jobs.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)")
    raw.commit()
    raw.close()
    return Stats(path)


@pytest.fixture
def container(stats: Stats) -> InjectQ:
    Mailer.created = Mailer.disposed = 0
    c = InjectQ()
    c.bind_instance(Stats, stats)
    c.bind(Connection, Connection, scope="request")
    c.bind(Mailer, Mailer)
    c.bind(JobService, JobService, scope="request")
    return c


@pytest.fixture
async def broker(container: InjectQ) -> AsyncIterator[InMemoryBroker]:
    b = InMemoryBroker()
    setup_taskiq(container, b)
    await b.startup()
    yield b
    await b.shutdown()


async def test_each_task_gets_its_own_scope_and_disposes_it(
    broker: InMemoryBroker, container: InjectQ, stats: Stats
) -> None:
    @broker.task
    async def record_job(
        name: str,
        conn: InjectTask[Connection],
        again: Connection = InjectTask[Connection],
        also: Annotated[Connection, InjectTaskiq(Connection)] = None,  # type: ignore[assignment]
        service: InjectTask[JobService] = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        assert conn is again is also is service.connection
        assert InjectQ.get_instance() is container
        assert container.get(Connection) is conn  # the task's own scope is current
        await conn.record(name)
        service.mailer.sent.append(name)
        return {"conn": conn.serial, "count": await conn.count(), "fds": open_fds(stats.db_path)}

    results = []
    for n in range(3):
        handle = await record_job.kiq(f"job-{n}")
        result = await handle.wait_result(timeout=10)
        assert not result.is_err, result.error
        results.append(result.return_value)
        # disposal happens before the result is stored
        assert stats.opens == stats.closes == n + 1
    assert [r["count"] for r in results] == [1, 2, 3]
    assert all(r["fds"] >= 1 for r in results)
    assert len({r["conn"] for r in results}) == 3
    assert open_fds(stats.db_path) == 0
    mailer = await container.aget(Mailer)
    assert mailer.sent == ["job-0", "job-1", "job-2"] and Mailer.created == 1


async def test_disposed_when_the_task_raises(broker: InMemoryBroker, stats: Stats) -> None:
    seen: list[BaseException | None] = []

    class Tx:
        pass

    @resource()
    async def transaction() -> AsyncIterator[Tx]:
        try:
            yield Tx()
        except BaseException as exc:
            seen.append(exc)
            raise
        else:
            seen.append(None)

    get_task_container(broker.state).bind(Tx, transaction, scope="request")

    @broker.task
    async def failing(fail: bool, conn: InjectTask[Connection], tx: InjectTask[Tx]) -> int:
        count = await conn.count()
        if fail:
            raise ValueError("task failed")
        return count

    ok = await (await failing.kiq(False)).wait_result(timeout=10)
    bad = await (await failing.kiq(True)).wait_result(timeout=10)
    assert not ok.is_err and ok.return_value == 0
    assert bad.is_err
    assert stats.opens == stats.closes == 2
    assert seen[0] is None
    assert isinstance(seen[1], ValueError) and str(seen[1]) == "task failed"
    assert open_fds(stats.db_path) == 0


async def test_sync_task_runs_in_the_task_scope(
    broker: InMemoryBroker, container: InjectQ, stats: Stats
) -> None:
    @broker.task
    def sync_job(service: InjectTask[JobService]) -> bool:
        # a sync task runs in a worker thread with a copy of the task's context
        return container.get(JobService) is service and container.get(Connection) is (
            service.connection
        )

    for _ in range(2):
        result = await (await sync_job.kiq()).wait_result(timeout=10)
        assert result.return_value is True, result.error
    assert stats.opens == stats.closes == 2


async def test_concurrent_tasks_have_separate_scopes(broker: InMemoryBroker, stats: Stats) -> None:
    total = 20
    arrived = 0
    all_in = asyncio.Event()

    @broker.task
    async def overlapping(n: int, conn: InjectTask[Connection]) -> tuple[int, int]:
        nonlocal arrived
        arrived += 1
        if arrived == total:
            all_in.set()
        await all_in.wait()
        await conn.count()
        return n, conn.serial

    async with asyncio.timeout(30):
        handles = [await overlapping.kiq(n) for n in range(total)]
        results = [await h.wait_result(timeout=20) for h in handles]
    values = [r.return_value for r in results]
    assert sorted(v[0] for v in values) == list(range(total))
    assert len({v[1] for v in values}) == total
    assert stats.peak == total
    assert stats.opens == stats.closes == total
    assert open_fds(stats.db_path) == 0


async def test_disposal_failure_becomes_the_task_error(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    @resource
    class Fragile:
        def dispose(self) -> None:
            raise OSError("cannot flush")

    container.bind(Fragile, Fragile, scope="request")

    @broker.task
    async def uses_fragile(f: InjectTask[Fragile]) -> str:
        return "done"

    result = await (await uses_fragile.kiq()).wait_result(timeout=10)
    assert result.is_err
    assert isinstance(result.error, ResourceDisposalError)


async def test_broker_shutdown_closes_the_container(container: InjectQ) -> None:
    for close, disposed in ((True, 1), (False, 0)):
        Mailer.disposed = 0
        b = InMemoryBroker()
        setup_taskiq(container, b, close_on_shutdown=close)
        await b.startup()

        @b.task
        async def mail(m: InjectTask[Mailer]) -> int:
            return id(m)

        first = await (await mail.kiq()).wait_result(timeout=10)
        second = await (await mail.kiq()).wait_result(timeout=10)
        assert first.return_value == second.return_value  # singleton shared by tasks
        assert Mailer.disposed == 0
        await b.shutdown()
        assert Mailer.disposed == disposed
        await container.aclose()


async def test_await_inplace_broker_leaves_the_callers_context_alone(
    container: InjectQ, stats: Stats
) -> None:
    b = InMemoryBroker(await_inplace=True)
    setup_taskiq(container, b)

    @b.task
    async def job(conn: InjectTask[Connection]) -> int:
        return await conn.count()

    handle = await job.kiq()
    result = await handle.wait_result(timeout=10)
    assert result.return_value == 0
    assert stats.opens == stats.closes == 1
    assert container.current_scope() is None  # the task's scope did not leak into ours
    await b.shutdown()


async def test_without_setup_the_error_says_what_to_do() -> None:
    b = InMemoryBroker()

    class Thing:
        pass

    @b.task
    async def job(thing: InjectTask[Thing]) -> None:
        pass

    result = await (await job.kiq()).wait_result(timeout=10)
    assert result.is_err and isinstance(result.error, InjectionError)
    assert "setup_taskiq" in str(result.error)
    await b.shutdown()


def test_setup_is_idempotent_per_container(container: InjectQ) -> None:
    b = InMemoryBroker()
    setup_taskiq(container, b)
    setup_taskiq(container, b)
    assert sum(isinstance(m, InjectQTaskiqMiddleware) for m in b.middlewares) == 1
    assert get_task_container(b.state) is container
    with pytest.raises(InjectQError):
        setup_taskiq(InjectQ(), b)
    with pytest.raises(InjectQError):
        setup_taskiq(container, InMemoryBroker(), scope_name="singleton")


def test_importing_injectq_does_not_import_taskiq() -> None:
    import subprocess
    import sys

    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('taskiq', 'fastapi')]\n"
        "import injectq.integrations.taskiq\n"
        "assert 'taskiq' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- annotations
FUTURE_MODULE = """
from __future__ import annotations

import sqlite3

from taskiq import InMemoryBroker

from injectq import InjectQ, resource


async def run(db_path):
    # everything the annotations name is imported or defined here, not in the module
    from injectq.integrations.taskiq import InjectTask, setup_taskiq

    @resource
    class Journal:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db_path)

        def dispose(self) -> None:
            self.conn.commit()
            self.conn.close()

    container = InjectQ()
    container.bind(Journal, Journal, scope="request")
    broker = InMemoryBroker()
    setup_taskiq(container, broker)

    @broker.task
    async def record(name: str, journal: InjectTask[Journal]) -> int:
        journal.conn.execute("INSERT INTO jobs (name) VALUES (?)", (name,))
        return journal.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    @broker.task(task_name="count_jobs")
    async def count(journal: InjectTask[Journal], label: str = "jobs") -> str:
        return f"{label}: {journal.conn.execute('SELECT COUNT(*) FROM jobs').fetchone()[0]}"

    await broker.startup()
    try:
        results = []
        for name in ("a", "b"):
            result = await (await record.kiq(name)).wait_result(timeout=10)
            assert not result.is_err, result.error
            results.append(result.return_value)
        result = await (await count.kiq()).wait_result(timeout=10)
        assert not result.is_err, result.error
        results.append(result.return_value)
        return results
    finally:
        await broker.shutdown()
"""


async def test_future_annotations_with_inject_task_imported_in_a_function(
    tmp_path: Path, stats: Stats, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    (tmp_path / "injectq_future_tasks.py").write_text(FUTURE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "injectq_future_tasks", raising=False)
    module = importlib.import_module("injectq_future_tasks")
    assert await module.run(stats.db_path) == [1, 2, "jobs: 2"]
    assert open_fds(stats.db_path) == 0


async def test_two_written_out_markers_of_a_transient_are_two_instances(
    broker: InMemoryBroker, stats: Stats
) -> None:
    container = get_task_container(broker.state)
    container.bind(Connection, Connection, scope="transient")

    @broker.task
    async def two(a: InjectTask[Connection], b: InjectTask[Connection]) -> bool:
        return a is b

    result = await (await two.kiq()).wait_result(timeout=10)
    assert result.return_value is False
    assert stats.opens == stats.closes == 2
