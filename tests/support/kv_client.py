"""Async client for :mod:`support.kv_server`, shaped like what the page calls.

The page's ``RedisClient`` does ``await redis.create_connection(url)``, then
``await conn.get(key)`` / ``await conn.set(key, value)`` and a *sync*
``conn.close()`` (optionally followed by ``await conn.wait_closed()``, the aioredis 1.x
style). The page's ``CacheResource`` does ``await create_cache_client(config)`` and
``await client.close()``. Both are real TCP clients of the KV server; the test namespace
exposes this module under the name ``redis``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class KVError(Exception):
    """The server answered ``ERR ...`` or the connection is unusable."""


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"kv://{url}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"KV url needs host and port: {url!r}")
    return parts.hostname, parts.port


class KVConnection:
    """One TCP connection. Commands are serialized with a lock (one reply per request)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    async def _command(self, *parts: str) -> str:
        line = " ".join(parts)
        if "\n" in line or "\r" in line:
            raise ValueError("keys and values must not contain line breaks")
        async with self._lock:
            if self._writer.is_closing():
                raise KVError("connection is closed")
            self._writer.write(line.encode("utf-8") + b"\n")
            await self._writer.drain()
            reply = await self._reader.readline()
        if not reply:
            raise KVError("connection closed by the server")
        text = reply.decode("utf-8").rstrip("\n")
        if text.startswith("ERR"):
            raise KVError(text[4:])
        return text

    async def ping(self) -> bool:
        return await self._command("PING") == "PONG"

    async def get(self, key: str) -> str | None:
        reply = await self._command("GET", key)
        return None if reply == "NIL" else reply.removeprefix("VALUE ")

    async def set(self, key: str, value: str) -> bool:
        return await self._command("SET", key, str(value)) == "OK"

    async def delete(self, key: str) -> int:
        return int((await self._command("DEL", key)).split()[1])

    def close(self) -> None:
        """Start closing (sync, like aioredis 1.x); ``await wait_closed()`` to finish."""
        self._writer.close()

    async def wait_closed(self) -> None:
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass


async def create_connection(url: str) -> KVConnection:
    """``redis.create_connection(url)``: open a real TCP connection to the KV server."""
    host, port = _address(url)
    reader, writer = await asyncio.open_connection(host, port)
    return KVConnection(reader, writer)


class CacheClient:
    """What ``create_cache_client(config)`` returns: JSON values, async ``close()``."""

    def __init__(self, connection: KVConnection, prefix: str = "") -> None:
        self.connection = connection
        self.prefix = prefix

    async def get(self, key: str) -> Any:
        raw = await self.connection.get(self.prefix + key)
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any) -> bool:
        return await self.connection.set(self.prefix + key, json.dumps(value))

    async def ping(self) -> bool:
        return await self.connection.ping()

    async def close(self) -> None:
        self.connection.close()
        await self.connection.wait_closed()

    @property
    def closed(self) -> bool:
        return self.connection.closed


async def create_cache_client(config: Any) -> CacheClient:
    """The page's ``create_cache_client(config)``; ``config.url`` names the KV server."""
    return CacheClient(await create_connection(config.url), getattr(config, "prefix", ""))
