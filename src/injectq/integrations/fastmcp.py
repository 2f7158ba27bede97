"""FastMCP integration: every tool call, resource read and prompt runs in its own
``request`` scope.

::

    from fastmcp import FastMCP
    from injectq import InjectQ
    from injectq.integrations.fastmcp import InjectMCP, setup_mcp

    container = InjectQ()
    mcp = FastMCP("Users")
    setup_mcp(container, mcp)

    @mcp.tool
    async def get_user(user_id: int, users: UserService = InjectMCP(UserService)) -> dict:
        return await users.get(user_id)

``setup_mcp`` attaches the container to the server and adds
:class:`InjectQMCPMiddleware`, which, around each ``tools/call``, ``resources/read`` and
``prompts/get``, makes the container the active one (``InjectQ.get_instance()``) and
enters ``container.scope("request")``; the handler, its dependencies and the scope's
exit all run in the task that serves the call (a sync tool runs in a worker thread with
a copy of its context, so it sees the scope too). Request-scoped bindings are therefore
one per call, and every resource activated while serving it is disposed when it ends,
also when the handler raised: its exception (the tool's own one, not the ``ToolError``
FastMCP wraps it in) is passed to the disposals, so a generator resource sees it at its
``yield``.

``InjectMCP(T)``, or ``InjectMCP[T]``, as a handler parameter's default (or as
``Annotated`` metadata: ``svc: Annotated[T, InjectMCP(T)]``) is a FastMCP dependency
resolving ``await container.aget(T)`` in the call's scope; FastMCP hides it from the
tool's input schema. Type checkers see ``InjectMCP(T)`` and ``InjectMCP[T]`` as a ``T``.

Needs ``fastmcp`` (``pip install injectq[fastmcp]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, overload

try:
    from fastmcp.dependencies import Depends
    from fastmcp.exceptions import FastMCPError, PromptError, ResourceError, ToolError
    from fastmcp.server.dependencies import get_context
    from fastmcp.server.middleware import Middleware
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.fastmcp needs FastMCP: pip install 'injectq[fastmcp]'"
    ) from exc

from injectq.utils.exceptions import InjectionError, InjectQError, describe_key

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = [
    "InjectMCP",
    "InjectQMCPMiddleware",
    "get_container_mcp",
    "setup_mcp",
]

T = TypeVar("T")

_log = logging.getLogger("injectq.integrations.fastmcp")

#: attribute of the FastMCP server holding its container (InjectQ 0.5's name)
_CONTAINER_ATTR = "_injectq_container"

#: the container serving the current call, set by the middleware for the call's duration
_serving: ContextVar[InjectQ | None] = ContextVar("injectq.fastmcp.serving", default=None)


# --------------------------------------------------------------------------- resolution
def _server_container(server: Any) -> InjectQ:
    container = getattr(server, _CONTAINER_ATTR, None)
    if container is None:
        raise InjectionError(
            "No InjectQ container attached to the current FastMCP server: call "
            "setup_mcp(container, mcp) before serving requests."
        )
    return container  # type: ignore[no-any-return]


def get_container_mcp() -> InjectQ:
    """The container serving the current FastMCP request.

    Inside a call served through :class:`InjectQMCPMiddleware` (what :func:`setup_mcp`
    installs) that is the middleware's container; otherwise the one attached to the
    server of the current FastMCP request. Raises :class:`InjectionError` outside a
    FastMCP request or when the server has no container."""
    container = _serving.get()
    if container is not None:
        return container
    try:
        context = get_context()
    except RuntimeError as exc:
        raise InjectionError(
            "No active FastMCP request context: use InjectMCP(...) in a FastMCP "
            "handler, after calling setup_mcp(container, mcp)."
        ) from exc
    return _server_container(context.fastmcp)


def _dependency(key: Any) -> Callable[[], Awaitable[Any]]:
    """The FastMCP dependency factory resolving ``key`` in the current call's scope.

    It returns ``container.aget(key)``'s coroutine, which FastMCP awaits: resources come
    back initialized, with no coroutine of our own around the container's."""

    def resolve() -> Awaitable[Any]:
        return get_container_mcp().aget(key)

    resolve.__name__ = f"inject_{getattr(key, '__name__', 'dependency')}"
    resolve.__qualname__ = f"InjectMCP[{describe_key(key)}]"
    return resolve


class _InjectMCP:
    """``InjectMCP(T)`` / ``InjectMCP[T]``: inject ``T`` into a FastMCP handler.

    - ``svc: UserService = InjectMCP(UserService)``: as the parameter's default
      (InjectQ 0.5's spelling);
    - ``svc: UserService = InjectMCP[UserService]``: the same, subscripted;
    - ``svc: Annotated[UserService, InjectMCP(UserService)]``: as ``Annotated`` metadata.

    The value is ``await container.aget(UserService)`` in the call's scope: resources
    come back initialized, request-scoped bindings are shared within one call. Each
    marker is one FastMCP dependency (one object reused for two parameters of a handler
    is resolved once per call, as FastMCP does for any dependency). Type checkers see a
    ``UserService``, so the parameter's annotation and default agree.
    """

    __slots__ = ()

    # ``Callable[..., T]`` rather than ``type[T]``: mypy refuses an abstract class or a
    # Protocol where ``type[T]`` is expected, and those are what services are keyed by
    @overload
    def __call__(self, interface: Callable[..., T]) -> T: ...
    @overload
    def __call__(self, interface: str) -> Any: ...
    def __call__(self, interface: Any) -> Any:
        return Depends(_dependency(interface))

    @overload
    def __getitem__(self, interface: Callable[..., T]) -> T: ...
    @overload
    def __getitem__(self, interface: str) -> Any: ...
    def __getitem__(self, interface: Any) -> Any:
        return Depends(_dependency(interface))

    def __repr__(self) -> str:
        return "InjectMCP"


