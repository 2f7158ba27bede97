"""FastAPI integration against real apps: httpx over ASGI, and a real uvicorn server.

The request-scoped resource is a real aiosqlite connection on a temp-file database;
every open and close is counted, and the OS is asked how many descriptors point at the
file, so "disposed" means the connection really is closed.
"""

import asyncio
import contextlib
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
from fastapi import BackgroundTasks, FastAPI, HTTPException, WebSocket, WebSocketException
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.testclient import TestClient

from injectq import InjectQ, resource
from injectq.integrations.fastapi import (
    InjectAPI,
    InjectFastAPI,
    InjectQRequestMiddleware,
    setup_fastapi,
)
from injectq.utils.exceptions import InjectionError, InjectQError, ResourceInitializationError


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
@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[tuple[str, uvicorn.Server]]:
    """``app`` served by a real uvicorn server on 127.0.0.1, in a background thread."""
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


@pytest.fixture
def server_url(container: InjectQ) -> Iterator[tuple[str, uvicorn.Server]]:
    with serve(make_app(container)) as served:
        yield served


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


# --------------------------------------------------------------------------- lazy loading
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
    """The FastAPI page's examples, run in order in one namespace (as Sybil runs them in
    the docs tests), leave an app whose request scope is the middleware's."""
    from sybil import Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser

    page = Path(__file__).resolve().parent.parent / "docs" / "integrations" / "fastapi.md"
    document = Sybil([PythonCodeBlockParser()]).parse(page)
    examples = list(document)
    assert len(examples) == 5
    monkeypatch.chdir(tmp_path)
    document.namespace["__name__"] = "__main__"
    for example in examples:
        example.evaluate()
    fastapi_app = document.namespace["app"]
    assert any(m.cls is InjectQRequestMiddleware for m in fastapi_app.user_middleware)


# --------------------------------------------------------------------------- handled errors
class OutOfStock(Exception):
    """An error the app answers itself (``@app.exception_handler``)."""


class DatabaseDown(Exception):
    """What a resource's initialization raises when its database is unreachable."""


class Ledger:
    """The request's unit of work: writes go to its own connection's transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def record(self, item: str) -> None:
        self.conn.execute("INSERT INTO orders (item) VALUES (?)", (item,))


@pytest.fixture
def orders_db(tmp_path: Path) -> Path:
    path = tmp_path / "orders.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("CREATE TABLE orders (item TEXT PRIMARY KEY)")
        raw.execute(
            "CREATE TABLE lines (item TEXT REFERENCES orders (item) DEFERRABLE INITIALLY DEFERRED)"
        )
        raw.commit()
    return path


def committed(path: Path) -> list[str]:
    """What a fresh connection reads from the database: only committed rows."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return [row[0] for row in raw.execute("SELECT item FROM orders ORDER BY rowid")]


def fail(how: str) -> None:
    if how == "http":
        raise HTTPException(status_code=404, detail="no such item")
    if how == "status":  # answered by a handler registered for its status code
        raise HTTPException(status_code=418, detail="a teapot")
    if how == "custom":
        raise OutOfStock(how)
    if how == "unhandled":
        raise RuntimeError("a bug")


