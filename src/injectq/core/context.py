"""``ContainerContext``: InjectQ's static helpers around the active-container ContextVar."""

from __future__ import annotations

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
