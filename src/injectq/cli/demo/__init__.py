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

The parts: ``config`` (settings, the failure plan), ``server`` (the local HTTP server),
``services`` (the app's resources), ``container`` (the bindings, ``app``, one request),
``events`` (the event log), ``report`` (the checks and the text) and ``driver`` (the
run), each importing only those named before it.
"""

from injectq.cli.demo.config import DemoConfig, FailurePlan, RequestContext
from injectq.cli.demo.container import app, build_container, handle_request
from injectq.cli.demo.driver import run_demo, run_demo_async
from injectq.cli.demo.server import LocalHttpServer
from injectq.cli.demo.services import (
    AuditTrail,
    DatabasePool,
    HttpClient,
    Recommendations,
    RequestLog,
    UnitOfWork,
)

__all__ = [
    "AuditTrail",
    "DatabasePool",
    "DemoConfig",
    "FailurePlan",
    "HttpClient",
    "LocalHttpServer",
    "Recommendations",
    "RequestContext",
    "RequestLog",
    "UnitOfWork",
    "app",
    "build_container",
    "handle_request",
    "run_demo",
    "run_demo_async",
]
