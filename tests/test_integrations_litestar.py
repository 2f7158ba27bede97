"""Litestar integration against a real app: Litestar's TestClient (lifespan included)
and httpx over ASGI (to cancel a request as a server does when its client leaves).

The request resource is a unit of work on a real SQLite file (tests/support/web.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar import Controller, Litestar, Request, Router, get, websocket
from litestar.connection import WebSocket
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response
from litestar.testing import TestClient

from injectq import Inject, InjectQ, inject
from injectq.integrations.litestar import InjectQPlugin
from support.web import (
    AsyncGreeter,
    AsyncUnitOfWork,
    OutOfStock,
    Settings,
    Tracker,
    async_container,
    cancel_requests_mid_handler,
    notes,
    open_fds,
)


@pytest.fixture
def container(tracker: Tracker) -> InjectQ:
    return async_container(tracker)


holding = 0


@get("/add/{text:str}")
async def add(
    text: FromPath[str],
    work: NamedDependency[AsyncUnitOfWork],
    greeter: NamedDependency[AsyncGreeter],
) -> dict[str, Any]:
    # provided by type: the container has bindings for both
    await work.add(text)
    assert greeter.work is work
    return {
        "serial": work.serial,
        "settings": id(greeter.settings),
        "fds": open_fds(Path(db_paths[-1])),
    }


@get("/inject/{text:str}")
@inject
async def add_with_inject(
    text: FromPath[str], work: AsyncUnitOfWork = Inject[AsyncUnitOfWork]
) -> dict[str, Any]:
    await work.add(text)
    assert await InjectQ.get_instance().aget(AsyncUnitOfWork) is work
    return {"serial": work.serial}


@get("/fail")
async def fail(work: NamedDependency[AsyncUnitOfWork]) -> None:
    await work.add("fail")
    raise RuntimeError("handler failed")


@get("/missing")
async def missing(work: NamedDependency[AsyncUnitOfWork]) -> None:
    await work.add("missing")
    raise NotFoundException("no such note")


@get("/sold-out")
async def sold_out(work: NamedDependency[AsyncUnitOfWork]) -> None:
    await work.add("sold out")
    raise OutOfStock


@get("/hang")
async def hang(work: NamedDependency[AsyncUnitOfWork]) -> str:
    global holding
    await work.add("hang")
    holding += 1
    try:
        await asyncio.sleep(10)  # the request is cancelled long before
    finally:
        holding -= 1
    return "too late"


@websocket("/ws")
async def ws(socket: WebSocket, work: NamedDependency[AsyncUnitOfWork]) -> None:
    await socket.accept()
    for _ in range(2):
        text = await socket.receive_text()
        await work.add(text)
        await socket.send_json({"serial": work.serial})
    await socket.close()


class Notes(Controller):
    path = "/controller"

    @get("/{text:str}")
    async def add(
        self, text: FromPath[str], work: NamedDependency[AsyncUnitOfWork]
    ) -> dict[str, Any]:
        await work.add(text)
        return {"serial": work.serial}


@get("/in-router/{text:str}")
async def in_router(text: FromPath[str], work: NamedDependency[AsyncUnitOfWork]) -> dict[str, Any]:
    await work.add(text)
    return {"serial": work.serial}


db_paths: list[str] = []


def answer_out_of_stock(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    return Response("sold out", status_code=409)


def make_app(container: InjectQ, tracker: Tracker, **options: Any) -> Litestar:
    db_paths.append(str(tracker.db_path))
    return Litestar(
        [
            add,
            add_with_inject,
            fail,
            missing,
            sold_out,
            hang,
            ws,
            Notes,
            Router("/router", route_handlers=[in_router]),
        ],
        plugins=[InjectQPlugin(container, **options)],
        exception_handlers={OutOfStock: answer_out_of_stock},
    )


def test_one_scope_per_request_disposed_on_success(container: InjectQ, tracker: Tracker) -> None:
    with TestClient(make_app(container, tracker)) as client:
        bodies = []
        for n in range(3):
            bodies.append(client.get(f"/add/n{n}").json())
            assert tracker.settled(n + 1) and tracker.live == 0
        assert client.get("/inject/i").status_code == 200
        assert client.get("/controller/c").status_code == 200
        assert client.get("/router/in-router/r").status_code == 200
    assert len({b["serial"] for b in bodies}) == 3
    assert len({b["settings"] for b in bodies}) == 1
    assert all(b["fds"] >= 1 for b in bodies)
    assert tracker.outcomes == [None] * 6
    assert notes(tracker.db_path) == ["n0", "n1", "n2", "i", "c", "r"]
    assert open_fds(tracker.db_path) == 0


def test_handler_error_reaches_the_disposals(container: InjectQ, tracker: Tracker) -> None:
    with TestClient(make_app(container, tracker)) as client:
        assert client.get("/fail").status_code == 500
        assert client.get("/missing").status_code == 404
        assert client.get("/sold-out").status_code == 409  # the app's handler answered
        assert client.get("/add/kept").status_code == 200
    first, second, third, fourth = tracker.outcomes
    assert isinstance(first, RuntimeError) and str(first) == "handler failed"
    assert isinstance(second, NotFoundException)
    assert isinstance(third, OutOfStock)
    assert fourth is None
    assert notes(tracker.db_path) == ["kept"]
    assert tracker.settled(4) and open_fds(tracker.db_path) == 0


def test_websocket_connection_gets_one_scope(container: InjectQ, tracker: Tracker) -> None:
    with TestClient(make_app(container, tracker)) as client:
        with client.websocket_connect("/ws") as socket:
            socket.send_text("a")
            first = socket.receive_json()
            socket.send_text("b")
            assert socket.receive_json() == first
    assert tracker.settled(1)
    assert notes(tracker.db_path) == ["a", "b"]


def test_shutdown_closes_the_container(container: InjectQ, tracker: Tracker) -> None:
    with TestClient(make_app(container, tracker)) as client:
        client.get("/add/x")
        settings = container.get(Settings)
        assert settings.initialized == 1 and settings.disposed == 0
    assert settings.disposed == 1
    with TestClient(make_app(container, tracker, close_on_shutdown=False)) as client:
        client.get("/add/y")
        kept = container.get(Settings)
    assert kept.disposed == 0


async def test_a_cancelled_request_leaks_nothing(container: InjectQ, tracker: Tracker) -> None:
    await cancel_requests_mid_handler(make_app(container, tracker), tracker, lambda: holding)
    assert holding == 0


def test_importing_injectq_does_not_import_litestar() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert 'litestar' not in sys.modules\n"
        "import injectq.integrations.litestar\n"
        "assert 'litestar' in sys.modules and 'starlette' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
