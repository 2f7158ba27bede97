"""Litestar integration: :class:`InjectQPlugin`, a ``request`` scope per HTTP request
and WebSocket connection, and handler parameters provided by type.

::

    from litestar import Litestar, get
    from litestar.di import NamedDependency
    from injectq import InjectQ
    from injectq.integrations.litestar import InjectQPlugin

    container = InjectQ()
    container.bind(UserService, UserService, scope="request")

    @get("/users")
    async def list_users(users: NamedDependency[UserService]) -> list[str]:  # by type
        return await users.names()

    app = Litestar([list_users], plugins=[InjectQPlugin(container)])

The plugin adds an ASGI middleware to every route that opens
``container.scope("request")`` in the task serving the request, with the container
active, and leaves it when the route's response was sent. The exception a handler
raised reaches the disposals, also when Litestar answered it (recorded by an
``after_exception`` hook), and a request the server cancels (the client went away) is
disposed all the same. At shutdown the container is closed.

Handler parameters are provided from the container, as Litestar dependencies resolved
with ``await container.aget(T)`` in the request's scope, when

- the parameter's annotation is a type the container has a binding for
  (``users: NamedDependency[UserService]``, Litestar's marker for a dependency since
  2.23; a bare ``users: UserService`` works too, with Litestar's deprecation warning), or
- the handler is wrapped by ``@inject`` and the parameter's default is ``Inject[T]``
  (``users: UserService = Inject[UserService]``): such parameters are hidden from
  Litestar, and ``@inject`` resolves them itself.

Route handlers of the app, of its ``Router`` objects and of ``Controller`` classes are
prepared when the app is built; a handler registered later (``app.register``) is not.

Needs ``litestar`` (``pip install injectq[litestar]``); importing :mod:`injectq` does
not import this module.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

try:
    from litestar.controller import Controller
    from litestar.di import Provide
    from litestar.handlers.base import BaseRouteHandler
    from litestar.plugins import InitPluginProtocol
    from litestar.router import Router
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.litestar needs Litestar: pip install 'injectq[litestar]'"
    ) from exc

from injectq.core.container import InjectQ
from injectq.core.markers import EMPTY, inject_key_of
from injectq.integrations._asgi import (
    HANDLED_ERRORS_KEY,
    STATE_KEY,
    ASGIApp,
    InjectQASGIMiddleware,
)
from injectq.integrations._base import RequestScopes
from injectq.utils.exceptions import describe_key

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

__all__ = ["STATE_KEY", "InjectQPlugin"]


class InjectQPlugin(InitPluginProtocol):
    """Serve a Litestar app from ``container``: ``Litestar(..., plugins=[InjectQPlugin(c)])``.

    A ``scope_name`` scope per HTTP request and WebSocket connection, the container
    active in handlers and dependencies, handler parameters provided by type, and
    ``await container.aclose()`` at shutdown unless ``close_on_shutdown=False``."""

    __slots__ = ("close_on_shutdown", "container", "scope_name")

    def __init__(
        self, container: InjectQ, *, scope_name: str = "request", close_on_shutdown: bool = True
    ) -> None:
        RequestScopes(container, scope_name)  # an invalid name fails here
        self.container = container
        self.scope_name = scope_name
        self.close_on_shutdown = close_on_shutdown

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the request-scope middleware (first) and the shutdown hook, and provide
        the handlers' parameters from the container."""
        app_config.middleware.insert(0, self._middleware)  # type: ignore[arg-type]
        # Litestar answers a handler's exception inside each route, before it could
        # reach the middleware: its after_exception hook records it for the disposals
        app_config.after_exception.append(_record_handled)
        if self.close_on_shutdown:
            app_config.on_shutdown.append(self._close)
        app_config.state[STATE_KEY] = self.container
        for handler in _route_handlers(app_config.route_handlers):
            self._provide_parameters(handler)
        return app_config

    def _middleware(self, app: ASGIApp) -> ASGIApp:
        return InjectQASGIMiddleware(app, self.container, scope_name=self.scope_name)

    async def _close(self) -> None:
        await self.container.aclose()

    def _provide_parameters(self, handler: BaseRouteHandler) -> None:
        fn = handler.fn
        signature = inspect.signature(fn)
        if getattr(fn, "_injectq_wrapped", None) is not None:
            # @inject resolves Inject[T] parameters itself: Litestar must not see them
            # (it would read the marker as a default value, and resolve it too early)
            kept = [p for p in signature.parameters.values() if inject_key_of(p.default) is EMPTY]
            if len(kept) != len(signature.parameters):
                signature = signature.replace(parameters=kept)
                fn.__signature__ = signature  # type: ignore[attr-defined]
        try:
            hints = typing.get_type_hints(inspect.unwrap(fn), include_extras=False)
        except Exception:
            return  # names Litestar resolves with its own namespace: not ours to provide
        provided = dict(handler.dependencies or {})
        for name in signature.parameters:
            key = hints.get(name)
            if name in provided or not isinstance(key, type) or not self.container.has(key):
                continue
            # use_cache=False: Litestar caches a dependency for the app's lifetime; the
            # request scope already gives one instance per request
            provided[name] = Provide(_provider(key), use_cache=False)
        if provided:
            handler.dependencies = provided


async def _record_handled(exc: Exception, scope: Any) -> None:
    handled = scope.get(HANDLED_ERRORS_KEY)
    if handled is not None:
        handled.append(exc)


def _provider(key: Any) -> Any:
    # the request's container, made active by the middleware: a handler shared by two
    # apps (module-level handlers in tests) is served by each app's own container
    get_instance = InjectQ.get_instance

    async def provide() -> Any:
        return await get_instance().aget(key)

    provide.__qualname__ = f"injectq[{describe_key(key)}]"
    return provide


def _route_handlers(values: Any) -> Iterator[BaseRouteHandler]:
    """The route handlers among ``values`` (an app's ``route_handlers``), also those of
    its routers and controller classes."""
    for value in values:
        if isinstance(value, BaseRouteHandler):
            yield value
        elif isinstance(value, Router):
            for handlers in value.route_handler_method_map.values():
                yield from {id(h): h for h in handlers.values()}.values()
        elif isinstance(value, type) and issubclass(value, Controller):
            for attribute in vars(value).values():
                if isinstance(attribute, BaseRouteHandler):
                    yield attribute
