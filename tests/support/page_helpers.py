"""Everything the resource-management page names but never defines, made real.

The page's examples use ``DatabaseConfig``, ``create_database_connection``,
``create_connection_pool``, ``create_pool``, ``create_connection``, ``HTTPConfig``,
``RedisConfig``, ``CacheConfig``, ``create_cache_client``, ``redis``, ``CacheConnection``,
``CacheClient``, ``process_request``, ``Service``, ``SomeResource``,
``create_unreliable_resource``, ``FallbackResource``, ``request`` ... and the modules
``asyncio``, ``time``, ``Path``, ``aiofiles``, ``aiohttp`` without importing them.

:class:`Environment` holds the real backends of one test (a seeded SQLite file, the KV
server's URL, the HTTP server's URL, a directory for files) and counts what is opened and
closed; :func:`make_stand_ins` builds the names above bound to it, ready to pre-fill the
namespace an example is executed in.

No ``from __future__ import annotations`` here on purpose: the container reads the
constructors' type hints, and the classes below are created inside a function.
"""

import asyncio
import os
import sqlite3
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import aiohttp
import aiosqlite

from . import kv_client

USERS = [
    (1, "Ada Lovelace", "ada@example.org"),
    (2, "Alan Turing", "alan@example.org"),
    (3, "Grace Hopper", "grace@example.org"),
]


def init_database(path: Path) -> Path:
    """Create the SQLite file with a ``users`` table seeded with :data:`USERS`."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)"
        )
        db.execute("DELETE FROM users")
        db.executemany("INSERT INTO users (id, name, email) VALUES (?, ?, ?)", USERS)
    db.close()
    return path


def open_fds_on(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (or its -journal/-wal)."""
    target = str(Path(path).resolve())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link == target or link.startswith(target + "-"):
            count += 1
    return count


@dataclass
class Environment:
    """The real backends of one test, and counters of what was opened and closed."""

    db_path: Path
    kv_url: str = ""
    http_url: str = ""
    files_dir: Path | None = None
    events: list[str] = field(default_factory=list)
    db_opened: int = 0
    db_closed: int = 0
    live_db: set[int] = field(default_factory=set)
    unreliable_failures: int = 0
    unreliable_created: int = 0
    unreliable_cleaned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    @property
    def db_live(self) -> int:
        return len(self.live_db)

    def db_fds(self) -> int:
        return open_fds_on(self.db_path)


class SQLiteConnection:
    """A real aiosqlite connection; ``execute`` returns the rows (as dicts) at once.

    The page prints and caches ``await conn.execute(query)``, so this returns the fetched
    rows instead of a cursor. ``raw`` is the underlying ``aiosqlite.Connection``.
    """

    def __init__(self, raw: aiosqlite.Connection, env: Environment) -> None:
        self.raw = raw
        self._env = env
        self.closed = False

    async def execute(self, sql: str, parameters: Any = ()) -> list[dict[str, Any]]:
        self._env.record(f"sql:{sql}")
        async with self.raw.execute(sql, parameters) as cursor:
            rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.raw.close()
        with self._env._lock:
            self._env.db_closed += 1
            self._env.live_db.discard(id(self))

    def __repr__(self) -> str:
        return f"<SQLiteConnection {'closed' if self.closed else 'open'}>"


async def open_sqlite(env: Environment, path: Any = None) -> SQLiteConnection:
    raw = await aiosqlite.connect(str(path or env.db_path))
    raw.row_factory = aiosqlite.Row
    conn = SQLiteConnection(raw, env)
    with env._lock:
        env.db_opened += 1
        env.live_db.add(id(conn))
    return conn


class SQLitePool:
    """A small real pool of SQLite connections: async ``acquire``, sync ``release``, async ``close``."""

    def __init__(self, env: Environment, database: Any, min_size: int, max_size: int) -> None:
        if max_size < 1 or min_size > max_size:
            raise ValueError("need 0 <= min_size <= max_size and max_size >= 1")
        self._env = env
        self.database = database
        self.min_size = min_size
        self.max_size = max_size
        self._idle: asyncio.Queue[SQLiteConnection] = asyncio.Queue()
        self._all: list[SQLiteConnection] = []
        self._in_use: set[int] = set()
        self.closed = False

    async def _fill(self) -> None:
        for _ in range(self.min_size):
            conn = await open_sqlite(self._env, self.database)
            self._all.append(conn)
            self._idle.put_nowait(conn)

    async def acquire(self) -> SQLiteConnection:
        if self.closed:
            raise RuntimeError("pool is closed")
        if self._idle.empty() and len(self._all) < self.max_size:
            conn = await open_sqlite(self._env, self.database)
            self._all.append(conn)
        else:
            conn = await self._idle.get()
        self._in_use.add(id(conn))
        return conn

    def release(self, conn: SQLiteConnection) -> None:
        if id(conn) not in self._in_use:
            raise ValueError("connection was not acquired from this pool")
        self._in_use.discard(id(conn))
        if self.closed:
            return
        self._idle.put_nowait(conn)

    async def close(self) -> None:
        self.closed = True
        for conn in self._all:
            await conn.close()

    def stats(self) -> dict[str, int]:
        return {"size": len(self._all), "idle": self._idle.qsize(), "in_use": len(self._in_use)}


class UnreliableBackend:
    """What ``create_unreliable_resource()`` returns when it does not fail."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self.cleaned = False

    async def process(self) -> str:
        return "primary result"

    async def cleanup(self) -> None:
        self.cleaned = True
        with self._env._lock:
            self._env.unreliable_cleaned += 1


@dataclass
class Request:
    """The ``request`` the page's ``handle_request`` reads ``user_id`` from."""

    user_id: int


