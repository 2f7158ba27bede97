r"""A small real TCP key-value server on 127.0.0.1 for the page's Redis and cache examples.

Text protocol, one line per command, one line per reply (UTF-8, ``\n`` terminated):

    PING          -> PONG
    SET k v...    -> OK           (the value is the rest of the line)
    GET k         -> VALUE v...   or NIL
    DEL k         -> DELETED 1    or DELETED 0
    anything else -> ERR <message>

The server runs on its own event loop in a background thread and tracks every client
connection, so tests can assert that resources closed what they opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_WAIT_ATTEMPTS = 1000  # x 5 ms: bounded polling


class KVServer:
    """``url`` is ``kv://127.0.0.1:<port>``; ``data`` the store; ``stats()`` the counts."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()
        self._live: set[asyncio.StreamWriter] = set()
        self._total_connections = 0
        self._commands: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kv-server", daemon=True)

    @property
    def url(self) -> str:
        return f"kv://{self.host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def start(self) -> KVServer:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the test KV server did not start")
        return self

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._live):
            writer.close()
        await self._server.wait_closed()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def drop_connections(self) -> None:
        """Close every client connection from the server side (simulates a server failure)."""

        async def drop() -> None:
            for writer in list(self._live):
                writer.close()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=10)

    # -- protocol --------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._live.add(writer)
            self._total_connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                reply = self._execute(line.decode("utf-8").rstrip("\r\n"))
                writer.write(reply.encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with self._lock:
                self._live.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _execute(self, line: str) -> str:
        command, _, rest = line.partition(" ")
        command = command.upper()
        with self._lock:
            self._commands.append(command)
            if command == "PING":
                return "PONG"
            if command == "SET":
                key, sep, value = rest.partition(" ")
                if not key or not sep:
                    return "ERR usage: SET key value"
                self.data[key] = value
                return "OK"
            if command == "GET":
                if not rest or " " in rest:
                    return "ERR usage: GET key"
                value = self.data.get(rest)
                return "NIL" if value is None else f"VALUE {value}"
            if command == "DEL":
                if not rest or " " in rest:
                    return "ERR usage: DEL key"
                return f"DELETED {int(self.data.pop(rest, None) is not None)}"
            return f"ERR unknown command {command!r}"

    # -- introspection ---------------------------------------------------------------
    def live_connections(self) -> int:
        with self._lock:
            return len(self._live)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "live_connections": len(self._live),
                "total_connections": self._total_connections,
                "commands": list(self._commands),
                "keys": sorted(self.data),
            }

    async def await_connections(self, count: int, attempts: int = 1000) -> int:
        """Like :meth:`wait_for_connections`, for async tests: polls without blocking the
        caller's event loop (a client's close may still need that loop to run)."""
        seen = self.live_connections()
        for _ in range(attempts):
            seen = self.live_connections()
            if seen == count:
                break
            await asyncio.sleep(0.005)
        return seen

    def wait_for_connections(self, count: int, attempts: int = _WAIT_ATTEMPTS) -> int:
        """Poll (bounded) until ``count`` clients are connected; return the last count seen.

        A client's close reaches the server a moment later (another thread), hence the poll.
        """
        seen = self.live_connections()
        for _ in range(attempts):
            seen = self.live_connections()
            if seen == count:
                break
            threading.Event().wait(0.005)
        return seen


@contextlib.contextmanager
def kv_server() -> Iterator[KVServer]:
    """Start a KV server on 127.0.0.1:<ephemeral>, yield it, stop it (closing all clients)."""
    server = KVServer().start()
    try:
        yield server
    finally:
        server.stop()
