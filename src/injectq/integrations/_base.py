"""What every framework integration shares.

Each integration answers the same four questions in its framework's terms; the answers
live here once:

- *finding the container*: :func:`claim` (an app or broker is served by one container),
  :func:`load_container` (a ``"pkg.module:container"`` setting), :func:`no_container`
  (the error that says which setup call is missing);
- *opening and closing the per-request scope*: :class:`RequestScopes`, entered and left
  in the same task (or thread), with the container active in between;
- *passing the request's exception to the disposals*: :func:`request_error` and the
  ``error`` argument of :meth:`RequestScopes.aexit` / :meth:`RequestScopes.exit`, so a
  generator factory sees the exception at its ``yield``;
- *closing the container at shutdown*: :func:`close_at_exit` for servers without a
  shutdown hook (WSGI, Django), the framework's own hook elsewhere.

The scope's exit is itself cancellation-safe (DESIGN §3.5): async disposals run in the
task that leaves the scope, and under anyio the core shields the teardown. Integrations
therefore add no shielding of their own.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from injectq.core.context import active_container as _active_container
from injectq.utils.exceptions import InjectionError, InjectQError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextvars import Token

    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope

__all__ = [
    "OpenScope",
    "RequestScopes",
    "claim",
    "close_at_exit",
    "load_container",
    "no_container",
    "request_error",
]

_log = logging.getLogger("injectq.integrations")


@dataclass(slots=True)
class OpenScope:
    """A request scope that :class:`RequestScopes` entered: the scope, and the token
    that makes the container active until the scope is left."""

    scope: Scope
    active_token: Token[InjectQ | None]


class RequestScopes:
    """Opens and closes one ``container.scope(scope_name)`` per request.

    ``aenter``/``aexit`` (async servers) and ``enter``/``exit`` (threaded ones) make the
    container the active one (``InjectQ.get_instance()``, bare ``@inject``) for as long
    as the scope is open. Both halves must run in the same task or thread: the active
    container and the current scope are context variables set by the first half and
    reset by the second.
    """

    __slots__ = ("container", "scope_name")

    def __init__(self, container: InjectQ, scope_name: str = "request") -> None:
        container.scope(scope_name)  # an invalid name fails at setup, not at a request
        self.container = container
        self.scope_name = scope_name

    async def aenter(self) -> OpenScope:
        """Enter a new request scope with the container active."""
        container = self.container
        # what container.context() does, without a generator-based context manager per request
        token = _active_container.set(container)
        scope = container.scope(self.scope_name)
        try:
            await scope.__aenter__()
        except BaseException:
            _active_container.reset(token)
            raise
        return OpenScope(scope, token)

    async def run(
        self, handled: Sequence[BaseException], call: Callable[..., Awaitable[Any]], *args: Any
    ) -> Any:
        """``await call(*args)`` in a new request scope with the container active: what
        :meth:`aenter` and :meth:`aexit` do around a request that runs in one call, in one
        coroutine (this is every request's path). The scope exits with the request's
        error (:func:`request_error`): the exception leaving ``call`` (a cancellation when
        the client went away, too), else the first one in ``handled``."""
        container = self.container
        token = _active_container.set(container)
        try:
            scope = container.scope(self.scope_name)
            await scope.__aenter__()
            try:
                result = await call(*args)
            except BaseException as exc:
                await scope.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            await scope.__aexit__(*_exc_info(request_error(None, handled)))
            return result
        finally:
            _active_container.reset(token)

    async def aexit(self, opened: OpenScope, error: BaseException | None) -> None:
        """Leave the scope, disposing what it owns in reverse order; ``error`` is what the
        request failed with (it reaches the disposals). A disposal failure is raised."""
        try:
            await opened.scope.__aexit__(*_exc_info(error))
        finally:
            _active_container.reset(opened.active_token)

    @staticmethod
    async def aleave(opened: OpenScope, error: BaseException | None) -> None:
        """The scope half of :meth:`aexit`, for a scope left before the request ends
        (possibly from another task of it); :meth:`deactivate` then follows in the task
        that entered it."""
        await opened.scope.__aexit__(*_exc_info(error))

    @staticmethod
    def deactivate(opened: OpenScope) -> None:
        """The other half: the container stops being the active one."""
        _active_container.reset(opened.active_token)

    def enter(self) -> OpenScope:
        """Sync :meth:`aenter`, for threaded servers (WSGI, sync Django)."""
        container = self.container
        token = _active_container.set(container)
        scope = container.scope(self.scope_name)
        try:
            scope.__enter__()
        except BaseException:
            _active_container.reset(token)
            raise
        return OpenScope(scope, token)

    def exit(self, opened: OpenScope, error: BaseException | None) -> None:
        """Sync :meth:`aexit`."""
        try:
            opened.scope.__exit__(*_exc_info(error))
        finally:
            _active_container.reset(opened.active_token)


def _exc_info(error: BaseException | None) -> tuple[Any, Any, Any]:
    if error is None:
        return None, None, None
    return type(error), error, error.__traceback__


def request_error(
    propagating: BaseException | None, handled: Sequence[BaseException]
) -> BaseException | None:
    """What a request scope exits with: the exception leaving the app, else the first
    one the framework's handlers answered (the handler's; a later one came from its
    handling)."""
    if propagating is None and handled:
        return handled[0]
    return propagating


def claim(existing: Any, container: InjectQ, what: str) -> bool:
    """Whether ``what`` (an app, a broker) is already served by ``container``
    (``existing`` is the container found on it, or None). Raises when another
    container serves it: one app, one container."""
    if existing is None:
        return False
    if existing is container:
        return True
    raise InjectQError(f"{what} is already served by another container")


def no_container(setup: str) -> InjectionError:
    """The error for a request that no container serves, naming the missing call."""
    return InjectionError(f"No InjectQ container serves this request: {setup} before it starts.")


def load_container(path: str, setting: str) -> InjectQ:
    """The container named by ``"pkg.module:attribute"`` (``setting`` names where the
    path came from, for the error message)."""
    from injectq.core.container import InjectQ

    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise InjectQError(
            f"{setting} = {path!r}: expected 'package.module:attribute', the module and "
            "the name of the InjectQ container in it"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InjectQError(f"{setting} = {path!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise InjectQError(
                f"{setting} = {path!r}: {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not isinstance(target, InjectQ):
        raise InjectQError(
            f"{setting} = {path!r} is a {type(target).__name__}, not an InjectQ container"
        )
    return target


#: containers closed at interpreter exit, once each (weakly held: a container dropped
#: earlier has nothing left to close)
_close_at_exit: weakref.WeakSet[InjectQ] = weakref.WeakSet()
_registered = False


def close_at_exit(container: InjectQ) -> None:
    """Close ``container`` when the interpreter exits (for servers with no shutdown
    hook of their own: WSGI, Django). Registering it twice closes it once."""
    global _registered
    if not _registered:
        atexit.register(_close_registered)
        _registered = True
    _close_at_exit.add(container)


def _close_registered() -> None:
    for container in list(_close_at_exit):
        _close_at_exit.discard(container)
        try:
            container.close()
        except Exception as exc:  # at exit there is no caller left to raise to: log it
            _log.error("closing the InjectQ container at exit failed", exc_info=exc)
