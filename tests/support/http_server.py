"""A real HTTP server on 127.0.0.1 (uvicorn + a tiny ASGI app) for the page's HTTP examples.

``GET /data`` -> ``{"items": [...]}``, ``GET /health`` -> ``{"status": "ok"}``,
``POST /echo`` -> the JSON body. The server runs in a background thread with its own
event loop and counts requests and live TCP connections, so tests can check that a
client pool reused and then closed its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

ITEMS: list[dict[str, Any]] = [
    {"id": 1, "name": "alpha"},
    {"id": 2, "name": "beta"},
    {"id": 3, "name": "gamma"},
]

_START_ATTEMPTS = 2000  # x 5 ms of polling: bounded wait for startup/shutdown


class _App:
    """The ASGI application: three JSON routes and a request log."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.client_addresses: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":  # pragma: no cover - websockets are not served
            return
        method, path = scope["method"], scope["path"]
        with self._lock:
            self.requests.append((method, path))
            client = scope.get("client")
            if client:
                self.client_addresses.add((client[0], client[1]))
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        status, payload = 404, {"error": f"no route for {method} {path}"}
        if method == "GET" and path == "/data":
            status, payload = 200, {"items": ITEMS}
        elif method == "GET" and path == "/health":
            status, payload = 200, {"status": "ok"}
        elif method == "POST" and path == "/echo":
            try:
                status, payload = 200, json.loads(body or b"null")
            except ValueError:
                status, payload = 400, {"error": "body is not JSON"}
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


class HTTPServer:
    """A running server: ``url`` is its base URL, ``stats()`` what it saw."""

    def __init__(self) -> None:
        self.app = _App()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.host, self.port = self._sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            self.app, lifespan="on", log_level="warning", access_log=False, loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> HTTPServer:
        self._thread.start()
        for _ in range(_START_ATTEMPTS):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.005)
        if not self._server.started:
            raise RuntimeError("the test HTTP server did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        if self._thread.is_alive():  # pragma: no cover - diagnostic only
            raise RuntimeError("the test HTTP server did not stop")

    def live_connections(self) -> int:
        """TCP connections the server currently holds open."""
        return len(self._server.server_state.connections)

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

    def wait_for_connections(self, count: int, attempts: int = 1000) -> int:
        """Poll (bounded) until the server holds ``count`` live connections; return the last count."""
        seen = self.live_connections()
        for _ in range(attempts):
            seen = self.live_connections()
            if seen == count:
                break
            threading.Event().wait(0.005)
        return seen

    def stats(self) -> dict[str, Any]:
        with self.app._lock:
            return {
                "requests": list(self.app.requests),
                "request_count": len(self.app.requests),
                "distinct_client_connections": len(self.app.client_addresses),
                "live_connections": self.live_connections(),
            }


class BaseURL(str):  # noqa: SLOT000  (it has a `server`: a str subclass cannot slot it)
    """The server's base URL (a plain ``str``) that also carries the server, for its stats."""

    server: HTTPServer


@contextlib.contextmanager
def http_server() -> Iterator[BaseURL]:
    """Start a server on 127.0.0.1:<ephemeral>, yield its base URL, shut it down cleanly.

    The yielded URL is a ``str``; ``url.server`` is the :class:`HTTPServer` (stats, counts).
    """
    server = HTTPServer().start()
    url = BaseURL(server.url)
    url.server = server
    try:
        yield url
    finally:
        server.stop()
