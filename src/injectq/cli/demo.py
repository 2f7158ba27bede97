"""``injectq demo``: a small application whose resources the container owns end to end.

Everything is real and comes from the standard library:

* an SQLite database in a temporary directory, reached through a :class:`ResourcePool`
  of ``sqlite3`` connections (:class:`DatabasePool`);
* a request-log file in that directory, a real open file handle (:class:`RequestLog`);
* an HTTP client on asyncio streams with a pool of keep-alive connections
  (:class:`HttpClient`) talking to an ``http.server.ThreadingHTTPServer`` the demo starts
  on 127.0.0.1 (:class:`LocalHttpServer`).

Each simulated request runs concurrently in its own ``async with container.scope("request")``
with request-scoped resources: a :class:`UnitOfWork` holding a pooled connection, an
:class:`AuditTrail` whose ``dispose()`` raises on some requests (the request reports the
``ResourceDisposalError`` it gets at scope exit), and a :class:`Recommendations` session
whose ``initialize()`` fails on some requests (the request catches the
``ResourceInitializationError`` and degrades gracefully to a local fallback).

After the run the container is closed and the demo proves nothing is live any more: no
live resources, all monitor counts back to 0, the pool empty with every connection closed,
the server having seen every HTTP connection closed, the log file closed.
"""

import asyncio
import contextlib
import contextvars
import http.server
import json
import logging
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceEvent,
    ResourceHealthChecker,
    ResourceInitializationError,
    ResourcePool,
    resource,
)

__all__ = ["run_demo", "run_demo_async"]

PRODUCTS = 24
DB_POOL_SIZE = 8
HTTP_POOL_SIZE = 6
#: requests whose events are printed in full (plus the first of each failure kind)
FULL_LOG_REQUESTS = 2

_current_request: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "injectq_demo_request", default=None
)


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True)
class FailurePlan:
    """Which requests meet the deliberately failing resources (decided by ``--seed``)."""

    init_fail: frozenset[int]
    dispose_fail: frozenset[int]

    @classmethod
    def build(cls, requests: int, seed: int) -> "FailurePlan":
        rng = random.Random(seed)
        ids = range(requests)
        n_init = max(1, round(requests * 0.08)) if requests >= 2 else 0
        n_dispose = max(1, round(requests * 0.05)) if requests >= 2 else 0
        return cls(frozenset(rng.sample(ids, n_init)), frozenset(rng.sample(ids, n_dispose)))


@dataclass
class DemoConfig:
    """Plain settings object, bound as an instance."""

    workdir: Path
    plan: FailurePlan

    @property
    def db_path(self) -> Path:
        return self.workdir / "demo.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.workdir / "requests.log"


class RequestContext:
    """Request-scoped plain object (not a resource): who the current request is."""

    def __init__(self) -> None:
        self.request_id = -1


# ---------------------------------------------------------------------- HTTP server


@dataclass
class ServerStats:
    connections_opened: int = 0
    connections_closed: int = 0
    requests: int = 0
    sessions_opened: int = 0
    sessions_released: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def connections_open(self) -> int:
        return self.connections_opened - self.connections_closed


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools its connections
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: "_DemoServer"

    def setup(self) -> None:
        super().setup()
        stats = self.server.stats
        with stats.lock:
            stats.connections_opened += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            stats = self.server.stats
            with stats.lock:
                stats.connections_closed += 1
                stats.lock.notify_all()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the demo prints its own log

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        stats = self.server.stats
        with stats.lock:
            stats.requests += 1
        payload: dict[str, Any] = {"error": f"no route {url.path}"}
        status = 404
        if url.path == "/health":
            status, payload = 200, {"status": "ok"}
        elif url.path.startswith("/inventory/"):
            product = int(url.path.rsplit("/", 1)[1])
            status, payload = 200, {"product_id": product, "in_stock": (product * 37) % 50}
        elif url.path == "/recommendations/session":
            request = int(query.get("request", ["-1"])[0])
            if request in self.server.plan.init_fail:
                status, payload = 503, {"error": "recommendation engine overloaded"}
            else:
                with stats.lock:
                    stats.sessions_opened += 1
                picks = [1 + (request * k) % PRODUCTS for k in (3, 5, 11)]
                status, payload = 200, {"session": f"s{request}", "products": picks}
        elif url.path == "/recommendations/release":
            with stats.lock:
                stats.sessions_released += 1
            status, payload = 200, {"released": query.get("session", ["?"])[0]}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _DemoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, plan: FailurePlan, stats: ServerStats) -> None:
        self.plan = plan
        self.stats = stats
        super().__init__(("127.0.0.1", 0), _Handler)


