"""``@resource`` and ``managed_resource``: how users mark what the container must
initialize and dispose. They only attach markers; :mod:`injectq.lifecycle.machine`
reads them when the container first sees the class or function."""

from __future__ import annotations

import contextlib
import difflib
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from injectq.core.bindings import normalize_scope
from injectq.lifecycle.machine import resource_spec
from injectq.utils.validation import check_timeout

__all__ = ["managed_resource", "resource"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _check_timeouts(init_timeout: float | None, dispose_timeout: float | None) -> None:
    check_timeout("init_timeout", init_timeout)
    check_timeout("dispose_timeout", dispose_timeout)


def _check_step(cls: type, option: str, target: Any) -> None:
    """``initialize_func`` / ``dispose_func`` must name a method of ``cls`` or be a
    callable: a misspelt name would otherwise be a step silently never taken."""
    if target is None or callable(target):
        return
    if not isinstance(target, str):
        raise TypeError(
            f"managed_resource({option}=...) takes a method name or a callable taking the "
            f"instance, got {target!r}"
        )
    if inspect.getattr_static(cls, target, None) is None:
        close = difflib.get_close_matches(target, [n for n in dir(cls) if not n.startswith("__")])
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AttributeError(
            f"managed_resource({option}={target!r}): {cls.__qualname__} has no method "
            f"{target!r}.{hint}"
        )


def _is_context_factory(fn: Any) -> bool:
    """A generator, async generator or context-manager function (``@contextmanager``,
    ``@asynccontextmanager``, or annotated to return a context manager)."""
    inner = inspect.unwrap(fn)
    for candidate in (fn, inner):
        if inspect.isgeneratorfunction(candidate) or inspect.isasyncgenfunction(candidate):
            return True
    if getattr(fn, "_injectq_async_cm", False):
        return True
    try:
        returns = typing.get_type_hints(fn).get("return")
    except Exception:  # annotations that cannot be resolved here: only the result can tell
        return True
    returns = typing.get_origin(returns) or returns
    return isinstance(returns, type) and (
        hasattr(returns, "__enter__")
        or hasattr(returns, "__aenter__")
        or issubclass(
            returns, (contextlib.AbstractContextManager, contextlib.AbstractAsyncContextManager)
        )
    )


def _mark_class(cls: type[T], options: dict[str, Any]) -> type[T]:
    # checked before anything is changed: a refused class is left as it was
    _check_step(cls, "initialize_func", options.get("initialize_func"))
    _check_step(cls, "dispose_func", options.get("dispose_func"))
    cls._is_injectq_resource = True  # type: ignore[attr-defined]
    merged = dict(getattr(cls, "_injectq_resource_options", None) or {})
    merged.update({k: v for k, v in options.items() if v is not None})
    cls._injectq_resource_options = merged  # type: ignore[attr-defined]
    if options.get("scope"):
        cls._injectq_scope = normalize_scope(options["scope"])  # type: ignore[attr-defined]
    resource_spec(cls)  # prepare now: user calls to initialize()/dispose() join from here on
    return cls


@overload
def resource(target: type[T], /) -> type[T]: ...
@overload
def resource(
    target: None = None,
    /,
    *,
    scope: str | None = None,
    init_timeout: float | None = None,
    dispose_timeout: float | None = None,
) -> Callable[[T], T]: ...
def resource(
    target: Any = None,
    /,
    *,
    scope: str | None = None,
    init_timeout: float | None = None,
    dispose_timeout: float | None = None,
) -> Any:
    """Mark a resource.

    On a class (bare or with arguments): instances have optional ``initialize()`` and
    ``dispose()`` methods, sync or async, that the container calls exactly once per
    activation. On a generator, async generator or context-manager function (with
    parentheses, ``@resource()``): code before ``yield`` is initialization, code after it
    is disposal.

    Examples:
        A class: the container calls ``initialize()`` when it builds one and
        ``dispose()`` when its owner (here the container) closes.

        >>> import sqlite3
        >>> from injectq import InjectQ, resource
        >>> @resource
        ... class Database:
        ...     def initialize(self) -> None:
        ...         self.conn = sqlite3.connect(":memory:")
        ...     def dispose(self) -> None:
        ...         self.conn.close()
        >>> container = InjectQ()
        >>> container.bind(Database, Database)
        >>> container.get(Database).conn.execute("SELECT 1").fetchone()
        (1,)
        >>> container.close()  # Database.dispose() runs here

        A generator function, one connection per request scope:

        >>> from collections.abc import Iterator
        >>> @resource()
        ... def connect() -> Iterator[sqlite3.Connection]:
        ...     conn = sqlite3.connect(":memory:")
        ...     yield conn
        ...     conn.close()
        >>> with InjectQ() as container:
        ...     container.bind(sqlite3.Connection, connect, scope="request")
        ...     with container.scope("request"):
        ...         conn = container.get(sqlite3.Connection)
        ...         answer = conn.execute("SELECT 2").fetchone()
        >>> answer
        (2,)
        >>> conn.execute("SELECT 2")  # closed when the scope ended
        Traceback (most recent call last):
        ...
        sqlite3.ProgrammingError: Cannot operate on a closed database.
    """
    _check_timeouts(init_timeout, dispose_timeout)
    options = {"scope": scope, "init_timeout": init_timeout, "dispose_timeout": dispose_timeout}

    def apply(obj: Any) -> Any:
        if isinstance(obj, type):
            return _mark_class(obj, options)
        if callable(obj):
            if not _is_context_factory(obj):
                name = getattr(obj, "__qualname__", repr(obj))
                raise TypeError(
                    f"@resource() applies to generator, async generator and context-manager "
                    f"functions (code before `yield` initializes, code after it disposes); "
                    f"{name} is a plain function. Make it a generator, annotate the context "
                    "manager it returns, or bind it as a factory with "
                    "container.bind_factory(...)."
                )
            marked = dict(options)
            # an @asynccontextmanager function is a plain function wrapping an async
            # generator function: look through the wrapper to see which exit it needs
            marked["is_async"] = (
                inspect.isasyncgenfunction(obj)
                or inspect.isasyncgenfunction(inspect.unwrap(obj))
                or bool(getattr(obj, "_injectq_async_cm", False))
            )
            obj._injectq_resource_options = marked
            return obj
        raise TypeError(f"@resource applies to classes and factory functions, not {obj!r}")

    if target is None:
        return apply
    return apply(target)


def managed_resource(
    initialize_func: Callable[[Any], Any] | str | None = None,
    dispose_func: Callable[[Any], Any] | str | None = None,
    *,
    scope: str | None = None,
    init_timeout: float | None = None,
    dispose_timeout: float | None = None,
) -> Callable[[type[T]], type[T]]:
    """Class decorator naming the initialize/dispose steps: callables taking the
    instance (sync or async) or method names. The working version of the page's
    decorator: it never replaces ``__init__``.

    For a class whose steps have other names than ``initialize`` and ``dispose``.

    Examples:
        >>> from injectq import InjectQ, managed_resource
        >>> @managed_resource(initialize_func="connect", dispose_func="disconnect")
        ... class Client:
        ...     connected = False
        ...     def connect(self) -> None:
        ...         self.connected = True
        ...     def disconnect(self) -> None:
        ...         self.connected = False
        >>> with InjectQ() as container:
        ...     container.bind(Client, Client)
        ...     client = container.get(Client)
        ...     during = client.connected
        >>> during, client.connected
        (True, False)
    """
    _check_timeouts(init_timeout, dispose_timeout)

    def decorator(cls: type[T]) -> type[T]:
        return _mark_class(
            cls,
            {
                "initialize_func": initialize_func,
                "dispose_func": dispose_func,
                "scope": scope,
                "init_timeout": init_timeout,
                "dispose_timeout": dispose_timeout,
            },
        )

    return decorator
