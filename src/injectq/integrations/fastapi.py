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

``setup_fastapi`` does what :func:`~injectq.integrations.starlette.setup_starlette`
does (FastAPI is Starlette): it installs :class:`InjectQRequestMiddleware`, a plain ASGI middleware
that, for every request, makes the container the active one (``InjectQ.get_instance()``)
and enters ``async with container.scope("request")``. Request-scoped bindings are
therefore one per request, and every resource activated while serving the request is
disposed when the request ends, after the response was sent, also when the handler
raised. An exception the endpoint raised reaches the disposals also when one of the
app's exception handlers turned it into a response (:func:`record_handled_errors`), and
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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

try:
    from fastapi.params import Depends as _DependsParam
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.fastapi needs FastAPI: pip install 'injectq[fastapi]'"
    ) from exc

from injectq.integrations._base import no_container
from injectq.integrations._markers import DependencyMarker, marker_class
from injectq.integrations.starlette import (
    HANDLED_ERRORS_KEY,
    STATE_KEY,
    RecordHandledErrors,
    install,
    record_handled_errors,
)
from injectq.integrations.starlette import InjectQMiddleware as InjectQRequestMiddleware
from injectq.utils.exceptions import describe_key

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = [
    "HANDLED_ERRORS_KEY",
    "STATE_KEY",
    "InjectAPI",
    "InjectFastAPI",
    "InjectQRequestMiddleware",
    "RecordHandledErrors",
    "get_request_container",
    "record_handled_errors",
    "setup_fastapi",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- resolution
def get_request_container(connection: HTTPConnection) -> InjectQ:
    """The container serving this request (installed by :func:`setup_fastapi`)."""
    state = connection.scope.get("state")
    container = state.get(STATE_KEY) if isinstance(state, dict) else None
    if container is None:
        raise no_container("call setup_fastapi(container, app) (or add InjectQRequestMiddleware)")
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


if TYPE_CHECKING:
    # What type checkers see: the annotation form, so ``svc: InjectAPI[UserService]`` is
    # a ``UserService`` in the handler's body. (One name cannot also be typed as a value
    # returning ``UserService``: the default and call forms are not typed.)
    InjectAPI: TypeAlias = Annotated[T, _DependsParam]
    InjectFastAPI: TypeAlias = Annotated[T, _DependsParam]
else:

    class InjectAPI(DependencyMarker[T]):
        """Inject ``T`` from the request's container into a FastAPI route or dependency.

        - ``svc: InjectAPI[UserService]``: as the parameter's annotation (typed);
        - ``svc: UserService = InjectAPI[UserService]``: as its default (InjectQ style);
        - ``svc: Annotated[UserService, InjectAPI(UserService)]``: as ``Annotated`` metadata.

        The value is ``await container.aget(UserService)`` in the request's scope: resources
        come back initialized, request-scoped bindings are shared within the request.
        """

        __slots__ = ()
        depends = staticmethod(_depends)
        marker = _Marker

    InjectFastAPI = InjectAPI


def setup_fastapi(
    container: InjectQ,
    app: Any,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
    close_before_response: bool = False,
) -> None:
    """Serve the FastAPI ``app`` from ``container``: what
    :func:`injectq.integrations.starlette.setup_starlette` does for a Starlette app (a
    ``scope_name`` scope per request and WebSocket connection, closed after the
    response unless ``close_before_response=True``; handled exceptions reach the
    disposals; ``await container.aclose()`` at shutdown unless
    ``close_on_shutdown=False``), with the same options. Call it before the app starts
    serving."""
    install(
        container,
        app,
        "setup_fastapi",
        scope_name=scope_name,
        close_on_shutdown=close_on_shutdown,
        close_before_response=close_before_response,
    )
