"""aiohttp integration against a real app: aiohttp's TestClient, which serves the app
with a real server on 127.0.0.1.

The request resource is a unit of work on a real SQLite file (tests/support/web.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from injectq import Inject, InjectQ, inject
from injectq.integrations.aiohttp import CONTAINER_KEY, get_container, setup_aiohttp
from injectq.utils.exceptions import InjectQError
from support.web import (
    AsyncGreeter,
    AsyncUnitOfWork,
    OutOfStock,
    RequestTag,
    Settings,
    Tracker,
    async_container,
    notes,
    open_fds,
)


@pytest.fixture
def container(tracker: Tracker) -> InjectQ:
    return async_container(tracker)


class Gate:
    def __init__(self) -> None:
        self.holding = 0


def make_app(container: InjectQ, tracker: Tracker, gate: Gate, **options: Any) -> web.Application:
    app = web.Application()

    @web.middleware
    async def answer_out_of_stock(request: web.Request, handler: Any) -> Any:
        # the app's own error handling, inside the request scope
        try:
            return await handler(request)
        except OutOfStock:
            return web.Response(text="sold out", status=409)

    app.middlewares.append(answer_out_of_stock)
    setup_aiohttp(container, app, **options)

    @inject
    async def add(
        request: web.Request,
        work: AsyncUnitOfWork = Inject[AsyncUnitOfWork],
        greeter: AsyncGreeter = Inject[AsyncGreeter],
        tag: RequestTag = Inject[RequestTag],
    ) -> web.Response:
        await work.add(request.match_info["text"])
        assert greeter.work is work
        assert get_container(request) is InjectQ.get_instance() is container
        assert await container.aget(RequestTag) is tag
        return web.json_response(
            {
                "serial": work.serial,
                "settings": id(greeter.settings),
                "fds": open_fds(tracker.db_path),
            }
        )

    @inject
    async def fail(request: web.Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> None:
        await work.add("fail")
        raise RuntimeError("handler failed")

    @inject
    async def missing(
        request: web.Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]
    ) -> None:
        await work.add("missing")
        raise web.HTTPNotFound(text="no such note")

    @inject
    async def sold_out(
        request: web.Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]
    ) -> None:
        await work.add("sold out")
        raise OutOfStock

    @inject
    async def hang(request: web.Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> Any:
        await work.add("hang")
        gate.holding += 1
        try:
            await asyncio.sleep(10)  # aiohttp cancels the handler when the client leaves
        finally:
            gate.holding -= 1
        return web.Response(text="too late")

    @inject
    async def ws(request: web.Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> Any:
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        async for message in socket_:
            await work.add(message.data)
            await socket_.send_json({"serial": work.serial})
        return socket_

    app.router.add_get("/add/{text}", add)
    app.router.add_get("/fail", fail)
    app.router.add_get("/missing", missing)
    app.router.add_get("/sold-out", sold_out)
    app.router.add_get("/hang", hang)
    app.router.add_get("/ws", ws)
    return app


async def test_one_scope_per_request_disposed_on_success(
    container: InjectQ, tracker: Tracker
) -> None:
    async with TestClient(TestServer(make_app(container, tracker, Gate()))) as client:
        bodies = []
        for n in range(3):
            bodies.append(await (await client.get(f"/add/n{n}")).json())
            assert tracker.settled(n + 1) and tracker.live == 0
    assert len({b["serial"] for b in bodies}) == 3
    assert len({b["settings"] for b in bodies}) == 1
    assert all(b["fds"] >= 1 for b in bodies)
    assert tracker.outcomes == [None, None, None]
    assert notes(tracker.db_path) == ["n0", "n1", "n2"]
    assert open_fds(tracker.db_path) == 0


async def test_handler_error_reaches_the_disposals(container: InjectQ, tracker: Tracker) -> None:
    async with TestClient(TestServer(make_app(container, tracker, Gate()))) as client:
        assert (await client.get("/fail")).status == 500
        assert (await client.get("/missing")).status == 404
        assert (await client.get("/sold-out")).status == 409
        assert (await client.get("/add/kept")).status == 200
    first, second, third, fourth = tracker.outcomes
    assert isinstance(first, RuntimeError) and str(first) == "handler failed"
    assert isinstance(second, web.HTTPNotFound)
    # the app's middleware answered it inside the scope: the handler's error is not
    # what left the scope; the unit of work committed (an app-level choice in aiohttp)
    assert third is None
    assert fourth is None
    assert notes(tracker.db_path) == ["sold out", "kept"]
    assert tracker.settled(4) and open_fds(tracker.db_path) == 0


async def test_websocket_connection_gets_one_scope(container: InjectQ, tracker: Tracker) -> None:
    async with TestClient(TestServer(make_app(container, tracker, Gate()))) as client:
        async with client.ws_connect("/ws") as ws:
            await ws.send_str("a")
            first = await ws.receive_json()
            await ws.send_str("b")
            assert await ws.receive_json() == first
        async with client.ws_connect("/ws") as ws:
            await ws.send_str("c")
            assert await ws.receive_json() != first
    assert tracker.settled(2)
    assert notes(tracker.db_path) == ["a", "b", "c"]


async def test_a_client_leaving_mid_request_leaks_nothing(
    container: InjectQ, tracker: Tracker
) -> None:
    gate = Gate()
    server = TestServer(make_app(container, tracker, gate), handler_cancellation=True)
    async with TestClient(server):
        for n in range(1, 6):
            _reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(f"GET /hang HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
            await writer.drain()
            async with asyncio.timeout(10):
                while gate.holding == 0:
                    await asyncio.sleep(0.001)
            writer.transport.abort()  # the client goes away
            async with asyncio.timeout(10):
                while not tracker.settled(n):
                    await asyncio.sleep(0.001)
            assert isinstance(tracker.outcomes[-1], asyncio.CancelledError)
    assert notes(tracker.db_path) == []  # every abandoned request rolled back
    assert open_fds(tracker.db_path) == 0
    assert gate.holding == 0


async def test_shutdown_closes_the_container(container: InjectQ, tracker: Tracker) -> None:
    async with TestClient(TestServer(make_app(container, tracker, Gate()))) as client:
        await client.get("/add/x")
        settings = await container.aget(Settings)
        assert settings.initialized == 1 and settings.disposed == 0
    assert settings.disposed == 1


async def test_close_on_shutdown_false(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker, Gate(), close_on_shutdown=False)
    async with TestClient(TestServer(app)) as client:
        await client.get("/add/x")
    assert (await container.aget(Settings)).disposed == 0


def test_setup_twice_and_another_container(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker, Gate())
    count = len(app.middlewares)
    setup_aiohttp(container, app)
    assert len(app.middlewares) == count and app[CONTAINER_KEY] is container
    with pytest.raises(InjectQError, match="setup_aiohttp: this app is already served"):
        setup_aiohttp(InjectQ(), app)


def test_importing_injectq_does_not_import_aiohttp_web() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert 'aiohttp.web' not in sys.modules\n"
        "import injectq.integrations.aiohttp\n"
        "assert 'aiohttp.web' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
