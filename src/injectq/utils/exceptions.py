"""The whole exception hierarchy of injectq.

Every error a user can meet derives from :class:`InjectQError`, so ``except InjectQError``
catches misuse of the container without catching the user's own bugs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

__all__ = [
    "AlreadyRegisteredError",
    "BindingError",
    "CircularDependencyError",
    "DependencyNotFoundError",
    "InjectQError",
    "InjectionError",
    "ResourceDisposalError",
    "ResourceError",
    "ResourceExhaustedError",
    "ResourceInitializationError",
    "ResourceTimeoutError",
    "ScopeError",
]


def describe_key(key: Any) -> str:
    """A readable name for a binding key: a type's qualified name, or the string itself."""
    if isinstance(key, str):
        return repr(key)
    name = getattr(key, "__qualname__", None) or getattr(key, "__name__", None)
    if not isinstance(name, str):
        return repr(key)
    return name.rpartition("<locals>.")[2]  # a class defined in a function: its own name


def format_path(path: Sequence[str]) -> str:
    return " -> ".join(path)


class InjectQError(Exception):
    """Base class of every injectq error."""


class InjectionError(InjectQError):
    """A parameter of a function or constructor cannot be injected."""


class DependencyNotFoundError(InjectionError, LookupError):
    """No binding for a key, and it cannot be autowired. An :class:`InjectionError`:
    the value cannot be injected (``@inject`` callers catch that, as in InjectQ)."""

    def __init__(self, message: str, *, key: Any = None, path: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key = key
        self.path = tuple(path)


class CircularDependencyError(InjectQError):
    """The dependency graph contains a cycle; ``path`` names it from start to repeat."""

    def __init__(self, path: Sequence[str]) -> None:
        self.path = tuple(path)
        super().__init__(
            f"Circular dependency: {format_path(self.path)}. "
            "Break the cycle, e.g. by injecting a factory or resolving one side lazily."
        )


class BindingError(InjectQError, TypeError):
    """A binding is invalid (abstract class bound to itself, None without allow_none, ...)."""


class AlreadyRegisteredError(BindingError):
    """A key is bound twice on a container created with ``allow_override=False``."""


class ScopeError(InjectQError):
    """A scoped key was resolved outside its scope, or a closed scope was used."""


class ResourceError(InjectQError):
    """Base class of the resource lifecycle errors."""


class ResourceInitializationError(ResourceError):
    """A resource's ``initialize()`` failed; the original error is ``__cause__``."""


class ResourceTimeoutError(ResourceError, TimeoutError):
    """A resource's ``initialize()`` or ``dispose()`` took longer than its timeout."""


class ResourceExhaustedError(ResourceError):
    """A pool had no item free within its acquire timeout."""


class ResourceDisposalError(ResourceError, ExceptionGroup):
    """One or more ``dispose()`` calls failed at a scope's exit.

    An :class:`ExceptionGroup` of the original exceptions; each carries a note that names
    the resource. Every other disposal still ran.
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> Self:
        """A group of the failed disposals' errors, under ``message``."""
        return super().__new__(cls, message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> ResourceDisposalError:  # type: ignore[override]
        """The same error with other exceptions (what ``ExceptionGroup.split`` and
        ``subgroup`` call), so a part of it stays a ResourceDisposalError."""
        return ResourceDisposalError(self.message, excs)
