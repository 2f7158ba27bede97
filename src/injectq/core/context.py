"""``ContainerContext``: InjectQ's static helpers around the active-container ContextVar."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from injectq.core import container as _container
from injectq.core.container import InjectQ

__all__ = ["ContainerContext"]


class ContainerContext:
    """Which container ``InjectQ.get_instance()`` and ``@inject`` use in this context."""

    @staticmethod
    def get_current() -> InjectQ | None:
        return _container._active_container.get()

    @staticmethod
    def set_current(container: InjectQ | None) -> None:
        _container._active_container.set(container)

    @staticmethod
    def clear_current() -> None:
        _container._active_container.set(None)

    @staticmethod
    def use(container: InjectQ) -> contextlib.AbstractContextManager[InjectQ]:
        """``with ContainerContext.use(c):``: ``c`` is the active container in the block,
        the previous one (or none) again after it."""
        return container.context()

    @staticmethod
    @contextlib.asynccontextmanager
    async def use_async(container: InjectQ) -> AsyncIterator[InjectQ]:
        """``async with ContainerContext.use_async(c):``, the async form of :meth:`use`."""
        with container.context():
            yield container
