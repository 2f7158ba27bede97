"""InjectQ 0.5's module-level resource helpers: ``get_resource_manager()`` and
``async_managed_resource(factory, cleanup)``.

InjectQ 0.5 kept one process-wide registry of ``@resource`` functions. In injectq every
resource belongs to the container that created it (so two containers never share or
double-dispose one), and the manager is a view of a container's resources: by default
the active container, ``InjectQ.get_instance()``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["ResourceManager", "async_managed_resource", "get_resource_manager"]


class ResourceManager:
    """The live resources of one container, and how to shut them all down."""

    def __init__(self, container: InjectQ) -> None:
        self.container = container

    def get_all_resources(self) -> dict[Any, Any]:
        """``{binding key: instance}`` of the container's live resources."""
        return self.container.get_all_resources()

    def shutdown_all(self) -> None:
        """Dispose every resource the container owns (:meth:`InjectQ.close`); disposal
        errors are raised, not suppressed as InjectQ 0.5 did."""
        self.container.close()

    async def shutdown_all_async(self) -> None:
        """Dispose every resource the container owns, awaiting async disposals
        (:meth:`InjectQ.aclose`)."""
        await self.container.aclose()


def get_resource_manager(container: InjectQ | None = None) -> ResourceManager:
    """The :class:`ResourceManager` of ``container``, by default the active container."""
    if container is None:
        from injectq.core.container import InjectQ

        container = InjectQ.get_instance()
    return ResourceManager(container)


@asynccontextmanager
async def async_managed_resource(
    factory: Callable[[], Any], cleanup: Callable[[Any], Any] | None = None
) -> AsyncIterator[Any]:
    """A resource made by ``factory()`` for one ``async with`` block, cleaned up on exit.

    ``async with async_managed_resource(factory, cleanup) as r:`` creates ``r`` with
    ``factory()`` and, on exit (also on error or cancellation), calls ``cleanup(r)``.
    Either may be sync or async (an awaitable result is awaited).

    Examples:
        >>> import asyncio, sqlite3
        >>> from injectq import async_managed_resource
        >>> async def main() -> tuple[int]:
        ...     connect = lambda: sqlite3.connect(":memory:")
        ...     async with async_managed_resource(connect, sqlite3.Connection.close) as conn:
        ...         return conn.execute("SELECT 1").fetchone()
        >>> asyncio.run(main())
        (1,)
    """
    created = factory()
    if inspect.isawaitable(created):
        created = await created
    try:
        yield created
    finally:
        if cleanup is not None:
            finished = cleanup(created)
            if inspect.isawaitable(finished):
                await finished
