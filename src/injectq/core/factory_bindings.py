"""``container.factories``: a container's factory bindings seen as a mapping.

InjectQ's API spells ``bind_factory``/``get_factory``/``unbind`` as item assignment,
lookup and deletion on ``container.factories``; this view only forwards to those
methods, so it lives apart from the façade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from injectq.core.bindings import INSTANCE

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["FactoryBindings"]


class FactoryBindings:
    """``container.factories``: the container's factory bindings as a mapping."""

    __slots__ = ("_container",)

    def __init__(self, container: InjectQ) -> None:
        self._container = container

    def __setitem__(self, service_type: Any, factory: Callable[..., Any]) -> None:
        self._container.bind_factory(service_type, factory)

    def __getitem__(self, service_type: Any) -> Callable[..., Any]:
        return self._container.get_factory(service_type)

    def __delitem__(self, service_type: Any) -> None:
        self._container.get_factory(service_type)  # raises unless a factory is bound
        self._container.unbind(service_type)

    def __contains__(self, service_type: Any) -> bool:
        binding = self._container._bindings.get(service_type)
        return binding is not None and binding.kind is not INSTANCE
