"""The demo app's resources and services: HTTP client, database pool, log file, request objects.

What the container owns: singletons (client, pool, log) and request-scoped resources, some
of which fail on purpose (``FailurePlan``). Kept apart from the driver and the report,
which only observe them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, TextIO

from injectq import (
    ResourcePool,
    resource,
)
from injectq.cli.demo.config import (
    DB_POOL_SIZE,
    HTTP_POOL_SIZE,
    PRODUCTS,
    DemoConfig,
    RequestContext,
)
from injectq.cli.demo.server import LocalHttpServer

# ---------------------------------------------------------------------- HTTP client


class HttpStatusError(Exception):
    """An HTTP answer other than 200."""

    def __init__(self, status: int, path: str, body: bytes) -> None:
        super().__init__(f"GET {path} -> HTTP {status} {body.decode(errors='replace')}")
        self.status = status


@dataclass
class ClientStats:
    """The client's connection counts."""

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
    async def open(cls, host: str, port: int, stats: ClientStats) -> _HttpConnection:
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
        """Open the first pooled connection."""
        await self.pool.initialize()

    async def get_json(self, path: str) -> Any:
        """GET ``path`` on a pooled connection; the decoded JSON body."""
        async with self.pool.acquire() as conn:
            status, body = await conn.get(path)
        if status != 200:
            raise HttpStatusError(status, path, body)
        return json.loads(body)

    async def dispose(self) -> None:
        """Close the pooled connections."""
        await self.pool.dispose()

    async def health_check(self) -> dict[str, Any]:
        """Healthy when the server answers ``/health`` with ``ok``."""
        reply = await self.get_json("/health")
        return {"healthy": reply.get("status") == "ok", **self.pool.stats().as_dict()}


# ------------------------------------------------------------------------- database


@dataclass
class DbStats:
    """The pool's connection counts."""

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
        """Create the schema and sample data, then fill the pool."""
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
        """A connection from the pool (give it back with :meth:`checkin`)."""
        conn = await self.pool.acquire_item()
        stats = self.stats
        stats.in_use += 1
        stats.peak_in_use = max(stats.peak_in_use, stats.in_use)
        return conn

    async def checkin(self, conn: sqlite3.Connection, *, discard: bool = False) -> None:
        """Give ``conn`` back to the pool (``discard=True`` closes it instead)."""
        self.stats.in_use -= 1
        await self.pool.arelease(conn, discard=discard)

    async def dispose(self) -> None:
        """Close the pooled connections."""
        await self.pool.dispose()

    async def health_check(self) -> dict[str, Any]:
        """Healthy when a pooled connection can count the orders."""
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
        """Open the log file for appending."""
        self._file = self.path.open("a", encoding="utf-8")  # closed in dispose()
        self.handles.append(self._file)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one JSON line."""
        if self._file is None:
            raise RuntimeError("RequestLog used before initialize()")
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self.lines += 1

    def dispose(self) -> None:
        """Close the log file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def health_check(self) -> dict[str, Any]:
        """Healthy while the file is open."""
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
        """Check out the request's connection."""
        self._conn = await self._db.checkout()

    @property
    def conn(self) -> sqlite3.Connection:
        """The request's connection (only between initialize and dispose)."""
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside its activation")
        return self._conn

    def product(self, product_id: int) -> tuple[str, float]:
        """A product's ``(name, price)``."""
        row = self.conn.execute(
            "SELECT name, price FROM products WHERE id = ?", (product_id,)
        ).fetchone()
        return str(row[0]), float(row[1])

    def best_sellers(self, n: int) -> list[int]:
        """The ids of the ``n`` most ordered products."""
        rows = self.conn.execute(
            "SELECT p.id FROM products p LEFT JOIN orders o ON o.product_id = p.id "
            "GROUP BY p.id ORDER BY count(o.id) DESC, p.id LIMIT ?",
            (n,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def add_order(self, product_id: int, quantity: int) -> None:
        """Queue an order; it is written at dispose."""
        self._orders.append((self._ctx.request_id, product_id, quantity))

    async def dispose(self) -> None:
        """Commit the queued orders, then give the connection back (discarded if the commit failed)."""
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
        """Add an audit entry."""
        self.entries.append(entry)

    def dispose(self) -> None:
        """Flush the entries to the request log (rejected on the plan's requests)."""
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
        """Open a recommendation session (HTTP 503 on the plan's requests)."""
        reply = await self._http.get_json(
            f"/recommendations/session?request={self._ctx.request_id}"
        )
        self.session = str(reply["session"])
        self.products = [int(p) for p in reply["products"]]

    async def dispose(self) -> None:
        """Release the session."""
        await self._http.get_json(f"/recommendations/release?session={self.session}")