@resource
class LocalHttpServer:
    """The upstream service: a real ``ThreadingHTTPServer`` on 127.0.0.1, ephemeral port."""

    def __init__(self, config: DemoConfig) -> None:
        self.stats = ServerStats()
        self._plan = config.plan
        self._server: _DemoServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.all_connections_closed = False

    def initialize(self) -> None:
        self._server = _DemoServer(self._plan, self.stats)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="injectq-demo-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def dispose(self) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        stats = self.stats
        with stats.lock:  # clients closed first (reverse order): wait for the server to see it
            self.all_connections_closed = stats.lock.wait_for(
                lambda: stats.connections_open == 0, timeout=5.0
            )
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def health_check(self) -> dict[str, Any]:
        alive = self._thread is not None and self._thread.is_alive()
        return {
            "healthy": alive,
            "url": self.base_url,
            "open_connections": self.stats.connections_open,
            "requests_served": self.stats.requests,
        }


# ---------------------------------------------------------------------- HTTP client


class HttpStatusError(Exception):
    def __init__(self, status: int, path: str, body: bytes) -> None:
        super().__init__(f"GET {path} -> HTTP {status} {body.decode(errors='replace')}")
        self.status = status


@dataclass
class ClientStats:
    opened: int = 0
    closed: int = 0


class _HttpConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: ClientStats
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._stats = stats
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int, stats: ClientStats) -> "_HttpConnection":
        reader, writer = await asyncio.open_connection(host, port)
        stats.opened += 1
        return cls(reader, writer, stats)

    async def get(self, path: str) -> tuple[int, bytes]:
        self._writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode()
        )
        await self._writer.drain()
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return status, body

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stats.closed += 1
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


@resource
class HttpClient:
    """HTTP client resource: a pool of keep-alive connections to the local server."""

    def __init__(self, server: LocalHttpServer) -> None:
        self._server = server
        self.stats = ClientStats()
        self.pool: ResourcePool[_HttpConnection] = ResourcePool(
            self._connect,
            max_size=HTTP_POOL_SIZE,
            validate=lambda conn: not conn.closed,
        )

    async def _connect(self) -> _HttpConnection:
        return await _HttpConnection.open("127.0.0.1", self._server.port, self.stats)

    async def initialize(self) -> None:
        await self.pool.initialize()

    async def get_json(self, path: str) -> Any:
        async with self.pool.acquire() as conn:
            status, body = await conn.get(path)
        if status != 200:
            raise HttpStatusError(status, path, body)
        return json.loads(body)

    async def dispose(self) -> None:
        await self.pool.dispose()

    async def health_check(self) -> dict[str, Any]:
        reply = await self.get_json("/health")
        return {"healthy": reply.get("status") == "ok", **self.pool.stats().as_dict()}


# ------------------------------------------------------------------------- database


@dataclass
class DbStats:
    opened: int = 0
    closed: int = 0
    peak_open: int = 0
    in_use: int = 0
    peak_in_use: int = 0
    connections: list[sqlite3.Connection] = field(default_factory=list)

    def unclosed(self) -> int:
        """Connections still open, asked of sqlite3 itself (a closed one refuses work)."""
        still_open = 0
        for conn in self.connections:
            try:
                conn.execute("SELECT 1")
            except sqlite3.ProgrammingError:
                continue
            still_open += 1
        return still_open


