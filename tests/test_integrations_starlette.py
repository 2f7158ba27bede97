"""Starlette and plain-ASGI integration against real apps: Starlette's TestClient,
httpx over ASGI (to cancel a request), and a real uvicorn server on 127.0.0.1.

The request resource is a unit of work on a real SQLite file (tests/support/web.py):
it commits when the request succeeded and rolls back when the request's exception
reached it, so the rows left show what each disposal was told."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from injectq import Inject, InjectQ, inject
from injectq.integrations.starlette import (
    InjectQMiddleware,
    get_request_container,
    setup_starlette,
)
from injectq.utils.exceptions import InjectQError
from support.web import (
    AsyncGreeter,
    AsyncUnitOfWork,
    OutOfStock,
    RequestTag,
    Settings,
    Tracker,
    async_container,
    cancel_requests_mid_handler,
    disconnect_mid_request,
    make_db,
    notes,
    open_fds,
    server_process,
    uvicorn_server,
    wait_for,
)


@pytest.fixture
def container(tracker: Tracker) -> InjectQ:
    return async_container(tracker)


holding = 0  # requests of /hang holding their unit of work right now


def make_routes() -> list[Any]:
    @inject
    async def add(
        request: Request,
        work: AsyncUnitOfWork = Inject[AsyncUnitOfWork],
        greeter: AsyncGreeter = Inject[AsyncGreeter],
    ) -> JSONResponse:
        await work.add(request.path_params["text"])
        assert greeter.work is work  # one unit of work per request
        assert get_request_container(request) is InjectQ.get_instance()
        return JSONResponse(
            {"serial": work.serial, "settings": id(greeter.settings), "fds": open_fds_now()}
        )

    @inject
    async def fail(request: Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> None:
        await work.add("fail")
        raise RuntimeError("handler failed")

    @inject
    async def sold_out(request: Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> None:
        await work.add("sold out")
        raise OutOfStock("none left")

    @inject
    def sync_view(request: Request, tag: RequestTag = Inject[RequestTag]) -> JSONResponse:
        # a sync endpoint runs in a worker thread that still sees the request scope
        return JSONResponse({"same": InjectQ.get_instance().get(RequestTag) is tag})

    @inject
    async def hang(request: Request, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> Any:
        global holding
        await work.add("hang")
        holding += 1
        try:
            for _ in range(1000):  # bounded: the client goes away long before
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.01)
        finally:
            holding -= 1
        return PlainTextResponse("too late")

    @inject
    async def ws(websocket: WebSocket, work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            # every message of one connection shares the connection's unit of work
            await work.add(text)
            await websocket.send_json({"serial": work.serial})

    return [
        Route("/add/{text}", add),
        Route("/fail", fail),
        Route("/sold-out", sold_out),
        Route("/sync", sync_view),
        Route("/hang", hang),
        WebSocketRoute("/ws", ws),
    ]


db_for_fds: list[Path] = []


def open_fds_now() -> int:
    return open_fds(db_for_fds[-1]) if db_for_fds else -1


async def answer_out_of_stock(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse("sold out", status_code=409)


def make_app(container: InjectQ, tracker: Tracker, **options: Any) -> Starlette:
    db_for_fds.append(tracker.db_path)
    app = Starlette(routes=make_routes(), exception_handlers={OutOfStock: answer_out_of_stock})
    setup_starlette(container, app, **options)
    return app


# --------------------------------------------------------------------------- test client
def test_one_scope_per_request_disposed_on_success(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    with TestClient(app) as client:
        bodies = [client.get(f"/add/n{n}").json() for n in range(3)]
        assert tracker.settled(3) and tracker.live == 0
    assert len({b["serial"] for b in bodies}) == 3  # one unit of work per request
    assert len({b["settings"] for b in bodies}) == 1  # one Settings for the app
    assert all(b["fds"] >= 1 for b in bodies)  # the connection was open during the request
    assert tracker.outcomes == [None, None, None]
    assert notes(tracker.db_path) == ["n0", "n1", "n2"]  # committed
    assert open_fds(tracker.db_path) == 0


def test_handler_error_reaches_the_disposals(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/fail").status_code == 500  # not handled by the app
        assert client.get("/sold-out").status_code == 409  # answered by its handler
        assert client.get("/add/kept").status_code == 200
    first, second, third = tracker.outcomes
    assert isinstance(first, RuntimeError) and str(first) == "handler failed"
    assert isinstance(second, OutOfStock)
    assert third is None
    assert notes(tracker.db_path) == ["kept"]  # both failures rolled back
    assert tracker.settled(3) and open_fds(tracker.db_path) == 0


def test_sync_endpoint_and_websocket_connection(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    with TestClient(app) as client:
        assert client.get("/sync").json() == {"same": True}
        with client.websocket_connect("/ws") as ws:
            ws.send_text("a")
            first = ws.receive_json()
            ws.send_text("b")
            assert ws.receive_json() == first  # one scope for the whole connection
        with client.websocket_connect("/ws") as ws:
            ws.send_text("c")
            assert ws.receive_json() != first  # a new connection, a new scope
    wait_for(lambda: tracker.settled(2))
    assert notes(tracker.db_path) == ["a", "b", "c"]


def test_lifespan_shutdown_closes_the_container(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    with TestClient(app) as client:
        client.get("/add/x")
        settings = container.get(Settings)
        assert settings.initialized == 1 and settings.disposed == 0
    assert settings.disposed == 1


def test_close_on_shutdown_false_leaves_the_container_open(
    container: InjectQ, tracker: Tracker
) -> None:
    app = make_app(container, tracker, close_on_shutdown=False)
    with TestClient(app) as client:
        client.get("/add/x")
    assert container.get(Settings).disposed == 0


async def test_a_cancelled_request_leaks_nothing(container: InjectQ, tracker: Tracker) -> None:
    await cancel_requests_mid_handler(make_app(container, tracker), tracker, lambda: holding)
    assert container.current_scope() is None


def test_add_middleware_alone_records_handled_errors(tracker: Tracker) -> None:
    container = async_container(tracker)
    db_for_fds.append(tracker.db_path)
    app = Starlette(routes=make_routes(), exception_handlers={OutOfStock: answer_out_of_stock})
    app.add_middleware(InjectQMiddleware, container=container, close_on_shutdown=True)
    with TestClient(app) as client:
        assert client.get("/sold-out").status_code == 409
        assert client.get("/add/x").status_code == 200
        settings = container.get(Settings)
    assert isinstance(tracker.outcomes[0], OutOfStock)
    assert notes(tracker.db_path) == ["x"]
    assert settings.disposed == 1  # close_on_shutdown=True: the lifespan closed it


def test_add_middleware_records_handled_errors_of_later_requests(tracker: Tracker) -> None:
    # the middleware wires the app's handlers once, when the app builds its stack:
    # requests after the first (here it succeeds) still have their handled errors
    # reach the disposals
    container = async_container(tracker)
    db_for_fds.append(tracker.db_path)
    app = Starlette(routes=make_routes(), exception_handlers={OutOfStock: answer_out_of_stock})
    app.add_middleware(InjectQMiddleware, container=container)
    with TestClient(app) as client:
        for round_ in range(3):
            assert client.get(f"/add/{round_}").status_code == 200
            assert client.get("/sold-out").status_code == 409
    assert [type(outcome) for outcome in tracker.outcomes] == [type(None), OutOfStock] * 3
    assert notes(tracker.db_path) == ["0", "1", "2"]  # every handled failure rolled back


class OpaqueLayer:
    """An ASGI middleware that keeps what it wraps under a name of its own (not ``.app``):
    the request middleware above it cannot see the app's ExceptionMiddleware."""

    def __init__(self, app: Any) -> None:
        self._inner = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._inner(scope, receive, send)


