"""The stand-ins themselves work: real servers on 127.0.0.1, real SQLite, real counts."""

import asyncio
import json
import sqlite3

import aiohttp
import httpx
import pytest

from support import kv_client, page_helpers
from support.kv_server import kv_server as start_kv_server


def test_http_server_routes(http_server):
    with httpx.Client(base_url=str(http_server)) as client:
        assert client.get("/data").json() == {"items": page_helpers_items()}
        assert client.get("/health").json() == {"status": "ok"}
        assert client.post("/echo", json={"a": [1, 2]}).json() == {"a": [1, 2]}
        assert client.get("/nope").status_code == 404
        assert http_server.server.live_connections() == 1
    assert http_server.server.wait_for_connections(0) == 0
    stats = http_server.server.stats()
    assert stats["requests"] == [
        ("GET", "/data"),
        ("GET", "/health"),
        ("POST", "/echo"),
        ("GET", "/nope"),
    ]
    assert stats["distinct_client_connections"] == 1  # keep-alive: one TCP connection
    assert http_server.startswith("http://127.0.0.1:")


def page_helpers_items():
    from support.http_server import ITEMS

    return ITEMS


async def test_http_server_with_aiohttp(http_server):
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(f"{http_server}/data") as response:
                assert (await response.json())["items"][0]["name"] == "alpha"
    assert await http_server.server.await_connections(0) == 0
    assert http_server.server.stats()["request_count"] == 3


async def test_kv_server_protocol_and_connection_tracking(kv_server):
    conn = await kv_client.create_connection(kv_server.url)
    assert await kv_server.await_connections(1) == 1
    assert await conn.ping()
    assert await conn.get("missing") is None
    assert await conn.set("greeting", "hello world")
    assert await conn.get("greeting") == "hello world"
    assert kv_server.data == {"greeting": "hello world"}
    assert await conn.delete("greeting") == 1
    assert await conn.delete("greeting") == 0
    with pytest.raises(ValueError, match="line breaks"):
        await conn.set("k", "two\nlines")
    conn.close()  # sync, as the page calls it
    await conn.wait_closed()
    assert conn.closed
    assert await kv_server.await_connections(0) == 0
    stats = kv_server.stats()
    assert stats["total_connections"] == 1
    assert stats["commands"] == ["PING", "GET", "SET", "GET", "DEL", "DEL"]


async def test_kv_server_rejects_bad_commands(kv_server):
    conn = await kv_client.create_connection(kv_server.url)
    with pytest.raises(kv_client.KVError, match="unknown command"):
        await conn._command("FLY", "away")
    with pytest.raises(kv_client.KVError, match="usage"):
        await conn._command("SET", "only-key")
    conn.close()
    await conn.wait_closed()


async def test_cache_client_and_server_side_drop(kv_server, page_env):
    ns = page_helpers.make_stand_ins(page_env)
    client = await ns["create_cache_client"](ns["CacheConfig"]())
    assert await client.set("user:1", [{"id": 1}])
    assert await client.get("user:1") == [{"id": 1}]
    assert json.loads(kv_server.data["user:1"]) == [{"id": 1}]
    kv_server.drop_connections()
    with pytest.raises((kv_client.KVError, ConnectionError)):
        await client.ping()
    await client.close()
    assert await kv_server.await_connections(0) == 0


async def test_concurrent_kv_commands_on_one_connection(kv_server):
    conn = await kv_client.create_connection(kv_server.url)
    await asyncio.gather(*(conn.set(f"k{i}", str(i)) for i in range(20)))
    values = await asyncio.gather(*(conn.get(f"k{i}") for i in range(20)))
    assert values == [str(i) for i in range(20)]
    conn.close()
    await conn.wait_closed()


def test_kv_server_stop_closes_clients():
    async def scenario(url):
        conn = await kv_client.create_connection(url)
        assert await conn.ping()
        return conn

    with start_kv_server() as server:
        loop = asyncio.new_event_loop()
        try:
            conn = loop.run_until_complete(scenario(server.url))
            assert server.wait_for_connections(1) == 1
        finally:
            conn.close()
            loop.run_until_complete(conn.wait_closed())
            loop.close()
    assert server.live_connections() == 0


def test_database_is_seeded(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT id, name FROM users ORDER BY id").fetchall()
    db.close()
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[1][1] == "Alan Turing"


async def test_sqlite_connections_are_counted_and_closed(page_env):
    ns = page_helpers.make_stand_ins(page_env)
    conn = await ns["create_database_connection"](ns["DatabaseConfig"]())
    rows = await conn.execute("SELECT * FROM users WHERE id = ?", (2,))
    assert rows == [{"id": 2, "name": "Alan Turing", "email": "alan@example.org"}]
    assert page_env.db_live == 1
    assert page_env.db_fds() >= 1
    await conn.close()
    await conn.close()  # idempotent
    assert (page_env.db_opened, page_env.db_closed, page_env.db_live) == (1, 1, 0)
    assert page_env.db_fds() == 0


async def test_sqlite_pool_acquire_release_close(page_env):
    ns = page_helpers.make_stand_ins(page_env)
    pool = await ns["create_pool"](ns["DatabaseConfig"](min_connections=1, max_connections=2))
    assert pool.stats() == {"size": 1, "idle": 1, "in_use": 0}
    a = await pool.acquire()
    b = await pool.acquire()
    assert pool.stats() == {"size": 2, "idle": 0, "in_use": 2}
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()  # at max_size: waits for a release
    pool.release(a)  # sync, as the page calls it
    assert await waiter is a
    pool.release(a)
    pool.release(b)
    with pytest.raises(ValueError, match="not acquired from this pool"):
        pool.release(b)
    assert (await a.execute("SELECT count(*) AS n FROM users")) == [{"n": 3}]
    await pool.close()
    assert page_env.db_live == 0
    assert page_env.db_fds() == 0


async def test_unreliable_resource_fails_on_demand(page_env):
    ns = page_helpers.make_stand_ins(page_env)
    page_env.unreliable_failures = 1
    with pytest.raises(ConnectionRefusedError):
        await ns["create_unreliable_resource"]()
    backend = await ns["create_unreliable_resource"]()
    assert await backend.process() == "primary result"
    await backend.cleanup()
    assert (page_env.unreliable_created, page_env.unreliable_cleaned) == (1, 1)


async def test_stand_in_resources_without_a_container(page_env, kv_server):
    ns = page_helpers.make_stand_ins(page_env)
    cache = ns["CacheConnection"](ns["CacheConfig"]())
    assert await cache.set("a", {"b": 1})  # lazily initializes, like the page's resources
    assert await cache.get("a") == {"b": 1}
    await cache.dispose()
    assert await kv_server.await_connections(0) == 0
    assert page_env.events == ["CacheConnection.initialize", "CacheConnection.dispose"]
    assert ns["DatabaseConfig"]().database == str(page_env.db_path)
