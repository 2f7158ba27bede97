"""Exceptions and shared types (InjectQ's ``injectq.utils`` import path)."""

from typing import Any

from injectq.utils.exceptions import (
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
)
from injectq.utils.logging import logger
from injectq.utils.protocols import (
    AsyncFactory,
    AsyncProvider,
    AsyncResourceProvider,
    Configurable,
    Factory,
    Injectable,
    Provider,
    Resolvable,
    ResourceProvider,
    ScopeAware,
)

ServiceKey = Any  # a type or a string

__all__ = [
    "AlreadyRegisteredError",
    "AsyncFactory",
    "AsyncProvider",
    "AsyncResourceProvider",
    "BindingError",
    "CircularDependencyError",
    "Configurable",
    "DependencyNotFoundError",
    "Factory",
    "InjectQError",
    "Injectable",
    "InjectionError",
    "Provider",
    "Resolvable",
    "ResourceDisposalError",
    "ResourceError",
    "ResourceExhaustedError",
    "ResourceInitializationError",
    "ResourceProvider",
    "ResourceTimeoutError",
    "ScopeAware",
    "ScopeError",
    "ServiceKey",
    "logger",
]