def test_handled_errors_recorded_below_an_opaque_layer(tracker: Tracker) -> None:
    # the middleware cannot reach the ExceptionMiddleware below OpaqueLayer: it wires
    # the app's router at the first request instead, with the same outcome
    container = async_container(tracker)
    db_for_fds.append(tracker.db_path)
    app = Starlette(routes=make_routes(), exception_handlers={OutOfStock: answer_out_of_stock})
    app.add_middleware(OpaqueLayer)  # added first: below the request middleware
    app.add_middleware(InjectQMiddleware, container=container)
    with TestClient(app) as client:
        for round_ in range(2):
            assert client.get("/sold-out").status_code == 409
            assert client.get(f"/add/{round_}").status_code == 200
    assert [type(outcome) for outcome in tracker.outcomes] == [OutOfStock, type(None)] * 2
    assert notes(tracker.db_path) == ["0", "1"]  # every handled failure rolled back


async def test_plain_asgi_app(tracker: Tracker) -> None:
    container = async_container(tracker)

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        work = await InjectQ.get_instance().aget(AsyncUnitOfWork)
        await work.add(scope["path"])
        if scope["path"] == "/fail":
            raise ValueError("plain failure")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(work.serial).encode()})

    app = InjectQMiddleware(asgi_app, container=container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        a = (await client.get("/a")).text
        b = (await client.get("/b")).text
        assert (await client.get("/fail")).status_code == 500
    assert a != b
    assert isinstance(tracker.outcomes[2], ValueError)
    assert notes(tracker.db_path) == ["/a", "/b"]
    assert tracker.settled(3)


def test_setup_twice_and_another_container(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    setup_starlette(container, app)  # the same container: nothing more
    assert sum(m.cls is InjectQMiddleware for m in app.user_middleware) == 1
    with pytest.raises(InjectQError, match="setup_starlette: this app is already served"):
        setup_starlette(InjectQ(), app)


# --------------------------------------------------------------------------- uvicorn
def test_through_a_real_uvicorn_server(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker)
    with uvicorn_server(app) as (url, server):
        with httpx.Client(base_url=url, timeout=10) as client:
            serials = {client.get(f"/add/u{n}").json()["serial"] for n in range(5)}
            assert client.get("/fail").status_code == 500
            assert client.get("/sold-out").status_code == 409
        assert len(serials) == 5
        wait_for(lambda: tracker.settled(7))
        for _ in range(3):  # clients that go away mid-request leak nothing
            disconnect_mid_request(url, "/hang", lambda: holding == 1)
        wait_for(lambda: tracker.settled(10) and holding == 0)
        settings = container.get(Settings)
        assert settings.disposed == 0
        server.should_exit = True
        wait_for(lambda: settings.disposed == 1)  # lifespan shutdown closed the container
    assert notes(tracker.db_path) == [f"u{n}" for n in range(5)] + ["hang"] * 3
    assert isinstance(tracker.outcomes[5], RuntimeError)
    assert isinstance(tracker.outcomes[6], OutOfStock)
    assert open_fds(tracker.db_path) == 0


def test_uvicorn_process_closes_the_container_at_shutdown(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.sqlite3")
    marker = tmp_path / "disposed.txt"
    # Ctrl-C: uvicorn runs the lifespan shutdown
    with server_process("starlette_app", str(db), str(marker), first_get="/add/first") as (
        url,
        first,
    ):
        with httpx.Client(base_url=url, timeout=10) as client:
            second = client.get("/add/second")
            assert client.get("/add/fail").status_code == 500
        assert first.json()["serial"] != second.json()["serial"]
        assert notes(db) == ["first", "second"]  # committed; the failed one rolled back
        assert not marker.exists()
    assert marker.read_text() == "disposed"  # the lifespan shutdown closed the container


def test_importing_injectq_does_not_import_starlette() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert 'starlette' not in sys.modules\n"
        "import injectq.integrations.starlette\n"
        "assert 'starlette' in sys.modules and 'fastapi' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
