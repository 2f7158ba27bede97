"""InjectQ's structural protocols (``injectq.Provider``, ``injectq.AsyncProvider``...).

They describe shapes user code may implement and type-check against; the container
does not look for them (nor did InjectQ 0.5's): a provider object is used by binding
a factory that calls it, e.g. ``container.bind_factory(Db, lambda: provider.provide(container))``.
All are ``runtime_checkable``, so ``isinstance(obj, Provider)`` works.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = [
    "AsyncFactory",
    "AsyncProvider",
    "AsyncResourceProvider",
    "Configurable",
    "Factory",
    "Injectable",
    "Provider",
    "Resolvable",
    "ResourceProvider",
    "ScopeAware",
]

T_co = TypeVar("T_co", covariant=True)


class Injectable(Protocol):
    """A class the container can construct."""

    def __init__(self, *args: object, **kwargs: object) -> None: ...


@runtime_checkable
class Provider(Protocol[T_co]):
    """An object that provides a dependency given the container."""

    @abstractmethod
    def provide(self, container: InjectQ) -> T_co:
        """Provide an instance of the dependency."""


@runtime_checkable
class AsyncProvider(Protocol[T_co]):
    """An object that provides a dependency asynchronously given the container."""

    @abstractmethod
    async def provide(self, container: InjectQ) -> T_co:
        """Provide an instance of the dependency."""


@runtime_checkable
class Factory(Protocol[T_co]):
    """A callable creating an instance given the container."""

    @abstractmethod
    def __call__(self, container: InjectQ) -> T_co:
        """Create an instance."""


@runtime_checkable
class AsyncFactory(Protocol[T_co]):
    """An async callable creating an instance given the container."""

    @abstractmethod
    async def __call__(self, container: InjectQ) -> T_co:
        """Create an instance."""


@runtime_checkable
class ResourceProvider(Protocol[T_co]):
    """A callable returning a context manager around a resource."""

    @abstractmethod
    def __call__(self) -> AbstractContextManager[T_co]:
        """Provide the resource."""


@runtime_checkable
class AsyncResourceProvider(Protocol[T_co]):
    """A callable returning an async context manager around a resource."""

    @abstractmethod
    def __call__(self) -> AbstractAsyncContextManager[T_co]:
        """Provide the resource."""


@runtime_checkable
class Resolvable(Protocol):
    """A type with its own resolution hook."""

    @classmethod
    @abstractmethod
    def __injectq_resolve__(cls, container: InjectQ) -> object:
        """Resolve an instance from the container."""


@runtime_checkable
class Configurable(Protocol):
    """A dependency configured with keyword arguments."""

    @abstractmethod
    def configure(self, **kwargs: object) -> None:
        """Configure the dependency."""


@runtime_checkable
class ScopeAware(Protocol):
    """A dependency told when scopes are entered and exited."""

    @abstractmethod
    def enter_scope(self, scope_name: str) -> None:
        """Called when entering a scope."""

    @abstractmethod
    def exit_scope(self, scope_name: str) -> None:
        """Called when exiting a scope."""
