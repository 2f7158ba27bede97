"""FastAPI integration against real apps: httpx over ASGI, and a real uvicorn server.

The request-scoped resource is a real aiosqlite connection on a temp-file database;
every open and close is counted, and the OS is asked how many descriptors point at the
file, so "disposed" means the connection really is closed.
"""

import asyncio
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import aiosqlite
import httpx
import pytest
import uvicorn
from fastapi import BackgroundTasks, FastAPI, HTTPException, WebSocket
from fastapi.testclient import TestClient

from injectq import InjectQ, resource
from injectq.integrations.fastapi import (
    InjectAPI,
    InjectFastAPI,
    InjectQRequestMiddleware,
    setup_fastapi,
)
from injectq.utils.exceptions import InjectionError, InjectQError


# --------------------------------------------------------------------------- fixtures
def open_fds(path: Path) -> int:
    """File descriptors this process has open on ``path``."""
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
    """What happened to the resources, recorded by the resources themselves."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.opens = 0
        self.closes = 0
        self.live = 0
        self.peak = 0
        self.events: list[str] = []

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
class Connection:
    """A request-scoped aiosqlite connection."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.raw: aiosqlite.Connection | None = None
        self.closed = False
        # ids can be reused once a connection is collected; a serial number cannot
        self.serial = next(_serials)

    async def initialize(self) -> None:
        self.raw = await aiosqlite.connect(self.stats.db_path)
        self.closed = False
        self.stats.opened()

    async def dispose(self) -> None:
        assert self.raw is not None
        await self.raw.close()
        self.closed = True
        self.stats.closed()

    async def names(self) -> list[str]:
        assert self.raw is not None and not self.closed
        async with self.raw.execute("SELECT name FROM users ORDER BY id") as cursor:
            return [row[0] for row in await cursor.fetchall()]


@resource
class Settings:
    """A singleton resource: initialized once, disposed at shutdown."""

    initialized = 0
    disposed = 0

    def __init__(self) -> None:
        self.greeting = "hello"

    def initialize(self) -> None:
        type(self).initialized += 1

    def dispose(self) -> None:
        type(self).disposed += 1


class UserService:
    """Plain service depending on the request's connection and the singleton."""

    def __init__(self, connection: Connection, settings: Settings) -> None:
        self.connection = connection
        self.settings = settings


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        raw.executemany("INSERT INTO users (name) VALUES (?)", [("ada",), ("grace",)])
    raw.close()
    return path


@pytest.fixture
def stats(db: Path) -> Stats:
    return Stats(db)


@pytest.fixture
def container(stats: Stats) -> InjectQ:
    Settings.initialized = Settings.disposed = 0
    c = InjectQ()
    c.bind_instance(Stats, stats)
    c.bind(Connection, Connection, scope="request")
    c.bind(Settings, Settings)  # singleton
    c.bind(UserService, UserService, scope="request")
    return c


