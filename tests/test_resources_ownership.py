"""DESIGN §3.3: every activation is disposed by exactly one owner."""

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, InjectQError, resource


def sqlite_resource(db: Path, events: list[str]) -> type:
    @resource
    class Conn:
        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        def initialize(self) -> None:
            self.conn = sqlite3.connect(db, check_same_thread=False)
            events.append(f"init {type(self).__name__}")

        def dispose(self) -> None:
            assert self.conn is not None
            self.conn.close()
            self.conn = None
            events.append(f"dispose {type(self).__name__}")

    return Conn


def file_resource(path: Path) -> type:
    @resource
    class LogFile:
        def __init__(self) -> None:
            self.fh: Any = None
            self.opened = 0

        def initialize(self) -> None:
            self.fh = path.open("a", encoding="utf-8")
            self.opened += 1

        def write(self, line: str) -> None:
            self.fh.write(line + "\n")

        def dispose(self) -> None:
            self.fh.close()
            self.fh = None

    return LogFile


def test_singleton_first_touched_in_request_scope_belongs_to_container(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn)  # singleton
    with c.scope("request"):
        conn = c.get(Conn)
        assert conn.conn is not None
    assert events == ["init Conn"]  # the request scope did not dispose it
    assert conn.conn is not None
    with c.resource_scope():
        assert c.get(Conn) is conn
    assert conn.conn is not None
    assert c.get_all_resources() == {Conn: conn}
    c.close()
    assert events == ["init Conn", "dispose Conn"]
    assert conn.conn is None


async def test_singleton_first_touched_in_async_scope_belongs_to_container(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn)
    async with c.scope("request"):
        conn = await c.aget(Conn)
    assert conn.conn is not None
    await c.aclose()
    assert conn.conn is None


def test_scoped_resource_disposed_by_its_scope_and_fresh_per_scope(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    seen = []
    for _ in range(3):
        with c.scope("request"):
            conn = c.get(Conn)
            assert c.get(Conn) is conn
            with c.resource_scope():  # inner anonymous scope sees the request's instance
                assert c.get(Conn) is conn
            assert conn.conn is not None  # ... and did not dispose it
            seen.append(conn)
        assert conn.conn is None
    assert len({id(s) for s in seen}) == 3
    assert events == ["init Conn", "dispose Conn"] * 3


def test_transient_disposed_by_innermost_scope(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn, scope="transient")
    with c.scope("request"):
        outer = c.get(Conn)
        with c.resource_scope():
            inner = c.get(Conn)
            assert inner is not outer
        assert inner.conn is None  # inner exit disposed what it activated
        assert outer.conn is not None  # the outer scope's stays live
    assert outer.conn is None


def test_transient_outside_any_scope_belongs_to_root_and_logs_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn, scope="transient")
    with caplog.at_level(logging.WARNING, logger="injectq"):
        a = c.get(Conn)
        b = c.get(Conn)
    warnings = [r for r in caplog.records if "outside any resource scope" in r.getMessage()]
    assert len(warnings) == 1  # the first time per type only
    assert a.conn is not None and b.conn is not None
    c.close()
    assert a.conn is None and b.conn is None


def test_transient_dependency_of_singleton_goes_with_the_singleton(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)

    class Repo:
        def __init__(self, conn: Conn) -> None:  # type: ignore[valid-type]
            self.conn = conn

    c = InjectQ()
    c.bind(Conn, Conn, scope="transient")
    c.bind(Repo, Repo)  # singleton
    with c.scope("request"):
        repo = c.get(Repo)
        assert repo.conn.conn is not None
    # our decision: the transient dependency of a longer-lived object is owned by that
    # object's owner (here the root), not by the scope that happened to be innermost
    assert repo.conn.conn is not None
    c.close()
    assert repo.conn.conn is None


def test_transient_dependency_of_scoped_goes_with_the_scoped_owner(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)

    class Handler:
        def __init__(self, conn: Conn) -> None:  # type: ignore[valid-type]
            self.conn = conn

    c = InjectQ()
    c.bind(Conn, Conn, scope="transient")
    c.bind(Handler, Handler, scope="request")
    with c.scope("request"):
        with c.resource_scope():
            handler = c.get(Handler)  # created in the request scope, touched in the inner
        assert handler.conn.conn is not None
        with c.resource_scope():
            assert c.get(Handler) is handler
    assert handler.conn.conn is None


