"""injectq: dependency injection with resource lifecycle management at its heart."""

from injectq import testing, utils
from injectq.core import ContainerContext, InjectQ, Scope, ScopeType
from injectq.decorators import (
    Inject,
    async_managed_resource,
    get_resource_manager,
    inject,
    managed_resource,
    register_as,
    resource,
    scoped,
    singleton,
    transient,
)
from injectq.modules import ConfigurationModule, Module, ProviderModule, SimpleModule, provider
from injectq.resources import (
    ResourceEvent,
    ResourceHealthChecker,
    ResourceMonitor,
    ResourcePool,
    logging_subscriber,
)
from injectq.utils import *  # noqa: F403  (the exceptions, protocols, ServiceKey, logger)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationModule",
    "ContainerContext",
    "Inject",
    "InjectQ",
    "Module",
    "ProviderModule",
    "ResourceEvent",
    "ResourceHealthChecker",
    "ResourceMonitor",
    "ResourcePool",
    "Scope",
    "ScopeType",
    "SimpleModule",
    "async_managed_resource",
    "get_resource_manager",
    "inject",
    "logging_subscriber",
    "managed_resource",
    "provider",
    "register_as",
    "resource",
    "scoped",
    "singleton",
    "testing",
    "transient",
]
# utils' names once, here as at their own path (injectq.utils): the same objects
__all__ += utils.__all__