def make_app(container: InjectQ, **options: Any) -> FastAPI:
    app = FastAPI()
    setup_fastapi(container, app, **options)

    @app.get("/users")
    async def users(
        conn: InjectAPI[Connection],
        again: Connection = InjectAPI[Connection],
        also: Annotated[Connection, InjectFastAPI(Connection)] = None,  # type: ignore[assignment]
        service: InjectAPI[UserService] = None,  # type: ignore[assignment]
        settings: InjectAPI[Settings] = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        assert conn is again is also is service.connection
        assert settings is service.settings
        assert InjectQ.get_instance() is container
        return {
            "names": await conn.names(),
            "conn": conn.serial,
            "settings": id(settings),
            "open_fds": open_fds(conn.stats.db_path),
        }

    @app.get("/boom")
    async def boom(conn: InjectAPI[Connection]) -> None:
        assert await conn.names()
        raise RuntimeError("handler failed")

    @app.get("/missing")
    async def missing(conn: InjectAPI[Connection]) -> None:
        assert await conn.names()
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/sync")
    def sync_handler(service: InjectAPI[UserService]) -> dict[str, Any]:
        # a sync route runs in a worker thread that still sees the request scope
        seen = container.get(UserService)
        return {"same": seen is service, "conn": service.connection.serial}

    return app


def client_for(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --------------------------------------------------------------------------- over ASGI
async def test_every_form_resolves_and_each_request_gets_its_own_connection(
    container: InjectQ, stats: Stats
) -> None:
    app = make_app(container)
    async with client_for(app) as client:
        first = (await client.get("/users")).json()
        second = (await client.get("/users")).json()
    assert first["names"] == second["names"] == ["ada", "grace"]
    assert first["conn"] != second["conn"]
    assert first["settings"] == second["settings"]  # the singleton is shared
    assert first["open_fds"] >= 1  # the connection really was open during the request
    assert stats.opens == stats.closes == 2
    assert open_fds(stats.db_path) == 0
    assert Settings.initialized == 1 and Settings.disposed == 0
    await container.aclose()
    assert Settings.disposed == 1


async def test_disposed_after_each_request(container: InjectQ, stats: Stats) -> None:
    app = make_app(container)
    async with client_for(app) as client:
        for n in range(1, 6):
            response = await client.get("/users")
            assert response.status_code == 200
            assert stats.opens == stats.closes == n
            assert stats.live == 0
    assert open_fds(stats.db_path) == 0


async def test_disposed_when_the_handler_raises(container: InjectQ, stats: Stats) -> None:
    app = make_app(container)
    async with client_for(app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")
        assert response.status_code == 500
        assert stats.opens == stats.closes == 1
        response = await client.get("/missing")
        assert response.status_code == 404
        assert stats.opens == stats.closes == 2
    async with client_for(app) as client:
        with pytest.raises(RuntimeError, match="handler failed"):
            await client.get("/boom")
    assert stats.opens == stats.closes == 3
    assert open_fds(stats.db_path) == 0


async def test_generator_resource_sees_the_handler_exception(container: InjectQ) -> None:
    seen: list[BaseException | None] = []

    class Tx:
        pass

    @resource()
    async def transaction() -> AsyncIterator[Tx]:
        try:
            yield Tx()
        except BaseException as exc:
            seen.append(exc)
            raise
        else:
            seen.append(None)

    container.bind(Tx, transaction, scope="request")
    app = FastAPI()
    setup_fastapi(container, app)

    @app.get("/tx/{fail}")
    async def tx(fail: bool, t: InjectAPI[Tx]) -> dict[str, bool]:
        if fail:
            raise ValueError("rollback please")
        return {"ok": True}

    async with client_for(app, raise_app_exceptions=False) as client:
        assert (await client.get("/tx/false")).status_code == 200
        assert (await client.get("/tx/true")).status_code == 500
    assert seen[0] is None
    assert isinstance(seen[1], ValueError) and str(seen[1]) == "rollback please"


async def test_sync_route_sees_the_request_scope(container: InjectQ, stats: Stats) -> None:
    app = make_app(container)
    async with client_for(app) as client:
        a = (await client.get("/sync")).json()
        b = (await client.get("/sync")).json()
    assert a["same"] and b["same"]
    assert a["conn"] != b["conn"]
    assert stats.opens == stats.closes == 2


async def test_fifty_concurrent_requests(container: InjectQ, stats: Stats) -> None:
    app = FastAPI()
    setup_fastapi(container, app)
    total = 50
    arrived = 0
    all_in = asyncio.Event()

    @app.get("/slow/{n}")
    async def slow(n: int, conn: InjectAPI[Connection], service: InjectAPI[UserService]) -> Any:
        nonlocal arrived
        assert service.connection is conn
        arrived += 1
        if arrived == total:
            all_in.set()
        await all_in.wait()  # every request holds its connection at the same time
        return {"n": n, "conn": conn.serial, "names": await conn.names()}

    async with asyncio.timeout(30), client_for(app) as client:
        responses = await asyncio.gather(*(client.get(f"/slow/{n}") for n in range(total)))
    bodies = [r.json() for r in responses]
    assert sorted(b["n"] for b in bodies) == list(range(total))
    assert all(b["names"] == ["ada", "grace"] for b in bodies)
    assert len({b["conn"] for b in bodies}) == total
    assert stats.peak == total
    assert stats.opens == stats.closes == total and stats.live == 0
    assert open_fds(stats.db_path) == 0


async def test_bound_instance_resource_is_activated_per_request(stats: Stats) -> None:
    # the resource page's pattern: one instance, connected per request, closed after each
    shared = Connection(stats)
    c = InjectQ()
    c.bind_instance(Connection, shared)
    app = FastAPI()
    setup_fastapi(c, app)

    @app.get("/")
    async def index(conn: InjectAPI[Connection]) -> list[str]:
        assert conn is shared
        return await conn.names()

    async with client_for(app) as client:
        for n in range(1, 4):
            assert (await client.get("/")).json() == ["ada", "grace"]
            assert stats.opens == stats.closes == n
    assert open_fds(stats.db_path) == 0


async def test_background_tasks_run_inside_the_request_scope(
    container: InjectQ, stats: Stats
) -> None:
    app = FastAPI()
    setup_fastapi(container, app)
    names: list[list[str]] = []

    @app.post("/report")
    async def report(background: BackgroundTasks, conn: InjectAPI[Connection]) -> str:
        async def later() -> None:
            names.append(await conn.names())  # still open: disposal waits for this

        background.add_task(later)
        return "queued"

    async with client_for(app) as client:
        assert (await client.post("/report")).json() == "queued"
    assert names == [["ada", "grace"]]
    assert stats.opens == stats.closes == 1


async def test_transient_resources_are_owned_by_the_request(stats: Stats) -> None:
    c = InjectQ()
    c.bind_instance(Stats, stats)
    c.bind(Connection, Connection, scope="transient")
    app = FastAPI()
    setup_fastapi(c, app)

    @app.get("/")
    async def index(a: InjectAPI[Connection], b: InjectAPI[Connection]) -> bool:
        return a is b

    async with client_for(app) as client:
        assert (await client.get("/")).json() is False  # two transients, two connections
    assert stats.opens == stats.closes == 2


async def test_a_raw_cancel_of_the_request_still_runs_the_remaining_disposals(
    stats: Stats,
) -> None:
    # DESIGN §3.5: a raw asyncio task.cancel() (a server giving up on the request) reaches
    # the disposal in progress like any asyncio code; the disposals after it still run.
    # (Cancelled through anyio, the teardown is shielded: test_resources_task_affinity.)
    disposing = asyncio.Event()
    finished: list[str] = []

    @resource
    class SlowToClose:
        async def dispose(self) -> None:
            disposing.set()
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                finished.append("cancelled")
                raise
            finished.append("closed")

    c = InjectQ()
    c.bind_instance(Stats, stats)
    c.bind(SlowToClose, SlowToClose, scope="request")
    c.bind(Connection, Connection, scope="request")
    app = FastAPI()
    setup_fastapi(c, app)

    @app.get("/")
    async def index(conn: InjectAPI[Connection], slow: InjectAPI[SlowToClose]) -> str:
        return "ok"

    async with client_for(app) as client:
        request = asyncio.create_task(client.get("/"))
        await asyncio.wait_for(disposing.wait(), 5)
        request.cancel()  # the server gives up on the request mid-disposal
        with pytest.raises(asyncio.CancelledError):
            await request
    assert finished == ["cancelled"]  # the disposal in progress saw the cancellation
    assert stats.opens == stats.closes == 1  # the one after it still ran
    assert c.current_scope() is None


async def test_without_setup_the_error_says_what_to_do(container: InjectQ) -> None:
    app = FastAPI()

    @app.get("/")
    async def index(settings: InjectAPI[Settings]) -> None:
        pass

    async with client_for(app) as client:
        with pytest.raises(InjectionError, match="setup_fastapi"):
            await client.get("/")


async def test_request_scoped_key_outside_a_request_is_a_scope_error(
    container: InjectQ,
) -> None:
    from injectq import ScopeError

    with pytest.raises(ScopeError):
        await container.aget(Connection)


def test_setup_is_idempotent_per_container(container: InjectQ) -> None:
    app = FastAPI()
    setup_fastapi(container, app)
    setup_fastapi(container, app)
    assert sum(m.cls is InjectQRequestMiddleware for m in app.user_middleware) == 1
    with pytest.raises(InjectQError):
        setup_fastapi(InjectQ(), app)


def test_custom_scope_name_and_bad_scope_name(stats: Stats) -> None:
    c = InjectQ()
    c.bind(Settings, Settings, scope="action")
    app = FastAPI()
    setup_fastapi(c, app, scope_name="action")

    @app.get("/")
    def index(a: InjectAPI[Settings], b: InjectAPI[Settings]) -> bool:
        return a is b

    with TestClient(app) as client:
        assert client.get("/").json() is True
    with pytest.raises(InjectQError):
        setup_fastapi(c, FastAPI(), scope_name="singleton")


def test_websocket_connection_gets_a_scope(container: InjectQ, stats: Stats) -> None:
    app = FastAPI()
    setup_fastapi(container, app)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, conn: InjectAPI[Connection]) -> None:
        await websocket.accept()
        await websocket.send_json(await conn.names())
        await websocket.close()

    with TestClient(app) as client:
        for _ in range(2):
            with client.websocket_connect("/ws") as socket_:
                assert socket_.receive_json() == ["ada", "grace"]
    assert stats.opens == stats.closes == 2


def test_lifespan_closes_the_container_unless_told_not_to(container: InjectQ) -> None:
    for close, disposed in ((True, 1), (False, 0)):
        Settings.initialized = Settings.disposed = 0
        app = make_app(container, close_on_shutdown=close)
        with TestClient(app) as client:
            assert client.get("/users").status_code == 200
            assert Settings.disposed == 0
        assert Settings.disposed == disposed
        container.close()


# --------------------------------------------------------------------------- uvicorn
@pytest.fixture
def server_url(container: InjectQ) -> Iterator[tuple[str, uvicorn.Server]]:
    app = make_app(container)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="critical", access_log=False)
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


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_through_a_real_uvicorn_server(
    server_url: tuple[str, uvicorn.Server], stats: Stats
) -> None:
    url, server = server_url
    with httpx.Client(base_url=url, timeout=10) as client:
        seen = set()
        for n in range(1, 6):
            body = client.get("/users").json()
            assert body["names"] == ["ada", "grace"]
            seen.add(body["conn"])
            # the response is sent before the scope exits: disposal follows right after
            wait_for(lambda n=n: stats.closes == n)
            assert stats.opens == n
        assert client.get("/boom").status_code == 500
        wait_for(lambda: stats.closes == 6)
        settings_ids = {client.get("/users").json()["settings"] for _ in range(3)}
        assert len(settings_ids) == 1
    assert len(seen) == 5
    wait_for(lambda: stats.closes == stats.opens == 9)
    assert Settings.initialized == 1 and Settings.disposed == 0
    server.should_exit = True
    wait_for(lambda: Settings.disposed == 1, timeout=10)  # lifespan shutdown: aclose()
    assert open_fds(stats.db_path) == 0


def test_concurrent_requests_through_uvicorn(
    server_url: tuple[str, uvicorn.Server], stats: Stats
) -> None:
    url, _server = server_url

    async def burst() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=50)
        async with (
            asyncio.timeout(30),
            httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client,
        ):
            responses = await asyncio.gather(*(client.get("/users") for _ in range(50)))
        return [r.json() for r in responses]

    bodies = asyncio.run(burst())
    assert all(b["names"] == ["ada", "grace"] for b in bodies)
    wait_for(lambda: stats.closes == 50)
    assert stats.opens == 50 and stats.live == 0


# --------------------------------------------------------------------------- imports
def test_importing_injectq_does_not_import_the_frameworks() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'taskiq', 'taskiq_dependencies', 'pydantic'))\n"
        "assert not heavy, heavy\n"
        "import injectq.integrations.fastapi\n"
        "assert 'fastapi' in sys.modules and 'taskiq' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- the docs
def test_docs_integrations_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/integrations.md runs, in order, in one namespace."""
    import re

    page = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for index, code in enumerate(blocks):
        exec(compile(code, f"docs/integrations.md[{index}]", "exec"), namespace)
    fastapi_app = namespace["app"]
    assert any(m.cls is InjectQRequestMiddleware for m in fastapi_app.user_middleware)
