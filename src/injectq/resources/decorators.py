"""``@resource`` and ``managed_resource``: how users mark what the container must
initialize and dispose. They only attach markers; :mod:`injectq.resources.lifecycle`
reads them when the container first sees the class or function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from injectq.core.bindings import normalize_scope
from injectq.resources.lifecycle import resource_spec

__all__ = ["managed_resource", "resource"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _mark_class(cls: type[T], options: dict[str, Any]) -> type[T]:
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
    """
    options = {"scope": scope, "init_timeout": init_timeout, "dispose_timeout": dispose_timeout}

    def apply(obj: Any) -> Any:
        if isinstance(obj, type):
            return _mark_class(obj, options)
        if callable(obj):
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
    decorator: it never replaces ``__init__``."""

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
