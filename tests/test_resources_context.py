"""DESIGN §3.6 (leaks, closed scopes) and §3.7 (context)."""

import asyncio
import contextvars
import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from injectq import InjectQ, ScopeError, resource


def make_classes(db: Path) -> tuple[type, type, type]:
    @resource
    class Conn:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db, check_same_thread=False)

        def dispose(self) -> None:
            self.conn.close()

    class Settings:
        pass

    class Session:
        pass

    return Conn, Settings, Session


def wired(db: Path) -> tuple[InjectQ, type, type, type]:
    Conn, Settings, Session = make_classes(db)
    c = InjectQ()
    c.bind(Conn, Conn, scope="transient")
    c.bind(Settings, Settings)  # singleton
    c.bind(Session, Session, scope="request")
    return c, Conn, Settings, Session


# ------------------------------------------------------------------ leaks
def test_leaked_scope_warns_naming_its_live_resources(tmp_path: Path) -> None:
    c, Conn, _, _ = wired(tmp_path / "db.sqlite3")
    held: list[object] = []

    def forget_scope() -> None:
        scope = c.resource_scope()
        scope.__enter__()
        held.append(c.get(Conn).conn)  # keep the sqlite connection, close it ourselves

    contextvars.copy_context().run(forget_scope)
    with pytest.warns(ResourceWarning, match=r"Scope .*garbage-collected.*Conn"):
        gc.collect()
    held[0].close()  # type: ignore[attr-defined]


def test_leaked_container_warns_naming_its_live_resources(tmp_path: Path) -> None:
    Conn, _, _ = make_classes(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(Conn, Conn)
    conn = c.get(Conn).conn
    del c
    with pytest.warns(ResourceWarning, match=r"container garbage-collected.*Conn"):
        gc.collect()
    conn.close()


def test_closed_scope_and_container_do_not_warn(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    c, Conn, _, _ = wired(tmp_path / "db.sqlite3")
    with c.resource_scope():
        c.get(Conn)
    c.bind(Conn, Conn)
    c.get(Conn)
    c.close()
    del c
    gc.collect()
    assert [w for w in recwarn if issubclass(w.category, ResourceWarning)] == []


# ------------------------------------------------------------------ closed scopes
async def test_task_that_outlives_its_scope_gets_scope_error(tmp_path: Path) -> None:
    c, Conn, Settings, Session = wired(tmp_path / "db.sqlite3")
    scope_closed = asyncio.Event()
    results: dict[str, object] = {}

    async def straggler() -> None:
        await scope_closed.wait()
        for name, key in (("transient", Conn), ("scoped", Session)):
            try:
                await c.aget(key)
                results[name] = "resolved"
            except ScopeError as exc:
                results[name] = exc
            try:
                c.get(key)
                results[name + " sync"] = "resolved"
            except ScopeError as exc:
                results[name + " sync"] = exc
        results["singleton"] = c.get(Settings)

    async with c.scope("request"):
        task = asyncio.create_task(straggler())
        await c.aget(Session)
    scope_closed.set()
    await task
    for name in ("transient", "scoped", "transient sync", "scoped sync"):
        assert isinstance(results[name], ScopeError), name
        assert "closed" in str(results[name])
    assert isinstance(results["singleton"], Settings)


# ------------------------------------------------------------------ context
async def test_each_task_sees_its_own_scope_and_children_inherit(tmp_path: Path) -> None:
    c, _, _, Session = wired(tmp_path / "db.sqlite3")
    both_inside = asyncio.Barrier(2)
    seen: dict[str, object] = {}

    async def request(name: str) -> None:
        async with c.scope("request") as scope:
            session = await c.aget(Session)
            await both_inside.wait()
            assert c.current_scope() is scope

            async def child() -> object:
                assert c.current_scope() is scope
                return await c.aget(Session)

            assert await asyncio.create_task(child()) is session
            seen[name] = session

    await asyncio.gather(request("a"), request("b"))
    assert seen["a"] is not seen["b"]
    assert c.current_scope() is None


def test_plain_thread_starts_with_no_scope_copied_context_sees_callers(
    tmp_path: Path,
) -> None:
    c, _, _, Session = wired(tmp_path / "db.sqlite3")
    out: dict[str, object] = {}

    def plain() -> None:
        out["plain scope"] = c.current_scope()
        try:
            c.get(Session)
        except ScopeError as exc:
            out["plain get"] = exc

    def copied() -> None:
        out["copied"] = c.get(Session)

    with c.scope("request") as scope:
        session = c.get(Session)
        t1 = threading.Thread(target=plain)
        ctx = contextvars.copy_context()
        t2 = threading.Thread(target=ctx.run, args=(copied,))
        for t in (t1, t2):
            t.start()
        for t in (t1, t2):
            t.join(10)
        assert c.current_scope() is scope
    assert out["plain scope"] is None
    assert isinstance(out["plain get"], ScopeError)
    assert out["copied"] is session


def test_threads_each_have_their_own_scope(tmp_path: Path) -> None:
    c, Conn, _, Session = wired(tmp_path / "db.sqlite3")
    barrier = threading.Barrier(8)
    sessions: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        with c.scope("request"):
            session = c.get(Session)
            conn = c.get(Conn)
            barrier.wait(5)
            assert c.get(Session) is session
            conn.conn.execute("SELECT 1").fetchone()
            with lock:
                sessions.append(session)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len({id(s) for s in sessions}) == 8


async def test_one_container_serves_sync_threads_and_async_tasks(tmp_path: Path) -> None:
    c, Conn, _, Session = wired(tmp_path / "db.sqlite3")

    def sync_request() -> object:
        with c.scope("request"):
            return c.get(Session)

    async def async_request() -> object:
        async with c.scope("request"):
            await c.aget(Conn)
            return await c.aget(Session)

    thread_results = await asyncio.gather(*(asyncio.to_thread(sync_request) for _ in range(4)))
    task_results = await asyncio.gather(*(async_request() for _ in range(4)))
    assert len({id(x) for x in [*thread_results, *task_results]}) == 8
    assert c.get_all_resources() == {}
