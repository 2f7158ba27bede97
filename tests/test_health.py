"""ResourceHealthChecker through the public API: real SQLite files, a real TCP server on
127.0.0.1, files in tmp_path."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import injectq.resources
from injectq import InjectQ, ResourceHealthChecker, ResourcePool, resource

# -- a real TCP server: answers PING with PONG, or with NOPE when ``sick`` ------------------


class PingServer:
    def __init__(self) -> None:
        self.sick = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> PingServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                if line.strip() == b"PING":
                    writer.write(b"NOPE\n" if self.sick else b"PONG\n")
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def drop_clients(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_clients()
        await self._server.wait_closed()


@pytest.fixture
async def ping_server() -> AsyncIterator[PingServer]:
    server = await PingServer().start()
    yield server
    await server.stop()


SERVER_PORT = 0
DB = Path()


@pytest.fixture(autouse=True)
def db(tmp_path: Path) -> Path:
    global DB
    DB = tmp_path / "health.sqlite3"
    with sqlite3.connect(DB) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO users VALUES (?)", [(1,), (2,), (3,)])
    conn.close()
    return DB


# -- resources ----------------------------------------------------------------------------


@resource
class Database:
    """health_check() with details."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)

    def health_check(self) -> dict[str, Any]:
        (users,) = self.conn.execute("SELECT count(*) FROM users").fetchone()
        return {"status": "healthy", "users": users}

    def dispose(self) -> None:
        self.conn.close()


@resource
class NetworkClient:
    """An async ping() over a real TCP connection."""

    async def initialize(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", SERVER_PORT)

    async def ping(self) -> bool:
        self.writer.write(b"PING\n")
        await self.writer.drain()
        reply = await self.reader.readline()
        if not reply:
            raise ConnectionError("connection closed by the server")
        return reply.strip() == b"PONG"

    async def dispose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@resource
class LogFile:
    """health_check() -> bool: the file is open and still on disk."""

    path: Path

    def initialize(self) -> None:
        self.path = DB.parent / "app.log"
        self.file = self.path.open("a")

    def health_check(self) -> bool:
        return not self.file.closed and self.path.exists()

    def dispose(self) -> None:
        self.file.close()


@resource
class Settings:
    """Nothing to ask: unknown."""

    def initialize(self) -> None:
        self.values = {"debug": False}


@resource
class RawSQL:
    """Only execute(): the page's ``execute("SELECT 1")`` fallback."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)
        self.statements: list[str] = []

    def execute(self, sql: str) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self.conn.execute(sql)

    def dispose(self) -> None:
        self.conn.close()


@resource
class KeyValue:
    """Only an async get(): the page's ``get("health_check_key")`` fallback."""

    def initialize(self) -> None:
        self.asked: list[str] = []

    async def get(self, key: str) -> str | None:
        self.asked.append(key)
        return None


@resource
class Hangs:
    """A health check that never finishes."""

    def initialize(self) -> None:
        self.never = asyncio.Event()

    async def health_check(self) -> bool:
        await self.never.wait()
        return True  # pragma: no cover


@resource
class Broken:
    def health_check(self) -> bool:
        raise sqlite3.OperationalError("disk I/O error")


def container(*classes: type) -> InjectQ:
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls)
    return c