InjectMCP = _InjectMCP()


# --------------------------------------------------------------------------- the scope
#: what FastMCP re-raises a handler's own exception as (``raise ToolError(...) from exc``)
_WRAPPERS = (ToolError, ResourceError, PromptError)


def _call_error(exc: BaseException) -> BaseException:
    """What a call's scope exits with: the handler's own exception rather than the
    FastMCP error it was re-raised as."""
    if isinstance(exc, _WRAPPERS) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


class InjectQMCPMiddleware(Middleware):
    """FastMCP middleware: a fresh ``container.scope(scope_name)`` around every tool
    call, resource read and prompt, with the container active.

    The scope is entered before and left after the rest of the chain (the middleware
    added after this one, the handler and its dependencies), in the task serving the
    call; resources the call activated are disposed there, in reverse order of
    initialization, also when the handler raised (its exception is passed to the
    disposals). A disposal that fails after a successful call fails the call as FastMCP
    fails a handler that raised (a ``ToolError``, ``ResourceError`` or ``PromptError``
    whose ``__cause__`` is the :class:`~injectq.ResourceDisposalError`), so the client
    is told the call failed. The middleware also attaches the container to a server
    that has none, so ``InjectMCP`` and :func:`get_container_mcp` find it.
    """

    def __init__(self, *, container: InjectQ, scope_name: str = "request") -> None:
        super().__init__()
        self._container = container
        self.scope_name = scope_name
        container.scope(scope_name)  # validate the name now, not on the first call

    @property
    def container(self) -> InjectQ:
        """The container this middleware serves calls from."""
        return self._container

    async def on_message(self, context: Any, call_next: Any) -> Any:
        """Attach the container to the serving FastMCP server if it has none."""
        fastmcp_context = getattr(context, "fastmcp_context", None)
        server = getattr(fastmcp_context, "fastmcp", None)
        if server is not None and getattr(server, _CONTAINER_ATTR, None) is None:
            setattr(server, _CONTAINER_ATTR, self._container)
        return await call_next(context)

    async def on_call_tool(self, context: Any, call_next: Any) -> Any:
        """Run the tool call in its own scope."""
        failed = f"Error calling tool {context.message.name!r}"
        return await self._in_scope(context, call_next, ToolError, failed)

    async def on_read_resource(self, context: Any, call_next: Any) -> Any:
        """Run the resource read in its own scope (after FastMCP's access check)."""
        await self.check_resource_access(context)
        failed = f"Error reading resource {str(context.message.uri)!r}"
        return await self._in_scope(context, call_next, ResourceError, failed)

    async def on_get_prompt(self, context: Any, call_next: Any) -> Any:
        """Render the prompt in its own scope."""
        failed = f"Error rendering prompt {context.message.name!r}"
        return await self._in_scope(context, call_next, PromptError, failed)

    async def _in_scope(
        self, context: Any, call_next: Any, error_type: type[FastMCPError], failed: str
    ) -> Any:
        container = self._container
        with container.context():
            scope = container.scope(self.scope_name)
            await scope.__aenter__()
            token = _serving.set(container)
            try:
                try:
                    result = await call_next(context)
                except BaseException as exc:
                    # the scope's exit is itself cancellation-safe (DESIGN §3.5): every
                    # disposal runs to its end, then the call's exception propagates
                    error = _call_error(exc)
                    await scope.__aexit__(type(error), error, error.__traceback__)
                    raise
                try:
                    await scope.__aexit__(None, None, None)
                except Exception as exc:  # logged by the scope, one record per failure
                    # no details: FastMCP may be masking them from clients
                    raise error_type(f"{failed}: disposing its resources failed") from exc
                return result
            finally:
                _serving.reset(token)


def setup_mcp(container: InjectQ, mcp: Any, *, scope_name: str = "request") -> None:
    """Serve the FastMCP server ``mcp`` from ``container``: attach the container to it
    and add :class:`InjectQMCPMiddleware`, so each tool call, resource read and prompt
    runs in its own ``scope_name`` scope whose resources are disposed when it ends.

    Call it once, before serving requests (again with the same container: nothing
    happens). Singletons belong to the container: dispose them with
    ``await container.aclose()`` when the server stops."""
    existing = getattr(mcp, _CONTAINER_ATTR, None)
    if existing is not None and existing is not container:
        raise InjectQError("setup_mcp: this FastMCP server is already served by another container")
    middleware = [m for m in mcp.middleware if isinstance(m, InjectQMCPMiddleware)]
    if any(m.container is container for m in middleware):
        return
    if middleware:
        raise InjectQError(
            "setup_mcp: this FastMCP server already has an InjectQMCPMiddleware "
            "of another container"
        )
    mcp.add_middleware(InjectQMCPMiddleware(container=container, scope_name=scope_name))
    setattr(mcp, _CONTAINER_ATTR, container)
