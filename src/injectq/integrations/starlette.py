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
(:class:`RecordHandledErrors`). The app's lifespan shutdown closes the container.

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
    they answer still reaches the scope's disposals (:class:`RecordHandledErrors`,
    installed on the app's router at its first request).
    """

    _wired_app: Any = None

    def prepare(self, scope: Scope) -> None:
        """Install :class:`RecordHandledErrors` on the app's router at the app's first
        request (later requests of the same app find it in place)."""
        app = scope.get("app")
        if app is self._wired_app:  # wired at its first request: nothing to do per request
            return
        router = getattr(app, "router", None)
        stack = getattr(router, "middleware_stack", None)
        if stack is not None and not isinstance(stack, RecordHandledErrors):
            router.middleware_stack = RecordHandledErrors(stack)  # type: ignore[union-attr]
        self._wired_app = app


# --------------------------------------------------------------------------- handled errors
class RecordHandledErrors:
    """Wraps a Starlette router so that the exceptions the app's exception handlers turn
    into responses still reach the request scope's disposals, and so that the handler
    registered for the cause of a :class:`ResourceInitializationError` handles it.

    Starlette handles an endpoint's exception inside the route, with the handlers it
    finds in ``scope["starlette.exception_handlers"]`` (put there by its
    ``ExceptionMiddleware``): the exception never propagates to the request middleware.
    Around ``app.router``, inside ``ExceptionMiddleware``, this layer gives the routes
    the same handlers, each first recording the exception in
    ``scope["injectq.handled_errors"]`` (which the request middleware passes to the
    scope's exit), plus, unless the app registered one itself, a handler for
    ``ResourceInitializationError`` that hands the error's cause to the handler
    registered for that cause (see :func:`_resource_error_handler`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # the handler tables are the same objects for every request of one app:
        # build their recording copies once
        self._built: tuple[Any, Any, _Handlers] | None = None  # (by_class, by_status, copies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the router with the app's exception handlers replaced by recording copies."""
        handlers = scope.get(_HANDLERS_KEY)
        if handlers is not None and HANDLED_ERRORS_KEY in scope:
            built = self._built  # the tables of the previous request, usually the same
            if built is not None and built[0] is handlers[0] and built[1] is handlers[1]:
                scope[_HANDLERS_KEY] = built[2]
            else:
                scope[_HANDLERS_KEY] = self._recording_handlers(handlers)
        await self.app(scope, receive, send)

    def _recording_handlers(
        self, handlers: tuple[Mapping[Any, Handler], Mapping[int, Handler]]
    ) -> _Handlers:
        """The recording copies of the app's handler tables, kept for the next requests."""
        by_class, by_status = handlers
        recording_by_class = {key: _recording(h) for key, h in by_class.items()}
        if ResourceInitializationError not in by_class:
            recording_by_class[ResourceInitializationError] = _recording(
                _resource_error_handler(by_class, by_status)
            )
        recording = (recording_by_class, {key: _recording(h) for key, h in by_status.items()})
        self._built = (by_class, by_status, recording)
        return recording


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
    (see :class:`RecordHandledErrors`).
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
    router = app.router
    if not isinstance(router.middleware_stack, RecordHandledErrors):
        router.middleware_stack = RecordHandledErrors(router.middleware_stack)
    app.add_middleware(InjectQMiddleware, container=container, **options)
    setattr(state, STATE_KEY, container)
