"""What the web-framework integration tests share: a request resource backed by real
SQLite, a singleton whose disposal is visible, and real servers on 127.0.0.1.

The request resource is a unit of work: a generator factory that opens a SQLite
connection, yields it, commits when the request succeeded and rolls back (recording
the exception it was handed at its ``yield``) when it failed, then closes the
connection. Rows in the database and the descriptors the OS reports therefore show
what the disposals really did.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import aiosqlite
import httpx
import pytest

from injectq import InjectQ, resource

_serials = itertools.count(1)
TESTS = Path(__file__).resolve().parent.parent


class OutOfStock(Exception):
    """An error the test apps answer themselves (an exception or error handler)."""


def open_fds(path: Path) -> int:
    """File descriptors this process has open on ``path``."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
    return count


def make_db(path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, request INTEGER)")
    return path


def notes(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return [row[0] for row in raw.execute("SELECT text FROM notes ORDER BY id")]


class Tracker:
    """Counts what the request resources did, as they did it."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.opens = 0
        self.closes = 0
        self.live = 0
        self.peak = 0
        #: what each unit of work was handed at its yield: None (success) or the exception
        self.outcomes: list[BaseException | None] = []

    def opened(self) -> int:
        with self.lock:
            self.opens += 1
            self.live += 1
            self.peak = max(self.peak, self.live)
        return next(_serials)

    def closed(self, outcome: BaseException | None) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            self.closes += 1
            self.live -= 1

    def settled(self, count: int) -> bool:
        with self.lock:
            return self.opens == self.closes == count


class UnitOfWork:
    """The request's SQLite connection: writes commit only if the request succeeded."""

    def __init__(self, raw: Any, serial: int) -> None:
        self.raw = raw
        self.serial = serial


class SyncUnitOfWork(UnitOfWork):
    def add(self, text: str) -> None:
        self.raw.execute("INSERT INTO notes (text, request) VALUES (?, ?)", (text, self.serial))


class AsyncUnitOfWork(UnitOfWork):
    async def add(self, text: str) -> None:
        await self.raw.execute(
            "INSERT INTO notes (text, request) VALUES (?, ?)", (text, self.serial)
        )


@resource
class Settings:
    """An app-lifetime resource: initialized once, disposed when the container closes."""

    def __init__(self) -> None:
        self.initialized = 0
        self.disposed = 0

    def initialize(self) -> None:
        self.initialized += 1

    def dispose(self) -> None:
        self.disposed += 1


class RequestTag:
    """A plain request-scoped class: one per request, whatever thread resolves it."""


class Greeter:
    """A request-scoped service built from the unit of work and the singleton."""

    def __init__(self, work: SyncUnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings


class AsyncGreeter:
    def __init__(self, work: AsyncUnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings


def sync_container(tracker: Tracker) -> InjectQ:
    """Request scope: ``SyncUnitOfWork`` (sqlite3) and ``Greeter``; ``Settings`` singleton."""

    @resource()
    def unit_of_work() -> Iterator[SyncUnitOfWork]:
        raw = sqlite3.connect(tracker.db_path, check_same_thread=False)
        work = SyncUnitOfWork(raw, tracker.opened())
        outcome: BaseException | None = None
        try:
            yield work
        except BaseException as exc:
            outcome = exc
            raw.rollback()
            raise
        else:
            raw.commit()
        finally:
            raw.close()
            tracker.closed(outcome)

    container = InjectQ()
    container.bind(SyncUnitOfWork, unit_of_work, scope="request")
    container.bind(Greeter, Greeter, scope="request")
    container.bind(Settings, Settings)
    container.bind(RequestTag, RequestTag, scope="request")
    return container


def async_container(tracker: Tracker) -> InjectQ:
    """Request scope: ``AsyncUnitOfWork`` (aiosqlite) and ``AsyncGreeter``; ``Settings``."""

    @resource()
    async def unit_of_work() -> AsyncIterator[AsyncUnitOfWork]:
        raw = await aiosqlite.connect(tracker.db_path)
        work = AsyncUnitOfWork(raw, tracker.opened())
        outcome: BaseException | None = None
        try:
            yield work
        except BaseException as exc:
            outcome = exc
            await raw.rollback()
            raise
        else:
            await raw.commit()
        finally:
            await raw.close()
            tracker.closed(outcome)

    container = InjectQ()
    container.bind(AsyncUnitOfWork, unit_of_work, scope="request")
    container.bind(AsyncGreeter, AsyncGreeter, scope="request")
    container.bind(Settings, Settings)
    container.bind(RequestTag, RequestTag, scope="request")
    return container


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def uvicorn_server(app: Any, lifespan: str = "on") -> Iterator[tuple[str, Any]]:
    """``app`` served by a real uvicorn server in a thread."""
    import uvicorn

    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_level="critical", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive()


def disconnect_mid_request(url: str, path: str, started: Any) -> None:
    """Send ``GET path`` over a raw socket, wait until ``started()`` says the handler
    holds its resources, then close the connection without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        wait_for(started)
    # closed: the client went away while the handler was still working


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgiref_server(app: Any) -> Iterator[str]:
    """``app`` served by the standard library's WSGI server, a thread per request."""
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def server_process(
    module: str, *args: str, first_get: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, httpx.Response]]:
    """``python -m support.<module> *args <port>`` run from tests/, a server in a process
    of its own: yields its URL and the response to ``GET first_get`` once it answers.
    Leaving the block stops it the way a person does, with Ctrl-C (SIGINT), and waits
    for it to exit; a server still running after a failure is killed."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen(
        [sys.executable, "-m", f"support.{module}", *args, str(port)],
        env={**os.environ, **(env or {}), "PYTHONPATH": str(TESTS)},
        cwd=TESTS,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                first = httpx.get(f"{url}{first_get}", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, f"the {module} server died"
                assert time.monotonic() < deadline, f"the {module} server did not start"
                time.sleep(0.05)
        yield url, first
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(20) is not None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def cancel_requests_mid_handler(
    app: Any, tracker: Tracker, holding: Callable[[], int], rounds: int = 10
) -> None:
    """``GET /hang`` on the ASGI ``app`` ``rounds`` times, each cancelled once the handler
    holds its resources (``holding()`` above 0), as an ASGI server cancels the request's
    task when the client goes away; repeated because where the cancellation lands
    varies. Every request must have rolled back and closed its connection."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for n in range(1, rounds + 1):
            request = asyncio.create_task(client.get("/hang"))
            async with asyncio.timeout(10):
                while holding() == 0:
                    await asyncio.sleep(0.001)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            assert tracker.settled(n)
            assert isinstance(tracker.outcomes[-1], asyncio.CancelledError)
    assert notes(tracker.db_path) == []  # every cancelled request rolled back
    assert open_fds(tracker.db_path) == 0