async def test_every_status(ping_server: PingServer) -> None:
    global SERVER_PORT
    SERVER_PORT = ping_server.port
    classes = (Database, NetworkClient, LogFile, Settings, RawSQL, KeyValue, Hangs, Broken)
    c = container(*classes)
    async with c.resource_scope():
        for cls in classes:
            await c.aget(cls)
        # long enough for every healthy check on a loaded machine (a sync check that
        # overran would be abandoned in its thread, still using its connection when the
        # scope closes it: docs/resources.md); Hangs waits it out
        checker = ResourceHealthChecker(c, timeout=2.0)
        report = await checker.check_all_resources()

        assert set(report) == {cls.__name__ for cls in classes}
        for result in report.values():
            assert set(result) == {"status", "latency_ms", "error", "details"}
            assert result["latency_ms"] >= 0
        assert report["Database"] == {
            "status": "healthy",
            "latency_ms": report["Database"]["latency_ms"],
            "error": None,
            "details": {"status": "healthy", "users": 3},
        }
        assert report["NetworkClient"]["status"] == "healthy"
        assert report["LogFile"]["status"] == "healthy"
        assert report["Settings"]["status"] == "unknown"
        assert report["Settings"]["error"] is None
        assert report["RawSQL"]["status"] == "healthy"
        assert (await c.aget(RawSQL)).statements == ["SELECT 1"]
        assert report["KeyValue"]["status"] == "healthy"
        assert (await c.aget(KeyValue)).asked == ["health_check_key"]
        assert report["Hangs"]["status"] == "error"
        assert report["Hangs"]["error"] == "health check did not finish within 2.0 s"
        assert report["Broken"] == {
            "status": "error",
            "latency_ms": report["Broken"]["latency_ms"],
            "error": "OperationalError: disk I/O error",
            "details": None,
        }

        # things go wrong for real
        ping_server.sick = True
        (await c.aget(LogFile)).path.unlink()
        again = await checker.check_all_resources()
        assert again["NetworkClient"]["status"] == "unhealthy"
        assert again["NetworkClient"]["error"] == "ping() returned False"
        assert again["LogFile"]["status"] == "unhealthy"
        assert again["Database"]["status"] == "healthy"

        ping_server.drop_clients()
        dropped = await checker.check_resource(await c.aget(NetworkClient))
        assert dropped["status"] == "error"
        assert dropped["error"] is not None
        assert "Connection" in dropped["error"]
    await c.aclose()


async def test_checks_run_concurrently() -> None:
    # Every check waits for all the others: run one at a time, they would all time out.
    barrier = asyncio.Barrier(4)

    @resource(scope="request")
    class Replica:
        async def health_check(self) -> bool:
            await barrier.wait()
            return True

    c = InjectQ()
    c.bind(Replica, Replica)
    async with c.scope("request"):
        await c.aget(Replica)
        async with c.scope("request"):
            await c.aget(Replica)
            async with c.scope("request"):
                await c.aget(Replica)
                async with c.scope("request"):
                    await c.aget(Replica)
                    report = await ResourceHealthChecker(c, timeout=10).check_all_resources()
    assert list(report) == ["Replica", "Replica#2", "Replica#3", "Replica#4"]
    assert {r["status"] for r in report.values()} == {"healthy"}


async def test_details_decide_the_status() -> None:
    answers: list[Any] = [
        {"healthy": False, "replication_lag": 12},
        {"status": "degraded", "error": "replica lag 12 s"},
        {"status": "unknown"},
        {"status": "OK"},
        {"latency": 3},
        None,
        0,
        True,
    ]

    class Probe:
        def __init__(self, answer: Any) -> None:
            self.answer = answer

        async def health_check(self) -> Any:
            return self.answer

    checker = ResourceHealthChecker(InjectQ())
    results = [await checker.check_resource(Probe(a)) for a in answers]
    assert [r["status"] for r in results] == [
        "unhealthy",
        "unhealthy",
        "unknown",
        "healthy",
        "healthy",
        "healthy",
        "unhealthy",
        "healthy",
    ]
    assert results[0]["details"] == {"healthy": False, "replication_lag": 12}
    assert results[1]["error"] == "replica lag 12 s"
    assert results[4]["details"] == {"latency": 3}
    assert results[5]["details"] is None


async def test_health_check_wins_over_ping_and_fallbacks() -> None:
    calls: list[str] = []

    class Everything:
        def health_check(self) -> bool:
            calls.append("health_check")
            return True

        def ping(self) -> bool:  # pragma: no cover - not reached
            calls.append("ping")
            return True

        def execute(self, sql: str) -> None:  # pragma: no cover - not reached
            calls.append("execute")

    result = await ResourceHealthChecker(InjectQ()).check_resource(Everything())
    assert result["status"] == "healthy"
    assert calls == ["health_check"]


async def test_fallbacks_can_be_turned_off() -> None:
    c = container(RawSQL)
    async with c.resource_scope():
        raw = await c.aget(RawSQL)
        report = await ResourceHealthChecker(c, fallbacks=False).check_all_resources()
        assert report == {
            "RawSQL": {
                "status": "unknown",
                "latency_ms": report["RawSQL"]["latency_ms"],
                "error": None,
                "details": None,
            }
        }
        assert raw.statements == []