def orders_app(
    path: Path, outcomes: list[tuple[str, str | None]], *, settle: float = 0.0, **options: Any
) -> FastAPI:
    """An app whose request-scoped unit of work commits when the request succeeded and
    rolls back when an exception reaches it (thrown at its ``yield``). ``settle``: a
    pause before committing, so that a client which could see its response before the
    commit would."""
    container = InjectQ()

    @resource()
    def unit_of_work() -> Iterator[Ledger]:
        conn = sqlite3.connect(path, check_same_thread=False)  # used by sync routes' threads
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            yield Ledger(conn)
        except BaseException as exc:
            conn.rollback()
            outcomes.append(("rolled back", type(exc).__name__))
            raise
        else:
            time.sleep(settle)
            conn.commit()  # deferred foreign keys are checked here
            outcomes.append(("committed", None))
        finally:
            conn.close()

    container.bind(Ledger, unit_of_work, scope="request")
    app = FastAPI()
    setup_fastapi(container, app, **options)

    @app.exception_handler(OutOfStock)
    async def out_of_stock(connection: Any, exc: OutOfStock) -> Any:
        if isinstance(connection, WebSocket):
            await connection.close(code=4409)
            return None
        return JSONResponse({"detail": "out of stock"}, status_code=409)

    @app.exception_handler(418)
    def teapot(request: Any, exc: HTTPException) -> JSONResponse:  # a sync handler
        return JSONResponse({"detail": exc.detail}, status_code=418)

    @app.post("/async/{item}")
    async def order(item: str, how: str, ledger: InjectAPI[Ledger]) -> dict[str, str]:
        ledger.record(item)
        fail(how)
        return {"ordered": item}

    @app.post("/sync/{item}")
    def order_in_thread(item: str, how: str, ledger: InjectAPI[Ledger]) -> dict[str, str]:
        ledger.record(item)
        fail(how)
        return {"ordered": item}

    @app.post("/dangling/{item}")
    async def dangling(item: str, ledger: InjectAPI[Ledger]) -> dict[str, str]:
        # a line of an order that does not exist: only the commit finds out
        ledger.conn.execute("INSERT INTO lines (item) VALUES (?)", (item,))
        return {"ordered": item}

    @app.post("/stream/{item}")
    async def order_streamed(item: str, ledger: InjectAPI[Ledger]) -> StreamingResponse:
        ledger.record(item)

        async def rows() -> AsyncIterator[str]:
            for (name,) in ledger.conn.execute("SELECT item FROM orders ORDER BY rowid"):
                yield f"{name}\n"  # the request's connection still serves the stream

        return StreamingResponse(rows(), media_type="text/plain")

    @app.websocket("/ws/{item}")
    async def order_live(websocket: WebSocket, item: str, how: str, ledger: InjectAPI[Ledger]):  # type: ignore[no-untyped-def]
        await websocket.accept()
        ledger.record(item)
        if how == "http":
            raise WebSocketException(code=1008, reason="no such item")
        fail(how)
        await websocket.send_json({"ordered": item})
        await websocket.close()

    return app


def test_an_error_the_app_answers_still_rolls_the_unit_of_work_back(orders_db: Path) -> None:
    outcomes: list[tuple[str, str | None]] = []
    expected_status = {"ok": 200, "http": 404, "status": 418, "custom": 409, "unhandled": 500}
    expected_outcome = {
        "ok": ("committed", None),
        "http": ("rolled back", "HTTPException"),
        "status": ("rolled back", "HTTPException"),
        "custom": ("rolled back", "OutOfStock"),
        "unhandled": ("rolled back", "RuntimeError"),
    }
    with serve(orders_app(orders_db, outcomes)) as (url, _server):
        with httpx.Client(base_url=url, timeout=10) as client:
            for _round in range(2):  # the handlers' wrappers are built once, then reused
                for kind in ("async", "sync"):
                    for how, status in expected_status.items():
                        item = f"{kind}-{how}-{_round}"
                        before = len(outcomes)
                        response = client.post(f"/{kind}/{item}", params={"how": how})
                        assert response.status_code == status, (item, response.text)
                        # the scope closes after the response was sent: wait for it
                        wait_for(lambda before=before: len(outcomes) == before + 1)
                        assert outcomes[-1] == expected_outcome[how], item
    assert committed(orders_db) == ["async-ok-0", "sync-ok-0", "async-ok-1", "sync-ok-1"]


def test_an_error_the_app_answers_on_a_websocket_rolls_back(orders_db: Path) -> None:
    from starlette.websockets import WebSocketDisconnect

    outcomes: list[tuple[str, str | None]] = []
    with TestClient(orders_app(orders_db, outcomes)) as client:
        with client.websocket_connect("/ws/live-ok?how=ok") as ws:
            assert ws.receive_json() == {"ordered": "live-ok"}
        for how, code, error in (
            ("http", 1008, "WebSocketException"),
            ("custom", 4409, "OutOfStock"),
        ):
            with client.websocket_connect(f"/ws/live-{how}?how={how}") as ws:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == code
            wait_for(lambda error=error: outcomes[-1:] == [("rolled back", error)])
        with pytest.raises(RuntimeError, match="a bug"):
            with client.websocket_connect("/ws/live-bug?how=unhandled") as ws:
                ws.receive_json()
        wait_for(lambda: outcomes[-1:] == [("rolled back", "RuntimeError")])
    assert committed(orders_db) == ["live-ok"]
    assert len(outcomes) == 4


