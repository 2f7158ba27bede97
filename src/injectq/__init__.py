"""injectq: dependency injection with resource lifecycle management at its heart."""

from injectq import testing
from injectq.core import ContainerContext, InjectQ, Scope, ScopeType
from injectq.decorators import (
    Inject,
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
from injectq.utils import (
    AlreadyRegisteredError,
    BindingError,
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQError,
    ResourceDisposalError,
    ResourceError,
    ResourceExhaustedError,
    ResourceInitializationError,
    ResourceTimeoutError,
    ScopeError,
    ServiceKey,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyRegisteredError",
    "BindingError",
    "CircularDependencyError",
    "ConfigurationModule",
    "ContainerContext",
    "DependencyNotFoundError",
    "Inject",
    "InjectQ",
    "InjectQError",
    "InjectionError",
    "Module",
    "ProviderModule",
    "ResourceDisposalError",
    "ResourceError",
    "ResourceEvent",
    "ResourceExhaustedError",
    "ResourceHealthChecker",
    "ResourceInitializationError",
    "ResourceMonitor",
    "ResourcePool",
    "ResourceTimeoutError",
    "Scope",
    "ScopeError",
    "ScopeType",
    "ServiceKey",
    "SimpleModule",
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
