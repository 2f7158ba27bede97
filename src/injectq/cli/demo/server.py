"""The demo's local HTTP server: a real ``ThreadingHTTPServer`` on 127.0.0.1, as a resource.

It plays the remote inventory and recommendation services the app calls; separate from
the app's own resources because it is the world the app talks to, not part of the app.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from injectq import (
    resource,
)
from injectq.cli.demo.config import (
    PRODUCTS,
    DemoConfig,
    FailurePlan,
)

# ---------------------------------------------------------------------- HTTP server


@dataclass
class ServerStats:
    """The server's connection and request counts (shared with its thread)."""

    connections_opened: int = 0
    connections_closed: int = 0
    requests: int = 0
    sessions_opened: int = 0
    sessions_released: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def connections_open(self) -> int:
        """The connections open now."""
        return self.connections_opened - self.connections_closed


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools its connections
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: _DemoServer

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
        """Start the server on a free port of 127.0.0.1, in a thread."""
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
        """The server's address, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    async def dispose(self) -> None:
        """Stop the server once its clients have closed their connections."""
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        stats = self.stats
        with stats.lock:  # clients closed first (reverse order): wait for the server to see it
            self.all_connections_closed = stats.lock.wait_for(
                lambda: stats.connections_open == 0, timeout=5.0
            )
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def health_check(self) -> dict[str, Any]:
        """Healthy while the server's thread runs."""
        alive = self._thread is not None and self._thread.is_alive()
        return {
            "healthy": alive,
            "url": self.base_url,
            "open_connections": self.stats.connections_open,
            "requests_served": self.stats.requests,
        }
