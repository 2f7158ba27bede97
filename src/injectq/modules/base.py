"""Modules: bundles of bindings applied with ``install_module`` or ``InjectQ(modules=...)``."""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from injectq.core.bindings import TRANSIENT
from injectq.core.registry import _UNSET
from injectq.utils.exceptions import BindingError

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["ConfigurationModule", "Module", "ProviderModule", "SimpleModule", "provider"]

F = TypeVar("F", bound=Callable[..., Any])


class Module(ABC):
    """Subclass and implement ``configure(binder)``; ``binder`` is the container.

    Examples:
        >>> from injectq import InjectQ, Module
        >>> class Cache:
        ...     pass
        >>> class CacheModule(Module):
        ...     def configure(self, binder: InjectQ) -> None:
        ...         binder.bind(Cache, Cache)
        ...         binder.bind_instance("cache_size", 128)
        >>> with InjectQ(modules=[CacheModule()]) as container:
        ...     size = container.get("cache_size")
        >>> size
        128
    """

    @abstractmethod
    def configure(self, binder: InjectQ) -> None:
        """Add the module's bindings to ``binder``, the container installing it:
        ``binder.bind(Cache, RedisCache)``."""


class SimpleModule(Module):
    """Fluent bindings: ``SimpleModule().bind(A, AImpl).bind_instance("url", "...")``.

    Examples:
        >>> from injectq import InjectQ, SimpleModule
        >>> class Mailer:
        ...     def __init__(self, smtp_host: str) -> None:
        ...         self.smtp_host = smtp_host
        >>> module = SimpleModule().bind_instance("smtp_host", "localhost").bind(Mailer, Mailer)
        >>> with InjectQ() as container:
        ...     container.install_module(module)
        ...     host = container.get(Mailer).smtp_host
        >>> host
        'localhost'
    """

    def __init__(self) -> None:
        self._steps: list[Callable[[InjectQ], None]] = []

    def bind(
        self,
        service_type: Any,
        implementation: Any = _UNSET,
        scope: Any = None,
        to: Any = None,
        allow_none: bool = False,
    ) -> SimpleModule:
        """Add ``container.bind(service_type, implementation, ...)`` to the module (``to=``
        is InjectQ's other spelling of the implementation); returns the module for chaining."""
        impl = to if implementation is _UNSET and to is not None else implementation

        def step(binder: InjectQ) -> None:
            if scope is None:
                binder.bind(service_type, impl, allow_none=allow_none)
            else:
                binder.bind(service_type, impl, scope=scope, allow_none=allow_none)

        self._steps.append(step)
        return self

    def bind_instance(self, service_type: Any, instance: Any) -> SimpleModule:
        """Add ``container.bind_instance(service_type, instance)``; returns the module."""
        self._steps.append(lambda binder: binder.bind_instance(service_type, instance))
        return self

    def bind_factory(
        self, service_type: Any, factory: Callable[..., Any], scope: Any = TRANSIENT
    ) -> SimpleModule:
        """Add ``container.bind_factory(service_type, factory, scope)`` (transient by default);
        returns the module."""
        self._steps.append(lambda binder: binder.bind_factory(service_type, factory, scope))
        return self

    def configure(self, binder: InjectQ) -> None:
        """Apply the recorded bindings to ``binder``, in the order they were added."""
        for step in self._steps:
            step(binder)


@overload
def provider(func: F, /) -> F: ...
@overload
def provider(func: None = None, /, *, scope: str = ...) -> Callable[[F], F]: ...
def provider(func: Any = None, /, *, scope: str = TRANSIENT) -> Any:
    """Mark a ``ProviderModule`` method as the factory of its return type; its parameters
    are injected. ``@provider(scope="singleton")`` chooses the lifetime (transient by
    default, as in InjectQ)."""

    def mark(fn: F) -> F:
        fn._injectq_provider_scope = scope  # type: ignore[attr-defined]
        fn._is_provider = True  # type: ignore[attr-defined]
        return fn

    return mark if func is None else mark(func)


class ProviderModule(Module):
    """A module whose ``@provider`` methods are bound as factories of their return types.

    Examples:
        >>> from injectq import InjectQ, ProviderModule, provider
        >>> class Settings:
        ...     debug = True
        >>> class Logger:
        ...     def __init__(self, verbose: bool) -> None:
        ...         self.verbose = verbose
        >>> class LoggingModule(ProviderModule):
        ...     @provider(scope="singleton")
        ...     def logger(self, settings: Settings) -> Logger:
        ...         return Logger(verbose=settings.debug)
        >>> with InjectQ(modules=[LoggingModule()]) as container:
        ...     verbose = container.get(Logger).verbose
        ...     one = container.get(Logger) is container.get(Logger)
        >>> verbose, one
        (True, True)
    """

    def configure(self, binder: InjectQ) -> None:
        """Bind each ``@provider`` method as the factory of its return annotation; a
        provider without a return annotation is a :class:`BindingError`."""
        for name, member in inspect.getmembers(type(self)):
            if not getattr(member, "_is_provider", False):
                continue
            method = getattr(self, name)
            try:
                hints = typing.get_type_hints(member)
            except Exception as exc:
                raise BindingError(
                    f"Cannot read the return type of provider {name}: {exc}"
                ) from exc
            key = hints.get("return")
            if key is None:
                raise BindingError(
                    f"Provider method {type(self).__name__}.{name} needs a return type "
                    "annotation: it is the key the provider is bound to."
                )
            binder.bind_factory(key, method, member._injectq_provider_scope)


class ConfigurationModule(Module):
    """Binds each ``{key: value}`` pair as an instance (string keys feed parameters of
    that name).

    Examples:
        >>> from injectq import ConfigurationModule, InjectQ
        >>> class Server:
        ...     def __init__(self, host: str, port: int) -> None:
        ...         self.address = f"{host}:{port}"
        >>> config = ConfigurationModule({"host": "127.0.0.1", "port": 8080})
        >>> with InjectQ(modules=[config]) as container:
        ...     address = container.get(Server).address
        >>> address
        '127.0.0.1:8080'
    """

    def __init__(self, config: Mapping[Any, Any]) -> None:
        self.config = dict(config)

    def configure(self, binder: InjectQ) -> None:
        """Bind each pair of the mapping as an instance (a key that is neither a string nor
        a type is bound under ``str(key)``; a None value is allowed)."""
        for key, value in self.config.items():
            binder.bind_instance(
                key if isinstance(key, (str, type)) else str(key), value, allow_none=value is None
            )
