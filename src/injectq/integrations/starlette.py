"""Starlette and plain ASGI integration: one ``request`` scope per HTTP request and per
WebSocket connection.

::

    from injectq import Inject, InjectQ, inject
    from injectq.integrations.starlette import setup_starlette

    container = InjectQ()

    @inject
    async def list_users(request: Request, users: UserService = Inject[UserService]):
        return JSONResponse(await users.names())

    app = Starlette(routes=[Route("/users", list_users)])
    setup_starlette(container, app)

``setup_starlette`` adds :class:`InjectQMiddleware`, a plain ASGI middleware that opens
``container.scope("request")`` in the task serving each connection, with the container
active (bare ``@inject`` and ``InjectQ.get_instance()`` find it), and leaves it when the
response is complete: request-scoped resources are one per request, disposed in reverse
order, also when the endpoint raised or the client went away. An exception one of the
app's exception handlers answered still reaches the disposals
(:func:`record_handled_errors`). The app's lifespan shutdown closes the container.

The middleware works on any ASGI app: ``InjectQMiddleware(asgi_app, container=c)``, or
``app.add_middleware(InjectQMiddleware, container=c)`` on Starlette.

Needs ``starlette`` (``pip install injectq[starlette]``); importing :mod:`injectq` does
not import this module.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

try:
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.starlette needs Starlette: pip install 'injectq[starlette]'"
    ) from exc

from injectq.integrations._asgi import (
    HANDLED_ERRORS_KEY,
    STATE_KEY,
    ASGIApp,
    InjectQASGIMiddleware,
    Receive,
    Scope,
    Send,
)
from injectq.integrations._base import claim, no_container
from injectq.utils.exceptions import ResourceInitializationError

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = [
    "HANDLED_ERRORS_KEY",
    "STATE_KEY",
    "InjectQMiddleware",
    "RecordHandledErrors",
    "get_request_container",
    "record_handled_errors",
    "setup_starlette",
]

Handler = Any  # Callable[[HTTPConnection, Exception], Response | Awaitable[Response]]
_Handlers = tuple[dict[Any, Handler], dict[int, Handler]]
#: Starlette's scope key for the handlers its routes look exceptions up in
_HANDLERS_KEY = "starlette.exception_handlers"


def get_request_container(connection: HTTPConnection) -> InjectQ:
    """The container serving this request (installed by :func:`setup_starlette` or
    :class:`InjectQMiddleware`)."""
    state = connection.scope.get("state")
    container = state.get(STATE_KEY) if isinstance(state, dict) else None
    if container is None:
        raise no_container("call setup_starlette(container, app) (or add InjectQMiddleware)")
    return container  # type: ignore[no-any-return]


class InjectQMiddleware(InjectQASGIMiddleware):
    """ASGI middleware: a ``container.scope(scope_name)`` per HTTP request and WebSocket
    connection, with the container active; ``close_on_shutdown=True`` also closes the
    container at lifespan shutdown.

    On a Starlette app it also wires the app's exception handlers so that an exception
    they answer still reaches the scope's disposals: when the app builds its middleware
    stack, this middleware gives the app's ``ExceptionMiddleware`` below it recording
    copies of its handler tables (see :func:`record_handled_errors`), which costs a
    request nothing. Below an ASGI layer that does not expose what it wraps as ``.app``
    the ``ExceptionMiddleware`` cannot be found: the app's router is then wrapped in
    :class:`RecordHandledErrors` at the first request.
    """

    def wire(self, app: ASGIApp) -> ASGIApp:
        """Give the app's ``ExceptionMiddleware`` below recording handler tables, or wire
        its router at the first request when it cannot be found."""
        exceptions = _exception_middleware_below(app)
        if exceptions is None:
            return self._wire_router_at_first_request(app)
        record_handled_errors(exceptions)
        return app

    def _wire_router_at_first_request(self, app: ASGIApp) -> ASGIApp:
        """``app``, after wrapping the router of the Starlette app serving the first
        request in :class:`RecordHandledErrors` (requests in flight meanwhile wire it
        too; the second finds it done)."""

        async def wire_then_serve(scope: Scope, receive: Receive, send: Send) -> None:
            self.app = app  # the next requests go straight to it
            router = getattr(scope.get("app"), "router", None)
            stack = getattr(router, "middleware_stack", None)
            if stack is not None and not isinstance(stack, RecordHandledErrors):
                router.middleware_stack = RecordHandledErrors(stack)  # type: ignore[union-attr]
            await app(scope, receive, send)

        return wire_then_serve


# --------------------------------------------------------------------------- handled errors
class _RecordingHandlers(dict[Any, Any]):
    """A handler table whose handlers record what they handle (see :func:`_recording`)."""


def record_handled_errors(exceptions: ExceptionMiddleware) -> None:
    """Give a Starlette ``ExceptionMiddleware`` recording copies of its handler tables
    (once; a second call finds them in place).

    Starlette handles an endpoint's exception inside the route, with the handlers it
    finds in ``scope["starlette.exception_handlers"]``, which its ``ExceptionMiddleware``
    sets to its own two tables at each request: the exception never propagates to the
    request middleware. With the copies, each handler first records the exception in
    ``scope["injectq.handled_errors"]`` (which the request middleware passes to the
    scope's exit), and, unless the app registered one itself, a handler for
    ``ResourceInitializationError`` hands the error's cause to the handler registered
    for that cause (see :func:`_resource_error_handler`). The app's handlers run where
    and as before."""
    by_class, by_status = exceptions._exception_handlers, exceptions._status_handlers
    if isinstance(by_class, _RecordingHandlers):
        return
    exceptions._exception_handlers, exceptions._status_handlers = _recording_handlers(
        by_class, by_status
    )


def _exception_middleware_below(app: Any) -> ExceptionMiddleware | None:
    """The ``ExceptionMiddleware`` among the layers ``app`` wraps, following ``.app``
    (Starlette builds a stack from the inside out: what is below exists already)."""
    for _ in range(64):  # a stack this deep, or a loop of layers: not found
        if isinstance(app, ExceptionMiddleware):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class RecordHandledErrors:
    """Wraps a Starlette router so that the routes get recording copies of the app's
    exception handler tables (see :func:`record_handled_errors`) through the ASGI scope:
    for an app whose ``ExceptionMiddleware`` :class:`InjectQMiddleware` cannot reach.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # the handler tables are the same objects for every request of one app:
        # build their recording copies once
        self._built: tuple[Any, Any, _Handlers] | None = None  # (by_class, by_status, copies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the router with the app's exception handlers replaced by recording copies."""
        handlers = scope.get(_HANDLERS_KEY)
        if handlers is not None and not isinstance(handlers[0], _RecordingHandlers):
            built = self._built  # the tables of the previous request, usually the same
            if built is None or built[0] is not handlers[0] or built[1] is not handlers[1]:
                built = self._built = (*handlers, _recording_handlers(*handlers))
            scope[_HANDLERS_KEY] = built[2]
        await self.app(scope, receive, send)


def _recording_handlers(
    by_class: Mapping[Any, Handler], by_status: Mapping[int, Handler]
) -> _Handlers:
    """The recording copies of an app's two handler tables."""
    recording_by_class = _RecordingHandlers({key: _recording(h) for key, h in by_class.items()})
    if ResourceInitializationError not in by_class:
        recording_by_class[ResourceInitializationError] = _recording(
            _resource_error_handler(by_class, by_status)
        )
    return recording_by_class, {key: _recording(h) for key, h in by_status.items()}


def _recording(handler: Handler) -> Handler:
    """``handler``, recording the exception it handles in the request's scope first."""

    async def record_then_handle(connection: HTTPConnection, exc: Exception) -> Any:
        handled = connection.scope.get(HANDLED_ERRORS_KEY)
        if handled is not None:
            handled.append(exc)
        return await _call_handler(handler, connection, exc)

    return record_then_handle


async def _call_handler(handler: Handler, connection: HTTPConnection, exc: Exception) -> Any:
    # as Starlette calls a handler: a sync one runs in the thread pool
    if _is_async_callable(handler):
        return await handler(connection, exc)
    return await run_in_threadpool(handler, connection, exc)


def _is_async_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    # a function, or an object whose class has an async __call__
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(type(obj).__call__)


def _lookup(
    exc: BaseException,
    by_class: Mapping[Any, Handler],
    by_status: Mapping[int, Handler],
    skip: type | None = None,
) -> Handler | None:
    """The handler Starlette would pick for ``exc`` (status first for an
    ``HTTPException``, then the nearest class in its MRO), ignoring ``skip``."""
    if isinstance(exc, HTTPException):
        handler = by_status.get(exc.status_code)
        if handler is not None:
            return handler
    for cls in type(exc).__mro__:
        if cls is not skip and cls in by_class:
            return by_class[cls]
    return None


def _resource_error_handler(
    by_class: Mapping[Any, Handler], by_status: Mapping[int, Handler]
) -> Handler:
    """The handler of a ``ResourceInitializationError`` the app registered none for.

    A resource that failed to initialize is reported as ``ResourceInitializationError``
    with the original error as ``__cause__``. An app that registered a handler for that
    original error (``exception_handlers={DatabaseDown: ...}``) means it for this case
    too: the first error down the ``__cause__`` chain that has a handler is given to it.
    With none, the error is handled as Starlette would have: by a handler of one of its
    base classes (``ResourceError``, ``InjectQError``), else it propagates (a 500, or the
    app's ``Exception`` handler)."""

    async def handle_resource_error(connection: HTTPConnection, exc: Exception) -> Any:
        seen: set[int] = set()
        cause = exc.__cause__
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if not isinstance(cause, ResourceInitializationError):
                handler = _lookup(cause, by_class, by_status)
                if handler is not None and isinstance(cause, Exception):
                    return await _call_handler(handler, connection, cause)
            cause = cause.__cause__
        fallback = _lookup(exc, by_class, by_status, skip=ResourceInitializationError)
        if fallback is None:
            raise exc
        return await _call_handler(fallback, connection, exc)

    return handle_resource_error


def setup_starlette(
    container: InjectQ,
    app: Any,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
    close_before_response: bool = False,
) -> None:
    """Serve the Starlette ``app`` from ``container``: a ``scope_name`` scope per request
    and WebSocket connection (resources activated in it are disposed when it ends), the
    container active during requests and lifespan, and ``await container.aclose()`` at
    shutdown unless ``close_on_shutdown=False``. Call it before the app starts serving.

    The request scope closes once the response was sent and background tasks ran;
    ``close_before_response=True`` closes it before the end of the response goes out
    instead (a unit of work committed before the client sees the response; a failed
    disposal answered with a 500), at the price of background tasks running after it.
    Exceptions the app's exception handlers answer still reach the disposals, and a
    ``ResourceInitializationError`` goes to the handler registered for its cause
    (see :func:`record_handled_errors`).
    """
    install(
        container,
        app,
        "setup_starlette",
        scope_name=scope_name,
        close_on_shutdown=close_on_shutdown,
        close_before_response=close_before_response,
    )


def install(container: InjectQ, app: Any, setup: str, **options: Any) -> None:
    """What ``setup_starlette`` and ``setup_fastapi`` do (``setup`` names the caller in
    errors)."""
    state = app.state
    if claim(getattr(state, STATE_KEY, None), container, f"{setup}: this app"):
        return
    container.scope(options.get("scope_name", "request"))  # fails here, not at a request
    app.add_middleware(InjectQMiddleware, container=container, **options)
    setattr(state, STATE_KEY, container)
