"""DESIGN §3.5, task affinity: every initialize()/dispose() (and a generator factory's code
before and after ``yield``) runs in the task that drives it, before and after each of its
awaits. Task-bound cleanup (httpx, anyio cancel scopes, ``asyncio.timeout``) must work.

And the two kinds of cancellation: under anyio a scope's teardown is shielded; a raw
``task.cancel()`` reaches the disposal in progress, the remaining disposals still run, and
``CancelledError`` propagates with the task's ``cancelling()`` count intact."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from injectq import InjectQ, resource
from injectq.integrations.fastapi import InjectAPI, setup_fastapi
from support.http_server import BaseURL


@resource
class ApiClient:
    """A real ``httpx.AsyncClient`` whose ``aclose()`` is task-bound (anyio cancel scopes
    in its connection pool): closing it from another task than the one that used it fails."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client: httpx.AsyncClient | None = None
        self.closed_in: asyncio.Task[Any] | None = None

    async def initialize(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.base_url)

    async def fetch(self) -> Any:
        assert self.client is not None
        response = await self.client.get("/data")
        return response.json()

    async def dispose(self) -> None:
        assert self.client is not None
        await self.client.aclose()  # suspends: the connection's close is awaited
        self.closed_in = asyncio.current_task()


def _container(url: str, scope: str) -> InjectQ:
    c = InjectQ()
    c["base_url"] = url
    c.bind(ApiClient, ApiClient, scope=scope)
    return c


async def test_an_httpx_client_that_made_a_request_is_closed_by_a_request_scope(
    http_server: BaseURL,
) -> None:
    c = _container(http_server, "request")
    for _ in range(5):
        async with c.scope("request"):
            api = await c.aget(ApiClient)
            assert (await api.fetch())["items"][0]["id"] == 1
            me = asyncio.current_task()
        assert api.client is not None and api.client.is_closed
        assert api.closed_in is me
    assert await http_server.server.await_connections(0) == 0
    assert c.resource_metrics()["ApiClient"]["dispose_errors"] == 0


async def test_an_httpx_client_singleton_is_closed_by_aclose(http_server: BaseURL) -> None:
    c = _container(http_server, "singleton")
    api = await c.aget(ApiClient)
    await api.fetch()
    await c.aclose()
    assert api.client is not None and api.client.is_closed
    assert api.closed_in is asyncio.current_task()
    assert c.resource_metrics()["ApiClient"]["dispose_errors"] == 0


def test_an_httpx_client_is_closed_by_a_fastapi_apps_shutdown(
    http_server: BaseURL, caplog: pytest.LogCaptureFixture
) -> None:
    c = _container(http_server, "singleton")
    app = FastAPI()
    setup_fastapi(c, app)

    @app.get("/proxy")
    async def proxy(api: InjectAPI[ApiClient]) -> Any:
        return await api.fetch()

    with TestClient(app) as client:
        assert client.get("/proxy").json()["items"][1]["name"] == "beta"
        api = c.get(ApiClient)
    assert api.client is not None and api.client.is_closed
    assert c.resource_metrics()["ApiClient"]["dispose_errors"] == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_every_step_of_a_disposal_runs_in_the_exiting_task() -> None:
    seen: list[asyncio.Task[Any] | None] = []

    @resource
    class Steps:
        async def initialize(self) -> None:
            seen.append(asyncio.current_task())
            await asyncio.sleep(0)
            seen.append(asyncio.current_task())

        async def dispose(self) -> None:
            for _ in range(3):
                seen.append(asyncio.current_task())
                await asyncio.sleep(0)
            seen.append(asyncio.current_task())

    c = InjectQ()
    c.bind(Steps, Steps, scope="request")
    async with c.scope("request"):
        await c.aget(Steps)
    assert seen == [asyncio.current_task()] * 6


