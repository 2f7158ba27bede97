"""FastMCP integration with a real FastMCP server and its in-memory client: every tool
call (resource read, prompt) runs in its own request scope, and the SQLite connections
its handlers use are closed when it ends, also when the handler failed."""

import asyncio
import itertools
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import aiosqlite
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from injectq import InjectQ, resource
from injectq.integrations.fastmcp import (
    InjectMCP,
    InjectQMCPMiddleware,
    get_container_mcp,
    setup_mcp,
)
from injectq.utils.exceptions import (
    InjectionError,
    InjectQError,
    ResourceDisposalError,
    ResourceInitializationError,
)

ROOT = Path(__file__).resolve().parent.parent


def open_fds(path: Path) -> int:
    """How many file descriptors of this process point at ``path``."""
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
    """Counts of the connections opened and closed, and the most open at once."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.opens = self.closes = self.live = self.peak = 0
        self.seen_errors: list[BaseException | None] = []

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
class Ledger:
    """A request's SQLite connection: opened on first use, closed when the call ends."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.serial = next(_serials)  # ids can be reused once collected; serials cannot
        self.conn: sqlite3.Connection | None = None

    def initialize(self) -> None:
        # check_same_thread=False: a sync tool runs in a worker thread
        self.conn = sqlite3.connect(self.stats.db_path, check_same_thread=False)
        self.stats.opened()

    def dispose(self) -> None:
        assert self.conn is not None
        self.conn.close()
        self.stats.closed()

    def add(self, name: str) -> int:
        assert self.conn is not None
        self.conn.execute("INSERT INTO entries (name) VALUES (?)", (name,))
        self.conn.commit()
        return int(self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


class UnitOfWork:
    """Writes of one call, in one transaction: committed if the call succeeded."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add(self, name: str) -> None:
        self.conn.execute("INSERT INTO entries (name) VALUES (?)", (name,))


@resource()
def unit_of_work(stats: Stats) -> Iterator[UnitOfWork]:
    conn = sqlite3.connect(stats.db_path, check_same_thread=False)
    stats.opened()
    try:
        yield UnitOfWork(conn)
    except BaseException as exc:
        stats.seen_errors.append(exc)
        conn.rollback()
        raise
    else:
        stats.seen_errors.append(None)
        conn.commit()
    finally:
        conn.close()
        stats.closed()


@resource
class AsyncLedger:
    """The same with aiosqlite: its initialize and dispose are async."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.raw: aiosqlite.Connection | None = None

    async def initialize(self) -> None:
        self.raw = await aiosqlite.connect(self.stats.db_path)
        self.stats.opened()

    async def dispose(self) -> None:
        assert self.raw is not None
        await self.raw.close()
        self.stats.closed()

    async def count(self) -> int:
        assert self.raw is not None
        async with self.raw.execute("SELECT COUNT(*) FROM entries") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


def rows(stats: Stats) -> list[str]:
    conn = sqlite3.connect(stats.db_path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM entries ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def stats(tmp_path: Path) -> Stats:
    path = tmp_path / "entries.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, name TEXT)")
    raw.close()
    return Stats(path)


@pytest.fixture
def container(stats: Stats) -> InjectQ:
    c = InjectQ()
    c.bind_instance(Stats, stats)
    c.bind(Ledger, Ledger, scope="request")
    c.bind(UnitOfWork, unit_of_work, scope="request")
    c.bind(AsyncLedger, AsyncLedger, scope="request")
    return c


@pytest.fixture
def mcp(container: InjectQ) -> FastMCP:
    server = FastMCP("ledger")
    setup_mcp(container, server)
    return server


@pytest.fixture
async def client(mcp: FastMCP) -> AsyncIterator[Client[Any]]:
    async with Client(mcp) as c:
        yield c


# --------------------------------------------------------------------------- one scope per call
async def test_each_tool_call_gets_its_own_request_scope(
    container: InjectQ, mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    seen: list[Ledger] = []

    @mcp.tool
    async def add(
        name: str,
        also: Annotated[Ledger, InjectMCP(Ledger)],
        ledger: Ledger = InjectMCP(Ledger),
        same: Ledger = InjectMCP[Ledger],
    ) -> int:
        # one request scope for the whole call: every way of asking gives one instance
        assert same is ledger and also is ledger
        assert container.get(Ledger) is ledger
        assert InjectQ.get_instance() is container
        assert get_container_mcp() is container
        seen.append(ledger)
        return ledger.add(name)

    assert (await client.call_tool("add", {"name": "a"})).data == 1
    assert stats.live == 0 and open_fds(stats.db_path) == 0  # closed when the call ended
    assert (await client.call_tool("add", {"name": "b"})).data == 2
    assert stats.live == 0 and open_fds(stats.db_path) == 0
    assert len({ledger.serial for ledger in seen}) == 2  # a fresh one per call
    assert stats.opens == stats.closes == 2
    with pytest.raises(sqlite3.ProgrammingError):
        assert seen[0].conn is not None
        seen[0].conn.execute("SELECT 1")
    assert rows(stats) == ["a", "b"]


async def test_injected_parameters_are_hidden_from_the_tool_schema(
    mcp: FastMCP, client: Client[Any]
) -> None:
    @mcp.tool
    async def add(
        name: str,
        ledger: Ledger = InjectMCP(Ledger),
        uow: UnitOfWork = InjectMCP[UnitOfWork],
    ) -> str:
        return name

    (tool,) = await client.list_tools()
    assert set(tool.input_schema["properties"]) == {"name"}
    assert tool.input_schema["required"] == ["name"]


async def test_a_tool_without_inject_mcp_runs_in_a_scope_too(
    container: InjectQ, mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    @mcp.tool
    async def add(name: str) -> int:
        return (await container.aget(Ledger)).add(name)

    assert (await client.call_tool("add", {"name": "a"})).data == 1
    assert stats.opens == stats.closes == 1
    assert open_fds(stats.db_path) == 0


async def test_a_sync_tool_sees_the_call_scope_in_its_worker_thread(
    container: InjectQ, mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    threads: list[int] = []

    @mcp.tool
    def add(name: str, ledger: Ledger = InjectMCP(Ledger)) -> int:
        threads.append(threading.get_ident())
        assert container.get(Ledger) is ledger
        assert get_container_mcp() is container
        return ledger.add(name)

    assert (await client.call_tool("add", {"name": "a"})).data == 1
    assert threads and threads[0] != threading.get_ident()
    assert stats.opens == stats.closes == 1
    assert open_fds(stats.db_path) == 0


async def test_an_async_resource_comes_back_initialized(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    @mcp.tool
    async def count(ledger: AsyncLedger = InjectMCP[AsyncLedger]) -> int:
        assert ledger.raw is not None  # initialized before the tool runs
        return await ledger.count()

    assert (await client.call_tool("count", {})).data == 0
    assert stats.opens == stats.closes == 1
    assert open_fds(stats.db_path) == 0


async def test_resource_reads_and_prompts_get_a_scope_each(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    @mcp.resource("ledger://count")
    def count(ledger: Ledger = InjectMCP(Ledger)) -> str:
        assert ledger.conn is not None
        return str(ledger.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    @mcp.prompt
    def summarize(topic: str, ledger: Ledger = InjectMCP[Ledger]) -> str:
        return f"{topic}: {ledger.add(topic)} entries"

    for _ in range(2):
        (content,) = await client.read_resource("ledger://count")
        assert getattr(content, "text", None) in ("0", "1")
        assert stats.live == 0
    prompt = await client.get_prompt("summarize", {"topic": "x"})
    assert "x: 1 entries" in str(prompt.messages[0].content)
    assert stats.opens == stats.closes == 3
    assert open_fds(stats.db_path) == 0


# --------------------------------------------------------------------------- failures
async def test_a_tool_error_reaches_the_disposals_and_they_still_run(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    @mcp.tool
    def add(name: str, uow: UnitOfWork = InjectMCP(UnitOfWork)) -> str:
        uow.add(name)
        if name == "bad":
            raise ValueError("not a name")
        return name

    assert (await client.call_tool("add", {"name": "good"})).data == "good"
    with pytest.raises(ToolError, match="not a name"):
        await client.call_tool("add", {"name": "bad"})
    # the generator saw the tool's own exception at its yield, not FastMCP's ToolError
    assert stats.seen_errors[0] is None
    error = stats.seen_errors[1]
    assert type(error) is ValueError and str(error) == "not a name"
    assert rows(stats) == ["good"]  # the failed call's insert was rolled back
    assert stats.opens == stats.closes == 2
    assert open_fds(stats.db_path) == 0


async def test_a_resource_failing_to_initialize_fails_the_call_and_the_rest_are_disposed(
    container: InjectQ, mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    class CacheDown(Exception):
        pass

    @resource
    class Cache:
        def initialize(self) -> None:
            raise CacheDown("cache unreachable")

    container.bind(Cache, Cache, scope="request")

    @mcp.tool
    def add(name: str, ledger: Ledger = InjectMCP(Ledger), cache: Cache = InjectMCP(Cache)) -> int:
        return ledger.add(name)

    for _ in range(3):
        with pytest.raises(ToolError, match="cache"):
            await client.call_tool("add", {"name": "a"})
        assert stats.live == 0  # the connection opened before the failure was closed
    with pytest.raises(ToolError) as server_side:
        await mcp.call_tool("add", {"name": "a"})
    causes = []
    error: BaseException | None = server_side.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    assert any(isinstance(e, ResourceInitializationError) for e in causes)
    assert isinstance(causes[-1], CacheDown)
    assert stats.opens == stats.closes == 4
    assert rows(stats) == []
    assert open_fds(stats.db_path) == 0


async def test_a_failed_disposal_fails_the_call_and_the_next_call_works(
    container: InjectQ,
    mcp: FastMCP,
    client: Client[Any],
    stats: Stats,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = [True]

    @resource
    class Flaky:
        def dispose(self) -> None:
            if failing[0]:
                raise OSError("disk full while flushing")

    container.bind(Flaky, Flaky, scope="request")

    @mcp.tool
    def add(name: str, ledger: Ledger = InjectMCP(Ledger), flaky: Flaky = InjectMCP(Flaky)) -> int:
        return ledger.add(name)

    @mcp.tool
    def check(name: str) -> bool:
        return True

    # raised where the server sees it: the disposal failure is the cause
    with caplog.at_level(logging.ERROR, logger="injectq.resources"):
        with pytest.raises(ToolError) as server_side:
            await mcp.call_tool("add", {"name": "a"})
    assert "disposing its resources failed" in str(server_side.value)
    cause = server_side.value.__cause__
    assert isinstance(cause, ResourceDisposalError)
    assert isinstance(cause.exceptions[0], OSError)
    assert any("Flaky" in record.getMessage() for record in caplog.records)
    # and the client is told the call failed, without the details
    with pytest.raises(ToolError, match="disposing its resources failed"):
        await client.call_tool("add", {"name": "b"})
    assert stats.opens == stats.closes == 2  # the connection was closed all the same
    failing[0] = False
    assert (await client.call_tool("add", {"name": "c"})).data == 3
    assert open_fds(stats.db_path) == 0


async def test_a_call_cancelled_by_its_timeout_still_disposes(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    started = asyncio.Event()

    @mcp.tool(timeout=0.05)
    async def stuck(uow: UnitOfWork = InjectMCP(UnitOfWork)) -> str:
        uow.add("stuck")
        started.set()
        await asyncio.Event().wait()  # cancelled by FastMCP's timeout
        return "never"

    for round_ in range(3):
        with pytest.raises(ToolError, match="timed out"):
            await client.call_tool("stuck", {})
        assert started.is_set()
        started.clear()
        assert stats.opens == stats.closes == round_ + 1
        assert stats.seen_errors[-1] is not None  # the disposal saw the call fail
    assert rows(stats) == []  # rolled back each time
    assert open_fds(stats.db_path) == 0


async def test_a_call_the_client_cancels_still_disposes(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    started = asyncio.Event()

    @mcp.tool
    async def stuck(
        ledger: AsyncLedger = InjectMCP(AsyncLedger), uow: UnitOfWork = InjectMCP(UnitOfWork)
    ) -> str:
        uow.add("stuck")
        started.set()
        await asyncio.Event().wait()  # until the client cancels the request
        return "never"

    @mcp.tool
    async def count(ledger: AsyncLedger = InjectMCP(AsyncLedger)) -> int:
        return await ledger.count()

    for round_ in range(3):
        call = asyncio.create_task(client.call_tool("stuck", {}))
        await started.wait()
        started.clear()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # the server cancels the call's task; its scope still disposes both, the async
        # one (aiosqlite's close suspends) included
        for _ in range(500):
            if stats.closes == 2 * (round_ + 1):
                break
            await asyncio.sleep(0.01)
        assert stats.opens == stats.closes == 2 * (round_ + 1)
        assert isinstance(stats.seen_errors[-1], asyncio.CancelledError)
    assert rows(stats) == []
    assert (await client.call_tool("count", {})).data == 0  # the server serves on
    assert stats.live == 0
    assert open_fds(stats.db_path) == 0


# --------------------------------------------------------------------------- load
async def test_no_connection_leaks_over_many_calls(
    container: InjectQ, mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    @mcp.tool
    async def add(name: str, ledger: Ledger = InjectMCP(Ledger)) -> int:
        if name.endswith("7"):
            raise RuntimeError("unlucky")
        return ledger.add(name)

    calls = 300
    failures = 0
    for i in range(calls):
        try:
            await client.call_tool("add", {"name": f"n{i}"})
        except ToolError:
            failures += 1
        assert stats.live == 0
    assert failures == calls // 10
    assert stats.opens == stats.closes == calls
    assert stats.peak == 1
    assert open_fds(stats.db_path) == 0
    metrics = container.resource_metrics()
    (ledger_metrics,) = [m for name, m in metrics.items() if "Ledger" in name]
    assert ledger_metrics["active"] == 0
    assert ledger_metrics["disposed"] == calls
    assert container.get_all_resources() == {}  # nothing live outside a call


async def test_concurrent_calls_get_separate_scopes(
    mcp: FastMCP, client: Client[Any], stats: Stats
) -> None:
    concurrent = 8
    barrier = asyncio.Barrier(concurrent)
    ledgers: list[Ledger] = []

    @mcp.tool
    async def add(name: str, ledger: Ledger = InjectMCP(Ledger)) -> int:
        ledgers.append(ledger)
        await barrier.wait()  # every call holds its connection at the same time
        assert get_container_mcp().get(Ledger) is ledger  # still this call's own
        return ledger.serial

    for round_ in range(5):
        ledgers.clear()
        results = await asyncio.gather(
            *(client.call_tool("add", {"name": f"r{round_}c{i}"}) for i in range(concurrent))
        )
        serials = {result.data for result in results}
        assert len(serials) == concurrent  # one connection per call
        assert serials == {ledger.serial for ledger in ledgers}
        assert stats.peak == concurrent
        assert stats.live == 0
    assert stats.opens == stats.closes == 5 * concurrent
    assert open_fds(stats.db_path) == 0


# --------------------------------------------------------------------------- setup
async def test_setup_mcp_once_per_server(container: InjectQ) -> None:
    server = FastMCP("once")
    setup_mcp(container, server)
    setup_mcp(container, server)  # again with the same container: nothing happens
    ours = [m for m in server.middleware if isinstance(m, InjectQMCPMiddleware)]
    assert len(ours) == 1
    with pytest.raises(InjectQError, match="another container"):
        setup_mcp(InjectQ(), server)
    assert [m for m in server.middleware if isinstance(m, InjectQMCPMiddleware)] == ours


async def test_setup_mcp_with_another_scope_name(stats: Stats) -> None:
    container = InjectQ()
    container.bind_instance(Stats, stats)
    container.bind(Ledger, Ledger, scope="action")
    server = FastMCP("actions")
    setup_mcp(container, server, scope_name="action")

    @server.tool
    async def add(name: str, ledger: Ledger = InjectMCP(Ledger)) -> int:
        return ledger.add(name)

    async with Client(server) as client:
        assert (await client.call_tool("add", {"name": "a"})).data == 1
        assert (await client.call_tool("add", {"name": "b"})).data == 2
    assert stats.opens == stats.closes == 2


async def test_the_middleware_alone_serves_calls(container: InjectQ, stats: Stats) -> None:
    """InjectQ 0.5's other way in: the middleware passed to FastMCP, no setup_mcp."""
    server = FastMCP("middleware", middleware=[InjectQMCPMiddleware(container=container)])

    @server.tool
    async def add(name: str, ledger: Ledger = InjectMCP(Ledger)) -> int:
        return ledger.add(name)

    async with Client(server) as client:
        assert (await client.call_tool("add", {"name": "a"})).data == 1
    assert stats.opens == stats.closes == 1
    assert getattr(server, "_injectq_container", None) is container


async def test_without_setup_the_errors_say_what_to_do(stats: Stats) -> None:
    with pytest.raises(InjectionError, match=r"setup_mcp\(container, mcp\)"):
        get_container_mcp()  # not in a FastMCP request at all

    server = FastMCP("not set up")
    answers: list[str] = []

    @server.tool
    async def where() -> str:
        try:
            get_container_mcp()
        except InjectionError as exc:
            answers.append(str(exc))
        return "ok"

    async with Client(server) as client:
        await client.call_tool("where", {})
    assert "setup_mcp(container, mcp)" in answers[0]
    assert "No InjectQ container attached" in answers[0]


# --------------------------------------------------------------------------- lazy loading, types
def test_importing_injectq_does_not_import_fastmcp() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert 'fastmcp' not in sys.modules and 'mcp' not in sys.modules\n"
        "import injectq.integrations.fastmcp\n"
        "assert 'fastmcp' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _mypy(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_inject_mcp_is_typed_as_the_service_for_mypy() -> None:
    proc = _mypy(ROOT / "tests" / "typing" / "fastmcp_inject.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
