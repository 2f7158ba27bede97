"""Decorators: injection, lifetimes and resources."""

from injectq.core.markers import Inject
from injectq.decorators.inject import inject
from injectq.decorators.resource import managed_resource, resource
from injectq.decorators.singleton import register_as, scoped, singleton, transient
from injectq.resources.manager import async_managed_resource, get_resource_manager

__all__ = [
    "Inject",
    "async_managed_resource",
    "get_resource_manager",
    "inject",
    "managed_resource",
    "register_as",
    "resource",
    "scoped",
    "singleton",
    "transient",
]