def make_stand_ins(env: Environment) -> dict[str, Any]:
    """The page's undefined names, bound to ``env``, for an example's namespace."""

    @dataclass
    class DatabaseConfig:
        """What the page reads: host/port/database/min/max; ``database`` is the SQLite path."""

        host: str = "127.0.0.1"
        port: int = 0
        database: str = str(env.db_path)
        min_connections: int = 1
        max_connections: int = 5

        @property
        def path(self) -> str:
            return self.database

    @dataclass
    class HTTPConfig:
        max_connections: int = 10
        max_connections_per_host: int = 5
        dns_cache_ttl: int = 300
        timeout: float = 10.0

    @dataclass
    class RedisConfig:
        url: str = env.kv_url

    @dataclass
    class CacheConfig:
        url: str = env.kv_url
        prefix: str = ""

    async def create_database_connection(config: Any = None) -> SQLiteConnection:
        return await open_sqlite(env, getattr(config, "database", None))

    async def create_connection() -> SQLiteConnection:
        return await open_sqlite(env)

    async def create_connection_pool(
        host: str, port: int, database: str, min_size: int, max_size: int
    ) -> SQLitePool:
        pool = SQLitePool(env, database, min_size, max_size)
        await pool._fill()
        return pool

    async def create_pool(config: Any) -> SQLitePool:
        return await create_connection_pool(
            config.host,
            config.port,
            config.database,
            config.min_connections,
            config.max_connections,
        )

    async def create_cache_client(config: Any) -> kv_client.CacheClient:
        return await kv_client.create_cache_client(config)

    async def create_unreliable_resource() -> UnreliableBackend:
        with env._lock:
            failing = env.unreliable_failures > 0
            if failing:
                env.unreliable_failures -= 1
            else:
                env.unreliable_created += 1
        if failing:
            raise ConnectionRefusedError("unreliable backend refused the connection")
        return UnreliableBackend(env)

    class _KVCache:
        """A KV-server-backed cache resource, lazily initializing like the page's own."""

        _is_injectq_resource = True

        def __init__(self, config: CacheConfig) -> None:
            self.config = config
            self.client: kv_client.CacheClient | None = None

        async def initialize(self) -> None:
            if self.client is None:
                self.client = await create_cache_client(self.config)
                env.record(f"{type(self).__name__}.initialize")

        async def dispose(self) -> None:
            if self.client is not None:
                await self.client.close()
                self.client = None
                env.record(f"{type(self).__name__}.dispose")

        async def _ready(self) -> kv_client.CacheClient:
            await self.initialize()
            assert self.client is not None
            return self.client

        async def get(self, key: str) -> Any:
            return await (await self._ready()).get(key)

        async def set(self, key: str, value: Any) -> bool:
            return await (await self._ready()).set(key, value)

        async def ping(self) -> bool:
            return await (await self._ready()).ping()

    class CacheConnection(_KVCache):
        """The page's ``CacheConnection`` (a per-request cache connection)."""

    class CacheClient(_KVCache):
        """The page's ``CacheClient`` (a cache client resource; also used as a binding key)."""

    async def process_request(db: Any, cache: Any) -> list[dict[str, Any]]:
        users = await db.execute_query("SELECT id, name FROM users ORDER BY id")
        await cache.set("users", users)
        return users

    class Service:
        """A synchronous resource for the page's ``process_sync``."""

        _is_injectq_resource = True

        def __init__(self) -> None:
            self.ready = False

        def initialize(self) -> None:
            self.ready = True
            env.record("Service.initialize")

        def dispose(self) -> None:
            self.ready = False
            env.record("Service.dispose")

        def process(self) -> str:
            if not self.ready:
                raise RuntimeError("Service used before initialize()")
            return "processed"

    class SomeResource:
        """A synchronous resource for the page's ``leaky_function``."""

        _is_injectq_resource = True

        def __init__(self) -> None:
            self.live = False

        def initialize(self) -> None:
            self.live = True
            env.record("SomeResource.initialize")

        def dispose(self) -> None:
            self.live = False
            env.record("SomeResource.dispose")

        def do_something(self) -> str:
            return "did something" if self.live else "not initialized"

    class FallbackResource:
        """The page's fallback for ``use_resource_with_fallback``."""

        _is_injectq_resource = True

        async def initialize(self) -> None:
            env.record("FallbackResource.initialize")

        async def dispose(self) -> None:
            env.record("FallbackResource.dispose")

        async def process(self) -> str:
            return "fallback result"

    return {
        # configuration
        "DatabaseConfig": DatabaseConfig,
        "HTTPConfig": HTTPConfig,
        "RedisConfig": RedisConfig,
        "CacheConfig": CacheConfig,
        # factories
        "create_database_connection": create_database_connection,
        "create_connection": create_connection,
        "create_connection_pool": create_connection_pool,
        "create_pool": create_pool,
        "create_cache_client": create_cache_client,
        "create_unreliable_resource": create_unreliable_resource,
        "redis": kv_client,
        # resources and helpers
        "CacheConnection": CacheConnection,
        "CacheClient": CacheClient,
        "process_request": process_request,
        "Service": Service,
        "SomeResource": SomeResource,
        "FallbackResource": FallbackResource,
        "Request": Request,
        # modules the page uses without importing them
        "asyncio": asyncio,
        "time": time,
        "Path": Path,
        "aiofiles": aiofiles,
        "aiohttp": aiohttp,
    }


def stand_ins_module(env: Environment) -> types.SimpleNamespace:
    """The stand-ins as attributes (handy in tests)."""
    return types.SimpleNamespace(**make_stand_ins(env))