@pytest.mark.parametrize("kind", ["asyncio.timeout", "anyio.CancelScope", "TaskGroup"])
async def test_a_generator_factory_holds_a_task_bound_context_across_its_yield(
    tmp_path: Path, kind: str
) -> None:
    events: list[str] = []

    @resource()
    async def connection() -> AsyncIterator[sqlite3.Connection]:
        async with contextlib.AsyncExitStack() as guards:
            if kind == "asyncio.timeout":
                await guards.enter_async_context(asyncio.timeout(30))
            elif kind == "anyio.CancelScope":
                guards.enter_context(anyio.CancelScope())
            else:
                await guards.enter_async_context(asyncio.TaskGroup())
            conn = sqlite3.connect(tmp_path / "db.sqlite3")
            events.append("open")
            try:
                yield conn
            finally:
                await asyncio.sleep(0)  # suspends inside the guard, after the yield
                conn.close()
                events.append("closed")

    c = InjectQ()
    c.bind(sqlite3.Connection, connection, scope="request")

    async def request() -> None:
        async with c.scope("request"):
            conn = await c.aget(sqlite3.Connection)
            assert conn.execute("SELECT 1").fetchone() == (1,)

    for _ in range(3):
        await request()
    # and inside an anyio cancel scope, where the scope's teardown is shielded: the
    # generator's own cancel scope, entered after the scope, is left before its guard
    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
    with anyio.CancelScope():
        await request()
    assert events == ["open", "closed"] * 5
    assert c.resource_metrics()["Connection"]["dispose_errors"] == 0


def _chain(events: list[str], steps: int = 3) -> list[type]:
    classes: list[type] = []
    for name in ("A", "B", "C"):

        async def dispose(self: object, _name: str = name) -> None:
            events.append(f"{_name} begin")
            try:
                for _ in range(steps):
                    await asyncio.sleep(0.001)
            except asyncio.CancelledError:
                events.append(f"{_name} cancelled")
                raise
            events.append(f"{_name} end")

        classes.append(resource(type(name, (), {"dispose": dispose})))
    return classes


async def _request(c: InjectQ, classes: list[type], ready: anyio.Event | None = None) -> None:
    async with c.scope("request"):
        for cls in classes:
            await c.aget(cls)
        if ready is not None:
            ready.set()
            await anyio.sleep_forever()


async def test_raw_cancel_reaches_the_disposal_in_progress_and_the_rest_still_run() -> None:
    for _ in range(20):
        events: list[str] = []
        classes = _chain(events)
        c = InjectQ()
        for cls in classes:
            c.bind(cls, cls, scope="request")
        task = asyncio.create_task(_request(c, classes))
        while "C begin" not in events:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # C saw the cancellation; B and A were still disposed, in full
        assert events == ["C begin", "C cancelled", "B begin", "B end", "A begin", "A end"]
        metrics = c.resource_metrics()
        assert [metrics[n]["active"] for n in "ABC"] == [0, 0, 0]


async def test_asyncio_timeout_around_a_scope_still_times_out() -> None:
    events: list[str] = []
    classes = _chain(events, steps=50)
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope="request")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            async with c.scope("request"):
                for cls in classes:
                    await c.aget(cls)
    assert "C cancelled" in events
    assert events[-1] == "A end"
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_a_taskgroup_sibling_failure_still_disposes_every_scope_resource() -> None:
    events: list[str] = []
    classes = _chain(events)
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope="request")
    ready = asyncio.Event()

    async def request() -> None:
        async with c.scope("request"):
            for cls in classes:
                await c.aget(cls)
            ready.set()
            await asyncio.Event().wait()

    async def fail() -> None:
        await ready.wait()
        raise OSError("sibling failed")

    with pytest.raises(ExceptionGroup) as info:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(request())
            tg.create_task(fail())
    assert info.group_contains(OSError)
    assert [e for e in events if e.endswith("end")] == ["C end", "B end", "A end"]