def test_close_before_response_commits_before_the_client_sees_it(orders_db: Path) -> None:
    outcomes: list[tuple[str, str | None]] = []
    app = orders_app(orders_db, outcomes, settle=0.05, close_before_response=True)
    with serve(app) as (url, _server), httpx.Client(base_url=url, timeout=10) as client:
        for n, kind in enumerate(("async", "sync")):
            response = client.post(f"/{kind}/first-{n}", params={"how": "ok"})
            assert response.json() == {"ordered": f"first-{n}"}
            # no waiting: the response came after the commit
            assert outcomes[-1] == ("committed", None)
            assert committed(orders_db)[-1] == f"first-{n}"
            response = client.post(f"/{kind}/refused-{n}", params={"how": "custom"})
            assert response.status_code == 409
            assert outcomes[-1] == ("rolled back", "OutOfStock")

        # the commit fails (a deferred foreign key): the client gets a 500, not a 200
        response = client.post("/dangling/ghost")
        assert response.status_code == 500
        assert len(outcomes) == 4  # neither committed nor rolled back: the commit failed

        # a streaming response is served by the request's connection while it streams
        response = client.post("/stream/streamed")
        assert response.status_code == 200
        assert response.text.split() == ["first-0", "first-1", "streamed"]
        assert outcomes[-1] == ("committed", None)
    assert committed(orders_db) == ["first-0", "first-1", "streamed"]


def failing_resource_app(*, handlers: dict[Any, Any]) -> tuple[FastAPI, list[str]]:
    """An app whose request-scoped ``Database`` fails to initialize (``DatabaseDown``)."""
    attempts: list[str] = []

    @resource
    class Database:
        def initialize(self) -> None:
            attempts.append("connect")
            raise DatabaseDown("db.internal:5432 refused the connection")

    container = InjectQ()
    container.bind(Database, Database, scope="request")
    app = FastAPI(exception_handlers=handlers)
    setup_fastapi(container, app)

    @app.get("/strict")
    async def strict(db: InjectAPI[Database]) -> str:
        return "unreachable"

    @app.get("/tolerant")
    async def tolerant() -> str:
        # code that catches ResourceInitializationError keeps working
        try:
            await container.aget(Database)
        except ResourceInitializationError as exc:
            assert isinstance(exc.__cause__, DatabaseDown)  # noqa: PT017  (the app's own handler)
            return "degraded"
        return "unreachable"

    return app, attempts


def test_the_handler_for_the_original_error_answers_a_failed_resource() -> None:
    async def unavailable(request: Any, exc: DatabaseDown) -> JSONResponse:
        assert isinstance(exc, DatabaseDown)  # the original error, not the wrapper
        return JSONResponse({"detail": "try again later"}, status_code=503)

    app, attempts = failing_resource_app(handlers={DatabaseDown: unavailable})
    with serve(app) as (url, _server), httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(2):
            response = client.get("/strict")
            assert response.status_code == 503
            assert response.json() == {"detail": "try again later"}
        assert client.get("/tolerant").json() == "degraded"
    assert attempts == ["connect"] * 3

    # a handler registered for ResourceInitializationError itself still comes first
    def wrapped(request: Any, exc: ResourceInitializationError) -> JSONResponse:  # sync
        return JSONResponse({"detail": type(exc.__cause__).__name__}, status_code=502)

    async def unavailable(request: Any, exc: DatabaseDown) -> JSONResponse:
        return JSONResponse({"detail": "try again later"}, status_code=503)

    handlers = {ResourceInitializationError: wrapped, DatabaseDown: unavailable}
    app, _ = failing_resource_app(handlers=handlers)
    with serve(app) as (url, _server), httpx.Client(base_url=url, timeout=10) as client:
        response = client.get("/strict")
        assert (response.status_code, response.json()) == (502, {"detail": "DatabaseDown"})

    # with no handler for the cause: a 500, or the handler of one of its base classes
    app, _ = failing_resource_app(handlers={})
    with serve(app) as (url, _server), httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/strict").status_code == 500

    async def injectq_failed(request: Any, exc: InjectQError) -> JSONResponse:
        assert isinstance(exc, ResourceInitializationError)
        return JSONResponse({"detail": "injectq"}, status_code=500 + 7)

    app, _ = failing_resource_app(handlers={InjectQError: injectq_failed})
    with serve(app) as (url, _server), httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/strict").status_code == 507