@resource
class DatabasePool:
    """The database resource: SQLite on a temp file, through a ``ResourcePool``."""

    def __init__(self, config: DemoConfig) -> None:
        self.path = config.db_path
        self.stats = DbStats()
        self.pool: ResourcePool[sqlite3.Connection] = ResourcePool(
            self._connect, max_size=DB_POOL_SIZE, min_size=2, close=self._close
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        stats = self.stats
        stats.opened += 1
        stats.connections.append(conn)
        stats.peak_open = max(stats.peak_open, stats.opened - stats.closed)
        return conn

    def _close(self, conn: sqlite3.Connection) -> None:
        conn.close()
        self.stats.closed += 1

    async def initialize(self) -> None:
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as setup:
            setup.executescript(
                """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS products (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS orders (
                    id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL,
                    product_id INTEGER NOT NULL REFERENCES products(id),
                    quantity INTEGER NOT NULL);
                """
            )
            setup.executemany(
                "INSERT OR IGNORE INTO products VALUES (?, ?, ?)",
                [(i, f"product-{i:02d}", round(2.5 + i * 1.25, 2)) for i in range(1, PRODUCTS + 1)],
            )
        await self.pool.initialize()

    async def checkout(self) -> sqlite3.Connection:
        conn = await self.pool.acquire_item()
        stats = self.stats
        stats.in_use += 1
        stats.peak_in_use = max(stats.peak_in_use, stats.in_use)
        return conn

    async def checkin(self, conn: sqlite3.Connection, *, discard: bool = False) -> None:
        self.stats.in_use -= 1
        await self.pool.arelease(conn, discard=discard)

    async def dispose(self) -> None:
        await self.pool.dispose()

    async def health_check(self) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            (count,) = conn.execute("SELECT count(*) FROM orders").fetchone()
        return {"healthy": True, "orders": count, **self.pool.stats().as_dict()}


# ------------------------------------------------------------------------- log file


@resource
class RequestLog:
    """The file resource: one JSON line per request, a real file handle."""

    def __init__(self, config: DemoConfig) -> None:
        self.path = config.log_path
        self.lines = 0
        self._file: TextIO | None = None
        self.handles: list[TextIO] = []

    def initialize(self) -> None:
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in dispose
        self.handles.append(self._file)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("RequestLog used before initialize()")
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self.lines += 1

    def dispose(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def health_check(self) -> dict[str, Any]:
        open_ = self._file is not None and not self._file.closed
        return {"healthy": open_, "path": str(self.path), "lines": self.lines}


# ---------------------------------------------------------------- request resources


@resource
class UnitOfWork:
    """Request-scoped: a pooled connection for the request; writes commit at dispose."""

    def __init__(self, db: DatabasePool, ctx: RequestContext) -> None:
        self._db = db
        self._ctx = ctx
        self._conn: sqlite3.Connection | None = None
        self._orders: list[tuple[int, int, int]] = []

    async def initialize(self) -> None:
        self._conn = await self._db.checkout()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside its activation")
        return self._conn

    def product(self, product_id: int) -> tuple[str, float]:
        row = self.conn.execute(
            "SELECT name, price FROM products WHERE id = ?", (product_id,)
        ).fetchone()
        return str(row[0]), float(row[1])

    def best_sellers(self, n: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT p.id FROM products p LEFT JOIN orders o ON o.product_id = p.id "
            "GROUP BY p.id ORDER BY count(o.id) DESC, p.id LIMIT ?",
            (n,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def add_order(self, product_id: int, quantity: int) -> None:
        self._orders.append((self._ctx.request_id, product_id, quantity))

    async def dispose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        broken = False
        try:
            if self._orders:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO orders (request_id, product_id, quantity) VALUES (?, ?, ?)",
                    self._orders,
                )
                conn.execute("COMMIT")
        except BaseException:
            broken = True
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        finally:
            self._orders = []
            await self._db.checkin(conn, discard=broken)


class AuditFlushError(OSError):
    """The audit sink refused a flush (simulated, on the requests of the plan)."""


@resource
class AuditTrail:
    """Request-scoped: collects audit entries, flushes them to the request log at dispose.

    On the requests the plan picks, the flush is rejected *after* writing, so dispose
    raises: the request sees it as a ``ResourceDisposalError`` at scope exit.
    """

    def __init__(self, ctx: RequestContext, log: RequestLog, config: DemoConfig) -> None:
        self._ctx = ctx
        self._log = log
        self._plan = config.plan
        self.entries: list[str] = []

    def record(self, entry: str) -> None:
        self.entries.append(entry)

    def dispose(self) -> None:
        request = self._ctx.request_id
        self._log.write({"request": request, "audit": self.entries})
        if request in self._plan.dispose_fail:
            raise AuditFlushError(f"audit sink rejected the flush of request {request}")


@resource
class Recommendations:
    """Request-scoped: a session with the recommendation engine (over HTTP).

    Its ``initialize`` fails (HTTP 503) on the requests the plan picks; the request
    catches ``ResourceInitializationError`` and falls back to local best sellers.
    """

    def __init__(self, http: HttpClient, ctx: RequestContext) -> None:
        self._http = http
        self._ctx = ctx
        self.session = ""
        self.products: list[int] = []

    async def initialize(self) -> None:
        reply = await self._http.get_json(
            f"/recommendations/session?request={self._ctx.request_id}"
        )
        self.session = str(reply["session"])
        self.products = [int(p) for p in reply["products"]]

    async def dispose(self) -> None:
        await self._http.get_json(f"/recommendations/release?session={self.session}")


# ------------------------------------------------------------------------ the app


def build_container(config: DemoConfig) -> InjectQ:
    container = InjectQ()
    container.bind_instance(DemoConfig, config)
    for singleton in (LocalHttpServer, HttpClient, DatabasePool, RequestLog):
        container.bind(singleton, singleton)
    for scoped in (RequestContext, UnitOfWork, AuditTrail, Recommendations):
        container.bind(scoped, scoped, scope="request")
    return container


def app() -> InjectQ:
    """The demo's container, for ``injectq check|graph|health|resources
    injectq.cli.demo:app``: its files go to a fresh temporary directory (left for you to
    look at; nothing is written until a resource starts)."""
    workdir = Path(tempfile.mkdtemp(prefix="injectq-demo-"))
    return build_container(DemoConfig(workdir, FailurePlan.build(0, 7)))


@dataclass
class RequestOutcome:
    request_id: int
    degraded: bool = False
    init_error: str | None = None
    dispose_errors: list[str] = field(default_factory=list)
    error: str | None = None
    recommended: list[int] = field(default_factory=list)


async def handle_request(container: InjectQ, request_id: int) -> RequestOutcome:
    """One simulated request, in its own request scope."""
    outcome = RequestOutcome(request_id)
    token = _current_request.set(request_id)
    try:
        async with container.scope("request"):
            ctx = await container.aget(RequestContext)
            ctx.request_id = request_id
            uow = await container.aget(UnitOfWork)
            audit = await container.aget(AuditTrail)
            http = await container.aget(HttpClient)
            product_id = 1 + (request_id * 7) % PRODUCTS
            stock = await http.get_json(f"/inventory/{product_id}")
            name, price = uow.product(product_id)
            quantity = 1 + request_id % 3
            uow.add_order(product_id, quantity)
            audit.record(f"order {name} x{quantity} at {price:.2f} (stock {stock['in_stock']})")
            try:
                recommendations = await container.aget(Recommendations)
                outcome.recommended = recommendations.products
            except ResourceInitializationError as exc:
                # graceful degradation: the engine is down, recommend local best sellers
                outcome.degraded = True
                outcome.init_error = f"{exc.__cause__!s}"
                outcome.recommended = uow.best_sellers(3)
            audit.record(f"recommended {outcome.recommended}" + (" (fallback)" * outcome.degraded))
    except ResourceDisposalError as group:
        outcome.dispose_errors = [str(err) for err in group.exceptions]
    except Exception as exc:  # reported, counted as a failed request
        outcome.error = repr(exc)
    finally:
        _current_request.reset(token)
    return outcome


@dataclass(frozen=True)
class LoggedEvent:
    at: float
    request: int | None
    kind: str
    resource_type: str
    scope: str
    duration: float | None
    error: str | None


class EventLog:
    """A monitor subscriber: keeps every event, tagged with the request that caused it."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.events: list[LoggedEvent] = []

    def __call__(self, event: ResourceEvent) -> None:
        self.events.append(
            LoggedEvent(
                at=time.perf_counter() - self.start,
                request=_current_request.get(),
                kind=event.kind,
                resource_type=event.resource_type,
                scope=event.scope,
                duration=event.duration,
                error=None if event.error is None else _describe_error(event.error),
            )
        )

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = {}
        for ev in self.events:
            table.setdefault(ev.resource_type, Counter())[ev.kind] += 1
        kinds = ("created", "initialized", "init_failed", "disposed", "dispose_failed")
        return {name: {k: table[name][k] for k in kinds} for name in sorted(table)}


def _describe_error(error: BaseException) -> str:
    cause = error.__cause__
    if cause is not None and isinstance(error, ResourceInitializationError):
        return f"{type(error).__name__} <- {type(cause).__name__}: {cause}"
    return f"{type(error).__name__}: {error}"


class _CollectingHandler(logging.Handler):
    """Keeps the library's log records (dispose failures are logged at ERROR with their
    traceback) so the demo reports them in its summary instead of 15 tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _capture_library_log() -> Iterator[_CollectingHandler]:
    logger = logging.getLogger("injectq.resources")
    handler = _CollectingHandler()
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="injectq-demo-") as name:
        yield Path(name)


async def _health_report(container: InjectQ) -> dict[str, Any]:
    checker = ResourceHealthChecker(container, timeout=5.0)
    report: dict[str, Any] = await checker.check_all_resources()
    return {str(name): dict(entry) for name, entry in report.items()}


async def run_demo_async(requests: int, seed: int) -> dict[str, Any]:
    """Run the demo; return the summary (what ``--json`` prints)."""
    with _workdir() as workdir, _capture_library_log() as library_log:
        config = DemoConfig(workdir, FailurePlan.build(requests, seed))
        container = build_container(config)
        log = EventLog()
        unsubscribe = container.resource_monitor.subscribe(log)
        started = time.perf_counter()

        await container.start()  # singletons, dependencies first: server before client
        server = await container.aget(LocalHttpServer)
        client = await container.aget(HttpClient)
        db = await container.aget(DatabasePool)
        request_log = await container.aget(RequestLog)

        outcomes = await asyncio.gather(*(handle_request(container, i) for i in range(requests)))
        served = time.perf_counter() - started
        health = await _health_report(container)  # while the singletons are still live
        live_before_close = sorted(_name(k) for k in container.get_all_resources())

        close_error: str | None = None
        try:
            await container.aclose()
        except Exception as exc:
            close_error = repr(exc)
        unsubscribe()
        live_after_close = sorted(_name(k) for k in container.get_all_resources())
        metrics = container.resource_metrics()
        with open(config.log_path, encoding="utf-8") as fh:
            log_lines = sum(1 for _ in fh)
        unclosed_db = db.stats.unclosed()
        pool_stats = db.pool.stats().as_dict()
        http_pool_stats = client.pool.stats().as_dict()

    summary = _summarise(
        config=config,
        requests=requests,
        seed=seed,
        outcomes=outcomes,
        log=log,
        metrics=metrics,
        health=health,
        live_before_close=live_before_close,
        live_after_close=live_after_close,
        close_error=close_error,
        server=server,
        client=client,
        db=db,
        unclosed_db=unclosed_db,
        pool_stats=pool_stats,
        http_pool_stats=http_pool_stats,
        request_log=request_log,
        log_lines=log_lines,
    )
    levels = Counter(record.levelname for record in library_log.records)
    summary["library_log"] = {
        "records": dict(sorted(levels.items())),
        "with_traceback": sum(1 for r in library_log.records if r.exc_info),
        "first": library_log.records[0].getMessage() if library_log.records else None,
    }
    summary["seconds"] = {"serve": round(served, 3), "total": round(log.events[-1].at, 3)}
    return summary


def _name(key: Any) -> str:
    return str(getattr(key, "__qualname__", key))


def _summarise(
    *,
    config: DemoConfig,
    requests: int,
    seed: int,
    outcomes: list[RequestOutcome],
    log: EventLog,
    metrics: dict[str, dict[str, Any]],
    health: dict[str, Any] | None,
    live_before_close: list[str],
    live_after_close: list[str],
    close_error: str | None,
    server: LocalHttpServer,
    client: HttpClient,
    db: DatabasePool,
    unclosed_db: int,
    pool_stats: dict[str, int | float],
    http_pool_stats: dict[str, int | float],
    request_log: RequestLog,
    log_lines: int,
) -> dict[str, Any]:
    plan = config.plan
    degraded = sorted(o.request_id for o in outcomes if o.degraded)
    dispose_failed = sorted(o.request_id for o in outcomes if o.dispose_errors)
    failed = {o.request_id: o.error for o in outcomes if o.error}
    events = log.counts()
    sstats = server.stats
    checks: dict[str, bool] = {
        "no live resources after aclose (get_all_resources() == {})": not live_after_close,
        "container closed cleanly": close_error is None,
        "monitor: every type has 0 active": all(m["active"] == 0 for m in metrics.values()),
        "events: every created resource was disposed or failed to initialize": all(
            c["created"] == c["disposed"] + c["dispose_failed"] + c["init_failed"]
            for c in events.values()
        ),
        "monitor: created == disposed + init errors, per type": all(
            m["created"] == m["disposed"] + m["init_errors"] for m in metrics.values()
        ),
        "every request served (degraded or not)": not failed,
        "init failures == planned, each degraded gracefully": degraded == sorted(plan.init_fail),
        "dispose failures == planned, each reported at scope exit": dispose_failed
        == sorted(plan.dispose_fail),
        "db pool: 0 in use, 0 items after dispose": pool_stats["in_use"] == 0
        and pool_stats["size"] == 0,
        "db pool: never more than max_size connections": db.stats.peak_open <= DB_POOL_SIZE
        and db.stats.peak_in_use <= DB_POOL_SIZE,
        "db: every sqlite3 connection closed": unclosed_db == 0
        and db.stats.opened == db.stats.closed,
        "http client: every connection closed": client.stats.opened == client.stats.closed
        and http_pool_stats["size"] == 0,
        "http server: saw every connection closed": server.all_connections_closed
        and sstats.connections_opened == sstats.connections_closed,
        "http server: every recommendation session released": sstats.sessions_opened
        == sstats.sessions_released,
        "request log: file closed, one line per request": all(h.closed for h in request_log.handles)
        and log_lines == requests,
    }
    return {
        "ok": all(checks.values()),
        "requests": requests,
        "seed": seed,
        "checks": checks,
        "outcomes": {
            "served": requests - len(failed),
            "failed": failed,
            "degraded": len(degraded),
            "dispose_errors": len(dispose_failed),
            "degraded_requests": degraded,
            "dispose_error_requests": dispose_failed,
        },
        "expected": {
            "init_failures": len(plan.init_fail),
            "dispose_failures": len(plan.dispose_fail),
            "init_fail_requests": sorted(plan.init_fail),
            "dispose_fail_requests": sorted(plan.dispose_fail),
        },
        "events": events,
        "live_before_close": live_before_close,
        "live_after_close": live_after_close,
        "close_error": close_error,
        "pool": {
            "max_size": DB_POOL_SIZE,
            "peak_in_use": db.stats.peak_in_use,
            "peak_open_connections": db.stats.peak_open,
            "connections_opened": db.stats.opened,
            "connections_closed": db.stats.closed,
            "connections_still_open": unclosed_db,
            "stats_after_close": pool_stats,
        },
        "http": {
            "server_url": server.base_url,
            "server_requests": sstats.requests,
            "server_connections_opened": sstats.connections_opened,
            "server_connections_closed": sstats.connections_closed,
            "client_connections_opened": client.stats.opened,
            "client_connections_closed": client.stats.closed,
            "client_pool_max_size": HTTP_POOL_SIZE,
            "client_pool_stats_after_close": http_pool_stats,
            "sessions_opened": sstats.sessions_opened,
            "sessions_released": sstats.sessions_released,
        },
        "request_log": {"lines": log_lines, "closed": all(h.closed for h in request_log.handles)},
        "metrics": metrics,
        "health": health,
        "lifecycle_log": [_event_dict(ev) for ev in _selected_events(log, outcomes)],
    }


def _event_dict(ev: LoggedEvent) -> dict[str, Any]:
    return {
        "at_ms": round(ev.at * 1000, 2),
        "request": ev.request,
        "kind": ev.kind,
        "resource_type": ev.resource_type,
        "scope": ev.scope,
        "duration_ms": None if ev.duration is None else round(ev.duration * 1000, 3),
        "error": ev.error,
    }


def _shown_requests(outcomes: list[RequestOutcome]) -> list[int]:
    shown = list(range(min(FULL_LOG_REQUESTS, len(outcomes))))
    for pick in (
        next((o.request_id for o in outcomes if o.degraded), None),
        next((o.request_id for o in outcomes if o.dispose_errors), None),
    ):
        if pick is not None and pick not in shown:
            shown.append(pick)
    return shown


def _selected_events(log: EventLog, outcomes: list[RequestOutcome]) -> list[LoggedEvent]:
    shown = set(_shown_requests(outcomes))
    return [ev for ev in log.events if ev.request is None or ev.request in shown]


# --------------------------------------------------------------------------- text


def _render_text(summary: dict[str, Any], out: Callable[[str], None]) -> None:
    exp = summary["expected"]
    res = summary["outcomes"]
    out(f"injectq demo: {summary['requests']} concurrent requests (seed {summary['seed']})")
    out(
        f"  app: SQLite via ResourcePool(max_size={summary['pool']['max_size']}), request-log "
        f"file, HTTP client -> {summary['http']['server_url']}"
    )
    out(
        f"  plan: Recommendations.initialize fails on {exp['init_failures']} request(s), "
        f"AuditTrail.dispose raises on {exp['dispose_failures']}"
    )
    out("")
    degraded = res["degraded_requests"]
    disposal = res["dispose_error_requests"]
    shown = list(range(min(FULL_LOG_REQUESTS, summary["requests"])))
    labels = [f"#{i}" for i in shown]
    if degraded and degraded[0] not in shown:
        labels.append(f"#{degraded[0]} (first init failure)")
    if disposal and disposal[0] not in shown:
        labels.append(f"#{disposal[0]} (first dispose failure)")
    out(f"Lifecycle log: application events and requests {', '.join(labels)} in full")
    for ev in summary["lifecycle_log"]:
        who = "app" if ev["request"] is None else f"req #{ev['request']}"
        took = "" if ev["duration_ms"] is None else f" {ev['duration_ms']:.2f} ms"
        line = (
            f"  {ev['at_ms']:8.1f} ms  {who:<9} {ev['kind']:<14} {ev['resource_type']:<16}"
            f" [{ev['scope']}]{took}"
        )
        if ev["error"]:
            line += f"\n{'':24}! {ev['error']}"
        out(line)
    out("")
    out("Lifecycle summary (all requests, from monitor.subscribe events)")
    kinds = ("created", "initialized", "init_failed", "disposed", "dispose_failed")
    out(f"  {'resource':<16}" + "".join(f"{k:>15}" for k in kinds))
    for name, counts in summary["events"].items():
        out(f"  {name:<16}" + "".join(f"{counts[k]:>15}" for k in kinds))
    out("")
    out(
        f"Requests: {res['served']}/{summary['requests']} served; "
        f"{res['degraded']} degraded gracefully after ResourceInitializationError "
        f"(planned {exp['init_failures']}); {res['dispose_errors']} reported "
        f"ResourceDisposalError at scope exit (planned {exp['dispose_failures']})"
    )
    for request_id, error in res["failed"].items():
        out(f"  request #{request_id} FAILED: {error}")
    lib = summary["library_log"]
    if lib["records"]:
        counts = ", ".join(f"{n} {level}" for level, n in lib["records"].items())
        out(
            f"  logger 'injectq.resources' recorded {counts} ({lib['with_traceback']} with "
            f"traceback), e.g. {lib['first']!r}"
        )
    out("")
    pool = summary["pool"]
    http_ = summary["http"]
    out("Teardown: await container.aclose()")
    out(f"  live before close: {', '.join(summary['live_before_close']) or '-'}")
    out(f"  live after close:  {', '.join(summary['live_after_close']) or 'nothing'}")
    if summary["close_error"]:
        out(f"  aclose raised: {summary['close_error']}")
    out(
        f"  db pool: peak {pool['peak_in_use']}/{pool['max_size']} in use, "
        f"{pool['connections_opened']} sqlite3 connections opened, "
        f"{pool['connections_closed']} closed, {pool['connections_still_open']} still open"
    )
    out(
        f"  http: client opened {http_['client_connections_opened']} / closed "
        f"{http_['client_connections_closed']} connections; server saw "
        f"{http_['server_connections_opened']} opened / {http_['server_connections_closed']} "
        f"closed, {http_['server_requests']} requests"
    )
    out(
        f"  request log: {summary['request_log']['lines']} lines, file "
        f"{'closed' if summary['request_log']['closed'] else 'STILL OPEN'}"
    )
    for name, passed in summary["checks"].items():
        out(f"  [{'ok' if passed else 'FAIL'}] {name}")
    out("")
    _render_metrics(summary["metrics"], out)
    out("")
    _render_health(summary["health"], out)
    out("")
    verdict = "every resource disposed, nothing leaked" if summary["ok"] else "LEAK OR FAILURE"
    out(f"Result: {verdict} ({summary['seconds']['total']:.2f} s)")


def _render_metrics(metrics: dict[str, dict[str, Any]], out: Callable[[str], None]) -> None:
    out("Metrics: container.resource_metrics()")
    header = (
        f"  {'resource':<16}{'created':>8}{'init':>6}{'disp':>6}{'active':>7}{'init!':>6}"
        f"{'disp!':>6}{'init p95':>10}{'disp p95':>10}{'life med':>10}{'life max':>10}"
    )
    out(header)
    for name, m in metrics.items():
        out(
            f"  {name:<16}{m['created']:>8}{m['initialized']:>6}{m['disposed']:>6}"
            f"{m['active']:>7}{m['init_errors']:>6}{m['dispose_errors']:>6}"
            f"{_ms(m['init_duration']['p95']):>10}{_ms(m['dispose_duration']['p95']):>10}"
            f"{_ms(m['lifetime']['median']):>10}{_ms(m['lifetime']['max']):>10}"
        )
    out("  (init/disp = initialized/disposed, ! = errors; durations in ms)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _render_health(health: dict[str, Any], out: Callable[[str], None]) -> None:
    out("Health: ResourceHealthChecker.check_all_resources() (taken before aclose)")
    for name, entry in health.items():
        latency = entry.get("latency_ms")
        took = "" if latency is None else f" {latency:.2f} ms"
        details = entry.get("details")
        extra = ""
        if isinstance(details, dict):
            shown = {k: v for k, v in details.items() if k != "healthy"}
            extra = " " + ", ".join(f"{k}={v}" for k, v in list(shown.items())[:4])
        if entry.get("error"):
            extra += f" error={entry['error']}"
        out(f"  {name:<16} {entry.get('status', '?'):<10}{took}{extra}")


def run_demo(*, requests: int = 300, seed: int = 7, as_json: bool = False) -> int:
    """Run the demo and print it; 0 when everything was disposed, 1 otherwise."""
    summary = asyncio.run(run_demo_async(requests, seed))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        _render_text(summary, print)
    return 0 if summary["ok"] else 1
