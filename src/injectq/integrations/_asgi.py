"""The ASGI middleware every ASGI integration (Starlette, FastAPI, Litestar) installs.

It imports no framework: a plain ASGI middleware around any ASGI app. Per HTTP request
and WebSocket connection it opens a request scope (:class:`~._base.RequestScopes`) in
the task that serves the connection, runs the app in that same task, and leaves the
scope when the app returns, with the exception that ended the request, or else the
first one the framework's own handlers answered: they append what they answer to the
list at ``scope["injectq.handled_errors"]`` (each integration wires its framework's
handlers to it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from injectq.integrations._base import OpenScope, RequestScopes, request_error

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["HANDLED_ERRORS_KEY", "STATE_KEY", "ASGIApp", "InjectQASGIMiddleware"]

_log = logging.getLogger("injectq.integrations")

#: key of the container in ``scope["state"]`` (so ``request.state.injectq_container``)
STATE_KEY = "injectq_container"
#: ASGI scope key: the exceptions the app's handlers turned into responses in this request
HANDLED_ERRORS_KEY = "injectq.handled_errors"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class InjectQASGIMiddleware:
    """A fresh ``container.scope(scope_name)`` around every HTTP request and WebSocket
    connection, with the container active; optionally ``await container.aclose()`` at
    lifespan shutdown.

    A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``): the app runs in the
    same task and context, so the scope is visible to dependencies, handlers, background
    tasks and streaming responses, and is left only once the response is complete
    (background tasks included). With ``close_before_response=True`` an HTTP request's
    scope is left before the end of its response is sent instead
    (see :class:`_CloseBeforeResponse`). When the server cancels the request's task
    (a client that went away), the scope's exit still runs every disposal.
    """

    def __init__(
        self,
        app: ASGIApp,
        container: InjectQ,
        *,
        scope_name: str = "request",
        close_on_shutdown: bool = False,
        close_before_response: bool = False,
    ) -> None:
        self.container = container
        self.scope_name = scope_name
        self.close_on_shutdown = close_on_shutdown
        self.close_before_response = close_before_response
        self._scopes = RequestScopes(container, scope_name)
        self.app = self.wire(app)

    def wire(self, app: ASGIApp) -> ASGIApp:
        """What the middleware calls: ``app``. A subclass wires its framework here, once,
        when the middleware is built (nothing per request)."""
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in {"http", "websocket"}:  # (a constant frozenset)
            await self._serve_other(scope, receive, send)
            return
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = self.container
        handled: list[BaseException] = []
        scope[HANDLED_ERRORS_KEY] = handled
        if self.close_before_response and kind == "http":
            await self._serve_closing_early(scope, receive, send, handled)
            return
        await self._scopes.run(handled, self.app, scope, receive, send)

    async def _serve_closing_early(
        self, scope: Scope, receive: Receive, send: Send, handled: list[BaseException]
    ) -> None:
        """An HTTP request with ``close_before_response``: its scope is left by the
        ``send`` of the response's last message (:class:`_CloseBeforeResponse`)."""
        opened = await self._scopes.aenter()
        closing = _CloseBeforeResponse(self._scopes, opened, handled, send)
        error: BaseException | None = None
        try:
            await self.app(scope, receive, closing.send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                if not closing.closed:
                    await self._scopes.aleave(opened, request_error(error, handled))
            finally:
                self._scopes.deactivate(opened)
        if closing.failure is not None:
            # the client was told (a 500, or a response cut short); the server is told
            # too, as of any disposal failure
            raise closing.failure

    async def _serve_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            with self.container.context():
                await self.app(scope, receive, self._lifespan_send(send))
        else:  # pragma: no cover - no other ASGI scope types exist today
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        if not self.close_on_shutdown:
            return send
        container = self.container

        async def lifespan_send(message: Message) -> None:
            kind = message.get("type")
            if kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    await container.aclose()
                except Exception as exc:
                    _log.error("disposing the InjectQ container at shutdown failed", exc_info=exc)
                    if kind == "lifespan.shutdown.complete":
                        message = {
                            "type": "lifespan.shutdown.failed",
                            "message": f"injectq: disposing the container failed: {exc!r}",
                        }
            await send(message)

        return lifespan_send


class _CloseBeforeResponse:
    """The ``send`` of a request whose scope closes before its response is complete.

    The request scope is left when the app sends the last message of its response
    (the body message without ``more_body``, or a ``pathsend``), before that message
    goes out: the client cannot see the response complete before the resources were
    disposed (a unit of work committed). A response sent in one body message (all but
    streaming ones) is held back whole, its start included, so if a disposal fails the
    client gets a 500 instead; a streaming response's earlier chunks go out as they
    come (its resources serve them), and if a disposal fails its last message is not
    sent, leaving the response incomplete. The failure is then raised to the server
    once the app returns. Background tasks run after the last message: the scope is
    closed by then.
    """

    __slots__ = ("closed", "failure", "handled", "held", "opened", "scopes", "send_on")

    def __init__(
        self, scopes: RequestScopes, opened: OpenScope, handled: list[BaseException], send: Send
    ) -> None:
        self.scopes = scopes
        self.opened = opened
        self.handled = handled
        self.send_on = send
        self.held: Message | None = None  # the response start, until its body comes
        self.closed = False
        self.failure: Exception | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.held = message
            return
        if self.failure is not None:
            return  # the response was answered with the failure (or cut short)
        if not self.closed and (
            kind == "http.response.pathsend"
            or (kind in _BODY_MESSAGES and not message.get("more_body", False))
        ):
            self.closed = True
            try:
                await self.scopes.aleave(self.opened, request_error(None, self.handled))
            except Exception as exc:
                self.failure = exc
                if self.held is not None:  # nothing sent yet: answer with the failure
                    self.held = None
                    await self.send_on(_FAILED_START)
                    await self.send_on(_FAILED_BODY)
                return
        if self.held is not None:
            start, self.held = self.held, None
            await self.send_on(start)
        await self.send_on(message)


_BODY_MESSAGES = frozenset({"http.response.body", "http.response.zerocopysend"})
_FAILED_BODY_TEXT = b"Internal Server Error"
_FAILED_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(_FAILED_BODY_TEXT)).encode()),
    ],
}
_FAILED_BODY: Message = {"type": "http.response.body", "body": _FAILED_BODY_TEXT}
