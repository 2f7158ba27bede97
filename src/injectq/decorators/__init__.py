"""Decorators: injection, lifetimes and resources."""

from injectq.core.markers import Inject
from injectq.decorators.inject import inject
from injectq.decorators.resource import managed_resource, resource
from injectq.decorators.singleton import register_as, scoped, singleton, transient

__all__ = [
    "Inject",
    "inject",
    "managed_resource",
    "register_as",
    "resource",
    "scoped",
    "singleton",
    "transient",
]
