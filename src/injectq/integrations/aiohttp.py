"""aiohttp integration: a ``request`` scope per request (WebSocket connections included).

::

    from aiohttp import web
    from injectq import Inject, InjectQ, inject
    from injectq.integrations.aiohttp import setup_aiohttp

    container = InjectQ()
    app = web.Application()
    setup_aiohttp(container, app)

    @inject
    async def list_users(request: web.Request, users: UserService = Inject[UserService]):
        return web.json_response(await users.names())

    app.router.add_get("/users", list_users)

``setup_aiohttp`` puts a middleware first in ``app.middlewares`` that opens
``container.scope("request")`` in the task handling each request, with the container
active (bare ``@inject`` and ``InjectQ.get_instance()`` find it), and leaves it when the
handler returns (for a WebSocket handler, when the connection ends): request-scoped
resources are one per request, disposed in reverse order. The exception the handler
raised (``web.HTTPException`` included) reaches the disposals; a handler that aiohttp
cancels because its client went away (``handler_cancellation=True``) gets its
resources disposed all the same. A cleanup context closes the container when the app
shuts down.

Needs ``aiohttp`` (``pip install injectq[aiohttp]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.aiohttp needs aiohttp: pip install 'injectq[aiohttp]'"
    ) from exc

from injectq.core.container import InjectQ
from injectq.integrations._base import RequestScopes, claim, no_container

if TYPE_CHECKING:
    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["CONTAINER_KEY", "get_container", "setup_aiohttp"]

#: the app key holding the container (``request.app[CONTAINER_KEY]``)
CONTAINER_KEY = web.AppKey("injectq_container", InjectQ)


def get_container(request: web.Request) -> InjectQ:
    """The container serving ``request``'s app (installed by :func:`setup_aiohttp`)."""
    container = request.app.get(CONTAINER_KEY)
    if container is None:
        raise no_container("call setup_aiohttp(container, app)")
    return container


#: nothing is recorded as handled: errors the app answers come back through the
#: middleware as exceptions (aiohttp's HTTP exceptions too)
_NOTHING_HANDLED: tuple[BaseException, ...] = ()


def _request_scope_middleware(scopes: RequestScopes) -> Any:
    @web.middleware
    async def injectq_request_scope(request: web.Request, handler: Handler) -> Any:
        return await scopes.run(_NOTHING_HANDLED, handler, request)

    return injectq_request_scope


def setup_aiohttp(
    container: InjectQ,
    app: web.Application,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
) -> None:
    """Serve ``app`` from ``container``: a ``scope_name`` scope per request (resources
    activated in it are disposed when the handler returns or raises), the container
    active in handlers, and ``await container.aclose()`` when the app shuts down unless
    ``close_on_shutdown=False``. Call it before the app starts."""
    if claim(app.get(CONTAINER_KEY), container, "setup_aiohttp: this app"):
        return
    scopes = RequestScopes(container, scope_name)  # an invalid name fails here
    # first: the app's own middlewares run inside the scope and may use the container
    app.middlewares.insert(0, _request_scope_middleware(scopes))
    if close_on_shutdown:

        async def close_container(app: web.Application) -> AsyncIterator[None]:
            yield
            await container.aclose()

        app.cleanup_ctx.append(close_container)
    app[CONTAINER_KEY] = container