def test_bound_instance_is_reactivated_by_each_later_scope(tmp_path: Path) -> None:
    LogFile = file_resource(tmp_path / "out.log")
    log = LogFile()
    c = InjectQ()
    c.bind_instance(LogFile, log)
    for i in range(3):
        with c.resource_scope():
            c.get(LogFile).write(f"request {i}")
            assert log.fh is not None
        assert log.fh is None  # disposed at each scope's exit
    assert log.opened == 3
    assert (tmp_path / "out.log").read_text().splitlines() == [
        "request 0",
        "request 1",
        "request 2",
    ]


async def test_concurrent_scopes_sharing_bound_instance_last_exit_disposes(
    tmp_path: Path,
) -> None:
    LogFile = file_resource(tmp_path / "out.log")
    log = LogFile()
    c = InjectQ()
    c.bind_instance(LogFile, log)
    entered = [asyncio.Event() for _ in range(3)]
    leave = [asyncio.Event() for _ in range(3)]

    async def request(i: int) -> None:
        async with c.resource_scope():
            (await c.aget(LogFile)).write(f"from {i}")
            entered[i].set()
            await leave[i].wait()

    tasks = [asyncio.create_task(request(i)) for i in range(3)]
    for e in entered:
        await e.wait()
    assert log.opened == 1
    for i in (1, 0):
        leave[i].set()
        await tasks[i]
        assert log.fh is not None  # one holder is still inside its scope
    leave[2].set()
    await tasks[2]
    assert log.fh is None
    assert log.opened == 1
    assert sorted((tmp_path / "out.log").read_text().splitlines()) == [
        "from 0",
        "from 1",
        "from 2",
    ]
    # a later scope activates it again
    async with c.resource_scope():
        await c.aget(LogFile)
        assert log.fh is not None
    assert log.opened == 2 and log.fh is None


def test_threads_sharing_bound_instance_last_exit_disposes(tmp_path: Path) -> None:
    LogFile = file_resource(tmp_path / "out.log")
    log = LogFile()
    c = InjectQ()
    c.bind_instance(LogFile, log)
    inside = threading.Barrier(8)
    exits: list[bool] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with c.resource_scope():
            with lock:
                c.get(LogFile).write(f"t{i}")
            inside.wait(5)
            with lock:
                exits.append(log.fh is not None)
        # scope exit happens here

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert exits == [True] * 8
    assert log.fh is None
    assert log.opened == 1
    assert len((tmp_path / "out.log").read_text().splitlines()) == 8


