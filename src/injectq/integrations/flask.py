"""Flask integration: a sync ``request`` scope per request, closed at teardown.

::

    from flask import Flask
    from injectq import Inject, InjectQ, inject
    from injectq.integrations.flask import setup_flask

    container = InjectQ()
    app = Flask(__name__)
    setup_flask(container, app)

    @app.get("/users")
    @inject
    def list_users(users: UserService = Inject[UserService]) -> list[str]:
        return users.names()

``setup_flask`` opens ``container.scope("request")`` before any other
``before_request`` function, with the container active (bare ``@inject`` and
``InjectQ.get_instance()`` find it), and leaves it in ``teardown_request``, when Flask
pops the request context: after the response was built, or for a streamed response
once it was sent (or the client went away). Request-scoped resources are one per
request, disposed in reverse order; the exception that ended the request reaches the
disposals (a generator factory sees it at its ``yield``), also when one of the app's
error handlers answered it. Flask has no shutdown hook: the container is closed when
the process exits (``close_at_exit=False`` leaves that to you).

Needs ``flask`` (``pip install injectq[flask]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

try:
    from flask import current_app, request
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.flask needs Flask: pip install 'injectq[flask]'"
    ) from exc

from injectq.integrations import _base
from injectq.integrations._base import RequestScopes, claim, no_container, request_error

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["EXTENSION_KEY", "get_container", "setup_flask"]

#: key of the container in ``app.extensions``
EXTENSION_KEY = "injectq"
#: WSGI environ keys: the request's open scope, and the exceptions error handlers answered
_OPEN_KEY = "injectq.scope"
_HANDLED_KEY = "injectq.handled_errors"


def get_container() -> InjectQ:
    """The container serving the current Flask app (installed by :func:`setup_flask`)."""
    container = current_app.extensions.get(EXTENSION_KEY)
    if container is None:
        raise no_container("call setup_flask(container, app)")
    return container  # type: ignore[no-any-return]


def setup_flask(
    container: InjectQ,
    app: Any,
    *,
    scope_name: str = "request",
    close_at_exit: bool = True,
) -> None:
    """Serve the Flask ``app`` from ``container``: a ``scope_name`` scope per request
    (resources activated in it are disposed at the request's teardown), the container
    active while the request is handled, and ``container.close()`` at process exit
    unless ``close_at_exit=False``. Call it before the app serves requests."""
    if claim(app.extensions.get(EXTENSION_KEY), container, "setup_flask: this app"):
        return
    scopes = RequestScopes(container, scope_name)  # an invalid name fails here

    def open_request_scope() -> None:
        environ = request.environ
        environ[_HANDLED_KEY] = []
        environ[_OPEN_KEY] = scopes.enter()

    def close_request_scope(error: BaseException | None) -> None:
        environ = request.environ
        opened = environ.pop(_OPEN_KEY, None)
        if opened is not None:  # None: a request that failed before the scope opened
            scopes.exit(opened, request_error(error, environ.get(_HANDLED_KEY, [])))

    # first: the app's own before_request functions may already use the container
    app.before_request_funcs.setdefault(None, []).insert(0, open_request_scope)
    app.teardown_request(close_request_scope)
    app.handle_user_exception = _recording_handled(app.handle_user_exception)
    app.extensions[EXTENSION_KEY] = container
    if close_at_exit:
        _base.close_at_exit(container)


def _recording_handled(handle_user_exception: Any) -> Any:
    """Flask's ``handle_user_exception``, recording the exceptions the app's error
    handlers answer: Flask tells ``teardown_request`` only of unhandled ones, and the
    request scope's disposals must see the others too (to roll back, say)."""

    @functools.wraps(handle_user_exception)
    def handle_and_record(error: Exception) -> Any:
        answer = handle_user_exception(error)  # raises again when no handler answers
        handled = request.environ.get(_HANDLED_KEY)
        if handled is not None:
            handled.append(error)
        return answer

    return handle_and_record
