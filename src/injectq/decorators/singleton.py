"""Lifetime decorators: ``@singleton``, ``@transient``, ``@scoped(name)``, ``register_as``.

They record the lifetime on the class (so any container autowiring it honours it) and
register the class in the active or default container, as InjectQ does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from injectq.core.bindings import SINGLETON, TRANSIENT, normalize_scope
from injectq.core.container import InjectQ
from injectq.utils.exceptions import BindingError

__all__ = ["register_as", "scoped", "singleton", "transient"]

C = TypeVar("C", bound=type)


def _register(
    cls: Any, scope: str, container: InjectQ | None, key: Any = None, decorator: str = ""
) -> Any:
    if not isinstance(cls, type):
        raise BindingError(f"{decorator} can only be applied to classes, not {cls!r}")
    if key is None:
        cls._injectq_scope = scope  # type: ignore[attr-defined]
    target = container if container is not None else InjectQ.get_instance()
    target.bind(key if key is not None else cls, cls, scope=scope)
    return cls


def singleton(cls: C, container: InjectQ | None = None) -> C:
    """Register ``cls`` as a singleton: one instance per container.

    Like the other lifetime decorators it binds the class in the active container
    (``with c.context():``), else in the process-wide default.

    Examples:
        >>> from injectq import InjectQ, singleton
        >>> with InjectQ() as container, container.context():
        ...     @singleton
        ...     class Config:
        ...         pass
        ...     same = container.get(Config) is container.get(Config)
        >>> same
        True
    """
    return _register(cls, SINGLETON, container, decorator="@singleton")  # type: ignore[no-any-return]


def transient(cls: C, container: InjectQ | None = None) -> C:
    """Register ``cls`` as transient: a new instance for every resolution.

    Examples:
        >>> from injectq import InjectQ, transient
        >>> container = InjectQ()
        >>> with container.context():  # registered in this container
        ...     @transient
        ...     class Command:
        ...         pass
        >>> container.get(Command) is container.get(Command)
        False
        >>> container.close()
    """
    return _register(cls, TRANSIENT, container, decorator="@transient")  # type: ignore[no-any-return]


@overload
def scoped(scope_name: C, /, container: InjectQ | None = None) -> C: ...
@overload
def scoped(scope_name: str = ..., container: InjectQ | None = None) -> Callable[[C], C]: ...
def scoped(scope_name: Any = "request", container: InjectQ | None = None) -> Any:
    """Register ``cls`` in a named scope: one instance per ``with c.scope(name):``.

    ``@scoped("session")`` names the scope; bare ``@scoped`` and ``@scoped()`` mean
    ``@scoped("request")``, the scope web integrations open per request.

    Examples:
        >>> from injectq import InjectQ, scoped
        >>> with InjectQ() as container, container.context():
        ...     @scoped("session")
        ...     class Cart:
        ...         pass
        ...     with container.scope("session"):
        ...         first = container.get(Cart)
        ...         same = first is container.get(Cart)
        ...     with container.scope("session"):
        ...         other = container.get(Cart)
        >>> same, first is other  # one per session scope
        (True, False)
    """
    if callable(scope_name):  # bare @scoped: the class came in place of a name
        return _register(scope_name, "request", container, decorator="@scoped")
    name = normalize_scope(scope_name)

    def decorator(cls: C) -> C:
        return _register(cls, name, container, decorator=f"@scoped({name!r})")  # type: ignore[no-any-return]

    return decorator


def register_as(
    service_type: Any, scope: str = SINGLETON, container: InjectQ | None = None
) -> Callable[[C], C]:
    """Register the decorated class as the implementation of ``service_type``.

    Examples:
        >>> from abc import ABC, abstractmethod
        >>> from injectq import InjectQ, register_as
        >>> class Storage(ABC):
        ...     @abstractmethod
        ...     def save(self, data: str) -> str: ...
        >>> with InjectQ() as container, container.context():
        ...     @register_as(Storage)
        ...     class MemoryStorage(Storage):
        ...         def save(self, data: str) -> str:
        ...             return f"saved {data}"
        ...     saved = container.get(Storage).save("x")
        >>> saved
        'saved x'
    """
    name = normalize_scope(scope)

    def decorator(cls: C) -> C:
        registered: C = _register(
            cls, name, container, key=service_type, decorator=f"@register_as({service_type!r})"
        )
        return registered

    return decorator