def test_nested_scopes_inner_disposes_its_own_outer_stay_live(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    LogFile = file_resource(tmp_path / "out.log")
    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    c.bind(LogFile, LogFile, scope="transient")
    with c.scope("request"):
        conn = c.get(Conn)
        outer_file = c.get(LogFile)
        with c.resource_scope():
            assert c.get(Conn) is conn  # inner sees outer's
            inner_file = c.get(LogFile)
            resources = c.get_all_resources()
            assert resources[Conn] is conn
            with c.resource_scope():
                innermost = c.get(LogFile)
            assert innermost.fh is None
            assert inner_file.fh is not None
        assert inner_file.fh is None
        assert outer_file.fh is not None and conn.conn is not None
    assert outer_file.fh is None and conn.conn is None


async def test_get_all_resources_is_root_plus_current_chain(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    LogFile = file_resource(tmp_path / "out.log")

    @resource
    class Cache:
        pass

    c = InjectQ()
    c.bind(Cache, Cache)  # singleton, no initialize: live from creation
    c.bind(Conn, Conn, scope="request")
    c.bind(LogFile, LogFile, scope="transient")
    cache = c.get(Cache)
    assert c.get_all_resources() == {Cache: cache}
    other_in = asyncio.Event()
    other_out = asyncio.Event()

    async def other_request() -> None:
        async with c.scope("request"):
            await c.aget(LogFile)
            other_in.set()
            await other_out.wait()

    other = asyncio.create_task(other_request())
    await other_in.wait()
    async with c.scope("request"):
        conn = await c.aget(Conn)
        async with c.resource_scope():
            f = await c.aget(LogFile)
            assert c.get_all_resources() == {Cache: cache, Conn: conn, LogFile: f}
        # the sibling task's LogFile is not in this chain
        assert c.get_all_resources() == {Cache: cache, Conn: conn}
    other_out.set()
    await other
    assert c.get_all_resources() == {Cache: cache}
    await c.aclose()
    assert c.get_all_resources() == {}


def test_closed_container_can_be_used_again(tmp_path: Path) -> None:
    events: list[str] = []
    Conn = sqlite_resource(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Conn, Conn)
    first = c.get(Conn)
    c.close()
    second = c.get(Conn)
    assert second is not first  # activated afresh
    assert second.conn is not None and first.conn is None
    with c:
        assert c.get(Conn) is second
    assert second.conn is None
    assert events == ["init Conn", "dispose Conn"] * 2


def _async_dispose_resource(events: list[str]) -> type:
    @resource
    class AsyncClient:
        def initialize(self) -> None:
            events.append("init")

        async def dispose(self) -> None:
            await asyncio.sleep(0)
            events.append("dispose")

    return AsyncClient


def test_sync_close_runs_async_disposals_on_private_loop() -> None:
    events: list[str] = []
    AsyncClient = _async_dispose_resource(events)
    c = InjectQ()
    c.bind(AsyncClient, AsyncClient)
    c.get(AsyncClient)
    c.close()
    assert events == ["init", "dispose"]


async def test_sync_close_inside_running_loop_says_use_aclose() -> None:
    events: list[str] = []
    AsyncClient = _async_dispose_resource(events)
    c = InjectQ()
    c.bind(AsyncClient, AsyncClient)
    await c.aget(AsyncClient)
    with pytest.raises(InjectQError, match="aclose"):
        c.close()
    assert events == ["init"]  # nothing was half-disposed
    async with c:
        pass
    assert events == ["init", "dispose"]


def _enter_apart(c: InjectQ, n: int) -> list[tuple[Any, Any]]:
    """``n`` resource scopes entered side by side (each in a context of its own), as
    concurrent requests are: (context, scope) pairs."""
    import contextvars

    entered = []
    for _ in range(n):
        ctx = contextvars.copy_context()
        scope = c.resource_scope()
        ctx.run(scope.__enter__)
        entered.append((ctx, scope))
    return entered


@pytest.mark.parametrize(
    "order", [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
)
def test_bound_instance_held_by_three_scopes_any_exit_order(tmp_path: Path, order: Any) -> None:
    """The first holder, a later one or the last may leave first: only the last exit
    disposes, and a later scope activates the instance again."""
    LogFile = file_resource(tmp_path / "out.log")
    log = LogFile()
    c = InjectQ()
    c.bind_instance(LogFile, log)
    for round_ in (1, 2):
        scopes = _enter_apart(c, 3)
        for ctx, _ in scopes:
            assert ctx.run(c.get, LogFile) is log
            assert ctx.run(c.get, LogFile) is log  # held once per scope, however often got
        assert log.opened == round_
        for n, i in enumerate(order):
            ctx, scope = scopes[i]
            ctx.run(scope.__exit__, None, None, None)
            assert (log.fh is None) == (n == 2)


def test_users_dispose_of_a_shared_instance_releases_every_hold(tmp_path: Path) -> None:
    LogFile = file_resource(tmp_path / "out.log")
    log = LogFile()
    c = InjectQ()
    c.bind_instance(LogFile, log)
    scopes = _enter_apart(c, 2)
    for ctx, _ in scopes:
        ctx.run(c.get, LogFile)
    log.dispose()  # the user's own call: disposed now, once
    assert log.fh is None
    for ctx, scope in scopes:
        ctx.run(scope.__exit__, None, None, None)  # nothing left to dispose
    log.dispose()
    assert log.opened == 1
    with c.resource_scope():  # activated again, held by this scope alone
        c.get(LogFile)
        assert log.fh is not None and log.opened == 2
    assert log.fh is None
