"""FastAPI integration: one ``request`` scope per HTTP request (or WebSocket connection).

::

    from injectq import InjectQ
    from injectq.integrations.fastapi import InjectAPI, setup_fastapi

    container = InjectQ()
    app = FastAPI()
    setup_fastapi(container, app)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, users: InjectAPI[UserService]) -> dict:
        return await users.get(user_id)

``setup_fastapi`` installs :class:`InjectQRequestMiddleware`, a plain ASGI middleware
that, for every request, makes the container the active one (``InjectQ.get_instance()``)
and enters ``async with container.scope("request")``. Request-scoped bindings are
therefore one per request, and every resource activated while serving the request is
disposed when the request ends, after the response was sent, also when the handler
raised. An exception the endpoint raised reaches the disposals also when one of the
app's exception handlers turned it into a response (:class:`RecordHandledErrors`), and
a resource that failed to initialize is answered by the handler registered for its
original error. With ``close_on_shutdown=True`` (the default) the app's lifespan
shutdown also runs ``await container.aclose()``, disposing the singletons.

``InjectAPI[T]`` (alias ``InjectFastAPI[T]``) works as a parameter annotation
(``svc: InjectAPI[T]``), as a default (``svc: T = InjectAPI[T]``), and called, as
``Annotated`` metadata (``svc: Annotated[T, InjectAPI(T)]``, the form type checkers
understand best). Each resolves ``await container.aget(T)`` inside the request scope.

Needs ``fastapi`` (``pip install injectq[fastapi]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias, TypeVar

try:
    from fastapi.params import Depends as _DependsParam
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.fastapi needs FastAPI: pip install 'injectq[fastapi]'"
    ) from exc

from injectq.integrations._markers import make_marker, marker_class
from injectq.utils.exceptions import (
    InjectionError,
    InjectQError,
    ResourceInitializationError,
    describe_key,
)

if TYPE_CHECKING:
    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope as RequestScope

__all__ = [
    "InjectAPI",
    "InjectFastAPI",
    "InjectQRequestMiddleware",
    "RecordHandledErrors",
    "get_request_container",
    "setup_fastapi",
]

T = TypeVar("T")

_log = logging.getLogger("injectq.integrations.fastapi")

#: key of the container in ``scope["state"]`` (so ``request.state.injectq_container``)
STATE_KEY = "injectq_container"
#: ASGI scope key: the exceptions the app's handlers turned into responses in this request
HANDLED_ERRORS_KEY = "injectq.handled_errors"
#: Starlette's scope key for the handlers its routes look exceptions up in
_HANDLERS_KEY = "starlette.exception_handlers"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Any, Exception], Any]
_Handlers = tuple[dict[Any, Handler], dict[int, Handler]]


# --------------------------------------------------------------------------- resolution
def get_request_container(connection: HTTPConnection) -> InjectQ:
    """The container serving this request (installed by :func:`setup_fastapi`)."""
    state = connection.scope.get("state")
    container = state.get(STATE_KEY) if isinstance(state, dict) else None
    if container is None:
        raise InjectionError(
            "No InjectQ container is attached to this request: call "
            "setup_fastapi(container, app) (or add InjectQRequestMiddleware) before "
            "the app starts."
        )
    return container  # type: ignore[no-any-return]


def _dependency(key: Any) -> Callable[[HTTPConnection], Awaitable[Any]]:
    """The FastAPI dependency that resolves ``key`` in the current request scope."""

    async def resolve(connection: HTTPConnection) -> Any:
        return await get_request_container(connection).aget(key)

    label = describe_key(key)
    resolve.__name__ = f"inject_{getattr(key, '__name__', 'dependency')}"
    resolve.__qualname__ = f"InjectAPI[{label}]"
    return resolve


def _depends(key: Any) -> _DependsParam:
    # use_cache=False: two parameters asking for a transient get two instances, as
    # container.aget would give them; scoped and singleton keys are cached by injectq.
    return _DependsParam(_dependency(key), use_cache=False)


_Marker = marker_class(
    _DependsParam,
    lambda depends: {f.name: getattr(depends, f.name) for f in dataclasses.fields(depends)},
    _DependsParam,
)


def _marker(key: Any) -> Any:
    return make_marker(_Marker, key, _depends(key))


if TYPE_CHECKING:
    # What type checkers see: the annotation form, so ``svc: InjectAPI[UserService]`` is
    # a ``UserService`` in the handler's body. (One name cannot also be typed as a value
    # returning ``UserService``: the default and call forms are not typed.)
    InjectAPI: TypeAlias = Annotated[T, _DependsParam]
    InjectFastAPI: TypeAlias = Annotated[T, _DependsParam]
else:

    class InjectAPI(Generic[T]):
        """Inject ``T`` from the request's container into a FastAPI route or dependency.

        - ``svc: InjectAPI[UserService]``: as the parameter's annotation (typed);
        - ``svc: UserService = InjectAPI[UserService]``: as its default (InjectQ style);
        - ``svc: Annotated[UserService, InjectAPI(UserService)]``: as ``Annotated`` metadata.

        The value is ``await container.aget(UserService)`` in the request's scope: resources
        come back initialized, request-scoped bindings are shared within the request.
        """

        __slots__ = ()

        def __new__(cls, service_type: Any) -> Any:
            return _depends(service_type)

        def __class_getitem__(cls, service_type: Any) -> Any:
            if isinstance(service_type, TypeVar):
                return super().__class_getitem__(service_type)
            return _marker(service_type)

    InjectFastAPI = InjectAPI


# --------------------------------------------------------------------------- middleware
class InjectQRequestMiddleware:
    """ASGI middleware: a fresh ``container.scope(scope_name)`` around every HTTP request
    and WebSocket connection, with the container active; optionally closes the container
    at lifespan shutdown.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): the app runs in the same task
    and context, so the scope is visible to dependencies, handlers, background tasks and
    streaming responses, and is left only once the response is complete (background
    tasks included). With ``close_before_response=True`` an HTTP request's scope is left
    before the end of its response is sent instead (see :class:`_CloseBeforeResponse`).
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
        self.app = app
        self.container = container
        self.scope_name = scope_name
        self.close_on_shutdown = close_on_shutdown
        self.close_before_response = close_before_response
        container.scope(scope_name)  # validate the name now, not on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state[STATE_KEY] = self.container
            # the app's exception handlers (wrapped by setup_fastapi) record here what
            # they turn into a response, so the scope's disposals still see it
            handled: list[BaseException] = []
            scope[HANDLED_ERRORS_KEY] = handled
            with self.container.context():
                request_scope = self.container.scope(self.scope_name)
                await request_scope.__aenter__()
                closing = None
                if self.close_before_response and kind == "http":
                    closing = _CloseBeforeResponse(request_scope, handled, send)
                    send = closing.send
                error: BaseException | None = None
                try:
                    await self.app(scope, receive, send)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    if closing is None or not closing.closed:
                        await _exit_shielded(request_scope, _request_error(error, handled))
                if closing is not None and closing.failure is not None:
                    # the client was told (a 500, or a response cut short); the server
                    # is told too, as of any disposal failure
                    raise closing.failure
        elif kind == "lifespan":
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

    __slots__ = ("closed", "failure", "handled", "held", "scope", "send_on")

    def __init__(self, scope: RequestScope, handled: list[BaseException], send: Send) -> None:
        self.scope = scope
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
                await _exit_shielded(self.scope, _request_error(None, self.handled))
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


