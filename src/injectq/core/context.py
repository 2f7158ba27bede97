"""The active container: a ContextVar, and InjectQ's static helpers around it.

``InjectQ.get_instance()`` and ``@inject`` use the container active in this context
(``with c.context()``, ``ContainerContext.use(c)``), else the process-wide default. The
ContextVar lives here, below the container, so this module needs nothing of the
container at import time (``core`` imports it, and it imports no part of ``core``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["ContainerContext", "active_container"]

#: the container active in this context (None: the process-wide default)
active_container: ContextVar[InjectQ | None] = ContextVar("injectq.container", default=None)


class ContainerContext:
    """Which container ``InjectQ.get_instance()`` and ``@inject`` use in this context.

    Examples:
        >>> from injectq import ContainerContext, InjectQ
        >>> container = InjectQ()
        >>> with ContainerContext.use(container):
        ...     active = InjectQ.get_instance() is container
        >>> active, ContainerContext.get_current()
        (True, None)
        >>> container.close()
    """

    @staticmethod
    def get_current() -> InjectQ | None:
        """The container active in this context, or None (then the default is used)."""
        return active_container.get()

    @staticmethod
    def set_current(container: InjectQ | None) -> None:
        """Make ``container`` the active one in this context (None: the default again).

        Prefer :meth:`use`, which also restores the previous one."""
        active_container.set(container)

    @staticmethod
    def clear_current() -> None:
        """No active container in this context: the process-wide default is used again."""
        active_container.set(None)

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