async def test_under_anyio_a_cancelled_scopes_teardown_is_shielded() -> None:
    # anyio (Starlette, FastAPI) cancels through cancel scopes: the teardown runs inside a
    # shielded one, so the disposal in progress runs to its end
    for _ in range(10):
        events: list[str] = []
        classes = _chain(events)
        c = InjectQ()
        for cls in classes:
            c.bind(cls, cls, scope="request")

        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(_request, c, classes, ready)
            await ready.wait()
            tg.cancel_scope.cancel()
        assert events == ["C begin", "C end", "B begin", "B end", "A begin", "A end"]


async def test_a_cancelled_fastapi_request_whose_teardown_awaits_is_disposed_in_full(
    tmp_path: Path,
) -> None:
    # A real FastAPI app, its request cancelled through anyio (a deadline around the
    # call, as a server or a client's task group does): the teardown awaits and commits.
    db = tmp_path / "uow.sqlite3"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE log (what TEXT)")
    events: list[str] = []
    entered = asyncio.Event()

    @resource
    class UnitOfWork:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)

        async def dispose(self) -> None:
            events.append("dispose begin")
            for _ in range(3):
                await asyncio.sleep(0.001)
            self.conn.execute("INSERT INTO log VALUES ('closed')")
            self.conn.commit()
            self.conn.close()
            events.append("dispose end")

    c = InjectQ()
    c.bind(UnitOfWork, UnitOfWork, scope="request")
    app = FastAPI()
    setup_fastapi(c, app)

    @app.get("/slow")
    async def slow(uow: InjectAPI[UnitOfWork]) -> dict[str, str]:
        entered.set()
        await asyncio.sleep(30)  # cancelled long before
        return {"never": "sent"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for round_ in range(1, 6):
            entered.clear()
            with anyio.move_on_after(5) as deadline:
                async with anyio.create_task_group() as tg:

                    async def call() -> None:
                        await client.get("/slow")

                    tg.start_soon(call)
                    await entered.wait()
                    tg.cancel_scope.cancel()
            assert not deadline.cancel_called, (round_, events)
            assert events == ["dispose begin", "dispose end"] * round_
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT what FROM log").fetchall() == [("closed",)] * 5
    assert c.resource_metrics()["UnitOfWork"]["active"] == 0


async def test_a_scope_entered_in_an_anyio_task_may_be_exited_by_another_task() -> None:
    # Starlette streams a response from a child task: a scope closed by the last message
    # is exited there, not in the task that entered it. The teardown runs in the exiting
    # task, and the entering task's anyio cancel scopes are left as they were.
    events: list[str] = []
    classes = _chain(events)
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope="request")
    with anyio.CancelScope():  # the entering task is an anyio-managed one
        scope = c.scope("request")
        await scope.__aenter__()
        for cls in classes:
            await c.aget(cls)

        async def exit_elsewhere() -> None:
            await scope.__aexit__(None, None, None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(exit_elsewhere)
    assert [e for e in events if e.endswith("end")] == ["C end", "B end", "A end"]


async def test_under_anyio_a_shielded_generator_may_hold_its_own_cancel_scope() -> None:
    # the shield is entered around each disposal, never across a cancel scope a
    # generator factory entered at its start and leaves after its yield
    events: list[str] = []

    @resource()
    async def guarded() -> AsyncIterator[int]:
        with anyio.CancelScope():
            yield 1
            await asyncio.sleep(0.001)
            events.append("closed")

    @resource
    class Plain:
        async def dispose(self) -> None:
            await asyncio.sleep(0.001)
            events.append("plain")

    c = InjectQ()
    c.bind(int, guarded, scope="request")
    c.bind(Plain, Plain, scope="request")

    async def request(ready: anyio.Event) -> None:
        async with c.scope("request"):
            await c.aget(int)
            await c.aget(Plain)
            ready.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(request, ready)
        await ready.wait()
        tg.cancel_scope.cancel()
    assert events[0] == "plain"  # shielded: ran to its end