def _request_error(
    propagating: BaseException | None, handled: list[BaseException]
) -> BaseException | None:
    """What the request scope exits with: the exception leaving the app, else the first
    one a handler answered (the endpoint's; a later one came from its handling)."""
    if propagating is None and handled:
        return handled[0]
    return propagating


async def _exit_shielded(scope: RequestScope, error: BaseException | None) -> None:
    """Leave ``scope``, disposing what it owns. The scope's exit is itself
    cancellation-safe (DESIGN §3.5): cancelling the request's task, as servers do when a
    client goes away, still lets every disposal run to its end before it is re-raised."""
    await scope.__aexit__(
        type(error) if error is not None else None,
        error,
        error.__traceback__ if error is not None else None,
    )


# --------------------------------------------------------------------------- handled errors
class RecordHandledErrors:
    """Wraps the app's router so that the exceptions its exception handlers turn into
    responses still reach the request scope's disposals, and so that the handler
    registered for the cause of a :class:`ResourceInitializationError` handles it.

    Starlette handles an endpoint's exception inside the route, with the handlers it
    finds in ``scope["starlette.exception_handlers"]`` (put there by its
    ``ExceptionMiddleware``): the exception never propagates to
    :class:`InjectQRequestMiddleware`. Installed by :func:`setup_fastapi` around
    ``app.router``, inside ``ExceptionMiddleware``, this layer gives the routes the same
    handlers, each first recording the exception in ``scope["injectq.handled_errors"]``
    (which the request middleware passes to the scope's exit), plus, unless the app
    registered one itself, a handler for ``ResourceInitializationError`` that hands the
    error's cause to the handler registered for that cause (see
    :func:`_resource_error_handler`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # the handler tables are the same objects for every request of one app:
        # build their recording copies once
        self._built: tuple[Any, Any, _Handlers] | None = None  # (by_class, by_status, copies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handlers = scope.get(_HANDLERS_KEY)
        if handlers is not None and HANDLED_ERRORS_KEY in scope:
            scope[_HANDLERS_KEY] = self._recording_handlers(handlers)
        await self.app(scope, receive, send)

    def _recording_handlers(
        self, handlers: tuple[Mapping[Any, Handler], Mapping[int, Handler]]
    ) -> _Handlers:
        by_class, by_status = handlers
        built = self._built
        if built is not None and built[0] is by_class and built[1] is by_status:
            return built[2]
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
    original error (``@app.exception_handler(DatabaseDown)``) means it for this case
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


def setup_fastapi(
    container: InjectQ,
    app: Any,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
    close_before_response: bool = False,
) -> None:
    """Serve ``app`` from ``container``: a ``scope_name`` scope per request (resources
    activated in it are disposed when the request ends), the container active during
    requests and lifespan, and ``await container.aclose()`` at shutdown unless
    ``close_on_shutdown=False``. Call it before the app starts serving.

    The request scope closes once the response was sent and background tasks ran;
    ``close_before_response=True`` closes it before the end of the response goes out
    instead (a unit of work committed before the client sees the response; a failed
    disposal answered with a 500), at the price of background tasks running after it.
    Exceptions the app's exception handlers answer still reach the disposals, and a
    ``ResourceInitializationError`` goes to the handler registered for its cause
    (see :class:`RecordHandledErrors`)."""
    state = app.state
    existing = getattr(state, STATE_KEY, None)
    if existing is not None:
        if existing is container:
            return
        raise InjectQError("setup_fastapi: this app is already served by another container")
    container.scope(scope_name)  # an invalid name fails here, not at the first request
    router = app.router
    router.middleware_stack = RecordHandledErrors(router.middleware_stack)
    app.add_middleware(
        InjectQRequestMiddleware,
        container=container,
        scope_name=scope_name,
        close_on_shutdown=close_on_shutdown,
        close_before_response=close_before_response,
    )
    setattr(state, STATE_KEY, container)
