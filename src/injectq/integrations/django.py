"""Django integration: a ``request`` scope per request, sync and async.

::

    # settings.py
    MIDDLEWARE = [
        "injectq.integrations.django.InjectQMiddleware",  # first: it spans the others
        ...
    ]
    INJECTQ_CONTAINER = "myproject.services:container"

    # views.py
    from injectq import Inject, inject

    @inject
    def list_users(request, users: UserService = Inject[UserService]):
        return JsonResponse({"names": users.names()})

:class:`InjectQMiddleware` finds the container named by the ``INJECTQ_CONTAINER``
setting (``"package.module:attribute"``) and opens ``container.scope("request")``
around each request, with the container active (bare ``@inject`` and
``InjectQ.get_instance()`` find it). It is sync and async capable: under WSGI the scope
is a sync one, under ASGI an async one entered and left in the request's task (a sync
view, run in a thread, still sees it). Request-scoped resources are one per request,
disposed in reverse order when the response leaves the middleware; the exception a
view raised reaches the disposals (a generator factory sees it at its ``yield``), also
though Django turns it into a response. Django has no shutdown hook: the container is
closed when the process exits.

Resources are disposed before a ``StreamingHttpResponse`` is iterated: its iterator
must not use request-scoped resources.

Needs ``django`` (``pip install injectq[django]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

try:
    from asgiref.sync import markcoroutinefunction
    from django.conf import settings  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.django needs Django: pip install 'injectq[django]'"
    ) from exc

from injectq.integrations._base import (
    RequestScopes,
    close_at_exit,
    load_container,
    request_error,
)
from injectq.utils.exceptions import InjectQError

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["SETTING", "InjectQMiddleware", "get_container"]

#: the setting naming the container, as ``"package.module:attribute"``
SETTING = "INJECTQ_CONTAINER"
#: attribute of the request: the exceptions Django turned into responses in it
_HANDLED_ATTRIBUTE = "_injectq_handled_errors"


def get_container() -> InjectQ:
    """The container named by ``settings.INJECTQ_CONTAINER``."""
    path = getattr(settings, SETTING, None)
    if not isinstance(path, str):
        raise InjectQError(
            f"settings.{SETTING} is not set: name the container there, as "
            f'{SETTING} = "package.module:container"'
        )
    return load_container(path, f"settings.{SETTING}")


class InjectQMiddleware:
    """A ``container.scope("request")`` around every request (sync under WSGI, async
    under ASGI), with the container active; the container is closed at process exit.

    The container comes from ``settings.INJECTQ_CONTAINER``; a subclass may set
    ``scope_name`` to use another scope."""

    sync_capable = True
    async_capable = True
    scope_name = "request"

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        container = get_container()
        self.container = container
        self._scopes = RequestScopes(container, self.scope_name)
        close_at_exit(container)
        self._async = inspect.iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        """Handle ``request`` in the request scope: its disposals run when the response is
        ready, with the exception the view raised, if any."""
        if self._async:
            return self._acall(request)
        handled: list[BaseException] = []
        setattr(request, _HANDLED_ATTRIBUTE, handled)
        opened = self._scopes.enter()
        error: BaseException | None = None
        try:
            return self.get_response(request)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._scopes.exit(opened, request_error(error, handled))

    async def _acall(self, request: Any) -> Any:
        handled: list[BaseException] = []
        setattr(request, _HANDLED_ATTRIBUTE, handled)
        return await self._scopes.run(handled, self.get_response, request)

    def process_exception(self, request: Any, exception: Exception) -> None:
        """Record the view's exception (Django turns it into a response, so it never
        leaves ``get_response``) for the disposals; Django goes on handling it."""
        handled = getattr(request, _HANDLED_ATTRIBUTE, None)
        if handled is not None:
            handled.append(exception)