async def test_a_pool_reports_its_stats() -> None:
    pool: ResourcePool[sqlite3.Connection] = ResourcePool(
        lambda: sqlite3.connect(DB, check_same_thread=False), max_size=4, min_size=2
    )
    c = InjectQ()
    c.bind_instance(ResourcePool, pool)
    async with c.resource_scope():
        await c.aget(ResourcePool)
        async with pool.acquire() as conn:
            conn.execute("SELECT 1")
            report = await ResourceHealthChecker(c).check_all_resources()
    result = report["ResourcePool"]
    assert result["status"] == "healthy"
    assert result["details"] is not None
    assert result["details"]["size"] == 2
    assert result["details"]["in_use"] == 1
    assert result["details"]["idle"] == 1


async def test_only_live_resources_are_checked(tmp_path: Path) -> None:
    c = container(Database, Settings)
    assert await ResourceHealthChecker(c).check_all_resources() == {}
    async with c.resource_scope():
        await c.aget(Settings)
        assert list(await ResourceHealthChecker(c).check_all_resources()) == ["Settings"]
    await c.aclose()
    assert await ResourceHealthChecker(c).check_all_resources() == {}


async def test_string_keys_name_the_report() -> None:
    c = InjectQ()
    c.bind("primary_db", Database)
    c.bind("replica_db", Database)
    async with c.resource_scope():
        await c.aget("primary_db")
        await c.aget("replica_db")
        report = await ResourceHealthChecker(c).check_all_resources()
    assert sorted(report) == ["primary_db", "replica_db"]
    assert all(r["details"] == {"status": "healthy", "users": 3} for r in report.values())
    await c.aclose()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        ResourceHealthChecker(InjectQ(), timeout=0)


def test_exported_from_both_packages() -> None:
    assert injectq.resources.ResourceHealthChecker is ResourceHealthChecker


# -- the sync twin ------------------------------------------------------------------------


def test_sync_twin_every_status() -> None:
    release = threading.Event()

    @resource
    class Stuck:
        def health_check(self) -> bool:
            release.wait()
            return True

    @resource(scope="request")
    class Session:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(DB, check_same_thread=False)

        def health_check(self) -> dict[str, Any]:
            self.conn.execute("SELECT 1")
            return {"status": "healthy"}

        def dispose(self) -> None:
            self.conn.close()

    classes = (Database, LogFile, Settings, RawSQL, Broken, Stuck)
    c = container(*classes)
    c.bind(Session, Session)
    try:
        with c.resource_scope():
            for cls in classes:
                c.get(cls)
            with c.scope("request"):
                c.get(Session)
                with c.scope("request"):
                    c.get(Session)
                    # long enough for the healthy checks on a loaded machine
                    report = ResourceHealthChecker(c, timeout=0.5).check_all_resources_sync()
            statuses = {name: r["status"] for name, r in report.items()}
            assert statuses == {
                "Database": "healthy",
                "LogFile": "healthy",
                "Settings": "unknown",
                "RawSQL": "healthy",
                "Broken": "error",
                "Stuck": "error",
                "Session": "healthy",
                "Session#2": "healthy",
            }
            assert report["Database"]["details"] == {"status": "healthy", "users": 3}
            assert report["Broken"]["error"] == "OperationalError: disk I/O error"
            assert report["Stuck"]["error"] == "health check did not finish within 0.5 s"

            c.get(LogFile).file.close()
            one = ResourceHealthChecker(c).check_resource_sync(c.get(LogFile))
            assert one["status"] == "unhealthy"
            assert one["error"] == "health_check() returned a false value"
    finally:
        release.set()  # let the stuck check's thread finish
    c.close()


def test_sync_twin_runs_checks_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=10)

    class Replica:
        def ping(self) -> bool:
            barrier.wait()
            return True

    @resource(scope="request")
    class Node(Replica):
        pass

    c = InjectQ()
    c.bind(Node, Node)
    with c.scope("request"):
        c.get(Node)
        with c.scope("request"):
            c.get(Node)
            with c.scope("request"):
                c.get(Node)
                report = ResourceHealthChecker(c, timeout=10).check_all_resources_sync()
    assert {name: r["status"] for name, r in report.items()} == {
        "Node": "healthy",
        "Node#2": "healthy",
        "Node#3": "healthy",
    }


def test_sync_twin_runs_async_checks_to_completion() -> None:
    class AsyncProbe:
        async def ping(self) -> bool:
            await asyncio.sleep(0)
            return False

    result = ResourceHealthChecker(InjectQ()).check_resource_sync(AsyncProbe())
    assert result["status"] == "unhealthy"
