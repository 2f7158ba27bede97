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
raised. With ``close_on_shutdown=True`` (the default) the app's lifespan shutdown also
runs ``await container.aclose()``, disposing the singletons.

``InjectAPI[T]`` (alias ``InjectFastAPI[T]``) works as a parameter annotation
(``svc: InjectAPI[T]``), as a default (``svc: T = InjectAPI[T]``), and called, as
``Annotated`` metadata (``svc: Annotated[T, InjectAPI(T)]``, the form type checkers
understand best). Each resolves ``await container.aget(T)`` inside the request scope.

Needs ``fastapi`` (``pip install injectq[fastapi]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

try:
    from fastapi.params import Depends as _DependsParam
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.fastapi needs FastAPI: pip install 'injectq[fastapi]'"
    ) from exc

from injectq.integrations._markers import make_marker, marker_class
from injectq.utils.exceptions import InjectionError, InjectQError, describe_key

if TYPE_CHECKING:
    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope as RequestScope

__all__ = [
    "InjectAPI",
    "InjectFastAPI",
    "InjectQRequestMiddleware",
    "get_request_container",
    "setup_fastapi",
]

T = TypeVar("T")

_log = logging.getLogger("injectq.integrations.fastapi")

#: key of the container in ``scope["state"]`` (so ``request.state.injectq_container``)
STATE_KEY = "injectq_container"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


class InjectAPI(Generic[T]):
    """Inject ``T`` from the request's container into a FastAPI route or dependency.

    - ``svc: InjectAPI[UserService]``: as the parameter's annotation;
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
            return super().__class_getitem__(service_type)  # type: ignore[misc]
        return _marker(service_type)


InjectFastAPI = InjectAPI


# --------------------------------------------------------------------------- middleware
class InjectQRequestMiddleware:
    """ASGI middleware: a fresh ``container.scope(scope_name)`` around every HTTP request
    and WebSocket connection, with the container active; optionally closes the container
    at lifespan shutdown.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): the app runs in the same task
    and context, so the scope is visible to dependencies, handlers, background tasks and
    streaming responses, and is left only once the response is complete.
    """

    def __init__(
        self,
        app: ASGIApp,
        container: InjectQ,
        *,
        scope_name: str = "request",
        close_on_shutdown: bool = False,
    ) -> None:
        self.app = app
        self.container = container
        self.scope_name = scope_name
        self.close_on_shutdown = close_on_shutdown
        container.scope(scope_name)  # validate the name now, not on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state[STATE_KEY] = self.container
            with self.container.context():
                request_scope = self.container.scope(self.scope_name)
                await request_scope.__aenter__()
                error: BaseException | None = None
                try:
                    await self.app(scope, receive, send)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    await _exit_shielded(request_scope, error)
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


async def _exit_shielded(scope: RequestScope, error: BaseException | None) -> None:
    """Leave ``scope``, disposing what it owns. The scope's exit is itself
    cancellation-safe (DESIGN §3.5): cancelling the request's task, as servers do when a
    client goes away, still lets every disposal run to its end before it is re-raised."""
    await scope.__aexit__(
        type(error) if error is not None else None,
        error,
        error.__traceback__ if error is not None else None,
    )


def setup_fastapi(
    container: InjectQ,
    app: Any,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
) -> None:
    """Serve ``app`` from ``container``: a ``scope_name`` scope per request (resources
    activated in it are disposed when the request ends), the container active during
    requests and lifespan, and ``await container.aclose()`` at shutdown unless
    ``close_on_shutdown=False``. Call it before the app starts serving."""
    state = app.state
    existing = getattr(state, STATE_KEY, None)
    if existing is not None:
        if existing is container:
            return
        raise InjectQError("setup_fastapi: this app is already served by another container")
    container.scope(scope_name)  # an invalid name fails here, not at the first request
    app.add_middleware(
        InjectQRequestMiddleware,
        container=container,
        scope_name=scope_name,
        close_on_shutdown=close_on_shutdown,
    )
    setattr(state, STATE_KEY, container)
