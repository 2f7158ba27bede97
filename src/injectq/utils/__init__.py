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

ServiceKey = Any  # a type or a string

__all__ = [
    "AlreadyRegisteredError",
    "BindingError",
    "CircularDependencyError",
    "DependencyNotFoundError",
    "InjectQError",
    "InjectionError",
    "ResourceDisposalError",
    "ResourceError",
    "ResourceExhaustedError",
    "ResourceInitializationError",
    "ResourceTimeoutError",
    "ScopeError",
    "ServiceKey",
]
