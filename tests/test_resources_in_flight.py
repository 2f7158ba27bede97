"""Issue 11 item 3 (DESIGN §3.3, §3.6): an activation still in flight when the scope that
owns it exits must not end up live and unowned. It disposes itself and raises
``ScopeError``: nothing may stay live on a closed scope."""

import asyncio
import contextvars
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from injectq import InjectQ, ScopeError, resource


def _session_class(db: Path, gate: asyncio.Event, events: list[str]) -> type:
    @resource
    class Session:
        async def initialize(self) -> None:
            events.append("init begin")
            await gate.wait()
            self.conn = sqlite3.connect(db)
            events.append("init end")

        async def dispose(self) -> None:
            self.conn.close()
            events.append("disposed")

    return Session


@pytest.mark.parametrize("lifetime", ["request", "transient"])
async def test_a_task_still_initializing_when_its_scope_exits_disposes_it(
    tmp_path: Path, lifetime: str
) -> None:
    for _ in range(10):
        gate = asyncio.Event()
        events: list[str] = []
        session_cls = _session_class(tmp_path / "db.sqlite3", gate, events)
        c = InjectQ()
        c.bind(session_cls, session_cls, scope=lifetime)
        async with c.scope("request"):
            straggler = asyncio.create_task(c.aget(session_cls))  # inherits the scope
            while "init begin" not in events:
                await asyncio.sleep(0)
        # the scope has exited; the initialization finishes afterwards
        gate.set()
        with pytest.raises(ScopeError, match="closed"):
            await straggler
        assert events == ["init begin", "init end", "disposed"]
        metrics = c.resource_metrics()["Session"]
        assert metrics["active"] == 0
        assert metrics["disposed"] == 1
        assert c.get_all_resources() == {}


def _thread_round(db: Path) -> None:
    gate = threading.Event()
    started = threading.Event()
    events: list[str] = []

    @resource
    class Connection:
        def initialize(self) -> None:
            events.append("init begin")
            started.set()
            gate.wait(10)
            self.conn = sqlite3.connect(db, check_same_thread=False)

        def dispose(self) -> None:
            self.conn.close()
            events.append("disposed")

    c = InjectQ()
    c.bind(Connection, Connection, scope="transient")
    outcome: list[BaseException | object] = []

    def work() -> None:
        try:
            outcome.append(c.get(Connection))
        except BaseException as exc:
            outcome.append(exc)

    with c.scope("request"):
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        thread.start()
        assert started.wait(10)
    gate.set()
    thread.join(10)
    assert isinstance(outcome[0], ScopeError), outcome
    assert events == ["init begin", "disposed"]
    assert c.resource_metrics()["Connection"]["active"] == 0


def test_a_copied_context_thread_still_initializing_disposes_it(tmp_path: Path) -> None:
    for _ in range(10):
        _thread_round(tmp_path / "db.sqlite3")


async def test_a_generator_factory_entered_after_its_scope_exits_is_closed(
    tmp_path: Path,
) -> None:
    gate = asyncio.Event()
    events: list[str] = []

    @resource()
    async def connection() -> AsyncIterator[sqlite3.Connection]:
        events.append("enter")
        await gate.wait()
        conn = sqlite3.connect(tmp_path / "db.sqlite3")
        try:
            yield conn
        finally:
            conn.close()
            events.append("closed")

    c = InjectQ()
    c.bind(sqlite3.Connection, connection, scope="transient")
    async with c.resource_scope():
        straggler = asyncio.create_task(c.aget(sqlite3.Connection))
        while "enter" not in events:
            await asyncio.sleep(0)
    gate.set()
    with pytest.raises(ScopeError, match="closed"):
        await straggler
    assert events == ["enter", "closed"]
    assert c.resource_metrics()["Connection"]["active"] == 0


async def test_a_shared_bound_instance_is_not_held_by_a_closed_scope(tmp_path: Path) -> None:
    # a bound instance shared by two scopes: the one whose task initializes it closes
    # first, so that activation is disposed; the other scope's task, which waited for it,
    # activates it anew, and its own exit disposes it
    gate = asyncio.Event()
    events: list[str] = []
    session_cls = _session_class(tmp_path / "db.sqlite3", gate, events)
    shared = session_cls()
    c = InjectQ()
    c.bind_instance(session_cls, shared)

    async def long_request(ready: asyncio.Event, done: asyncio.Event) -> None:
        async with c.resource_scope():
            await c.aget(session_cls)
            ready.set()
            await done.wait()

    ready, done = asyncio.Event(), asyncio.Event()
    async with c.resource_scope():
        straggler = asyncio.create_task(c.aget(session_cls))
        while "init begin" not in events:
            await asyncio.sleep(0)
    other = asyncio.create_task(long_request(ready, done))
    await asyncio.sleep(0)  # the other request now waits for the same initialization
    gate.set()
    with pytest.raises(ScopeError, match="closed"):
        await straggler
    await ready.wait()
    assert events == ["init begin", "init end", "disposed", "init begin", "init end"]
    assert shared.conn.execute("SELECT 1").fetchone() == (1,)  # live, for the other scope
    done.set()
    await other
    assert events[-1] == "disposed"
    assert c.resource_metrics()["Session"]["active"] == 0


def test_activation_racing_the_scope_exit_never_leaves_a_live_resource(tmp_path: Path) -> None:
    # threads activate while the scope exits, at varied moments: every activation is
    # disposed exactly once, by the exit or by itself (ScopeError), never left live
    db = tmp_path / "db.sqlite3"
    opened: list[int] = []
    closed: list[int] = []

    @resource
    class Connection:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db, check_same_thread=False)
            opened.append(id(self))

        def dispose(self) -> None:
            self.conn.close()
            closed.append(id(self))

    c = InjectQ()
    c.bind(Connection, Connection, scope="transient")
    outcomes = {"got": 0, "scope_error": 0}
    lock = threading.Lock()

    def work(go: threading.Event) -> None:
        go.wait(10)
        for _ in range(3):
            try:
                c.get(Connection)
                key = "got"
            except ScopeError:
                key = "scope_error"
            with lock:
                outcomes[key] += 1

    for i in range(300):
        go = threading.Event()
        with c.scope("request"):
            ctx = contextvars.copy_context()
            threads = [threading.Thread(target=ctx.copy().run, args=(work, go)) for _ in range(2)]
            for t in threads:
                t.start()
            go.set()
            for _ in range(i % 7):
                threading.Event().wait(0.0001)
        for t in threads:
            t.join(10)
    assert sorted(opened) == sorted(closed)
    assert c.resource_metrics()["Connection"]["active"] == 0
    assert outcomes["got"] > 0
