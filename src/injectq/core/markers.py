"""``Inject[T]``: the parameter-default marker.

It lives in the core because planning must recognise it; ``injectq.decorators``
re-exports it (imports point one way: decorators use core, not the reverse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, overload

__all__ = ["EMPTY", "Inject", "inject_key_of"]

T = TypeVar("T")


class _Empty:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<empty>"


#: "no value": no default, no annotation, no marker.
EMPTY: Final = _Empty()


def _empty() -> Any:
    return EMPTY


class _InjectMeta(type):
    """``Inject[Service]`` is a marker object, typed as ``Service``.

    A metaclass ``__getitem__`` (not ``__class_getitem__``) because type checkers read
    its return type: ``svc: Service = Inject[Service]`` then checks, and ``svc`` is a
    ``Service`` in the body, which is what ``@inject`` makes it at call time."""

    # The same key overloads as InjectQ.get (see there): type[T], Callable[..., T] for
    # abstract classes and Protocols under mypy, type[object] so a mistyped parameter is
    # reported rather than typed Any, Any for other keys (strings).
    @overload
    def __getitem__(cls, key: type[T]) -> T: ...
    @overload
    def __getitem__(cls, key: Callable[..., T]) -> T: ...
    @overload
    def __getitem__(cls, key: type[object]) -> object: ...  # type: ignore[overload-cannot-match]
    @overload
    def __getitem__(cls, key: Any) -> Any: ...
    def __getitem__(cls, key: Any) -> Any:
        return cls(key)


class Inject(metaclass=_InjectMeta):
    """``def handler(svc: Service = Inject[Service])``: inject ``Service`` here.

    Outside ``@inject`` the marker resolves lazily on first attribute access from the
    active container (``InjectQ.get_instance()``), as InjectQ does.

    Examples:
        >>> from injectq import Inject, InjectQ, inject
        >>> class Clock:
        ...     def now(self) -> str:
        ...         return "12:00"
        >>> @inject
        ... def report(title: str, clock: Clock = Inject[Clock]) -> str:
        ...     return f"{title} at {clock.now()}"
        >>> with InjectQ() as container, container.context():
        ...     report("backup")
        'backup at 12:00'
    """

    __slots__ = ("_injectq_key", "_injectq_value")

    def __init__(self, key: Any) -> None:
        object.__setattr__(self, "_injectq_key", key)
        object.__setattr__(self, "_injectq_value", _empty())

    def _injectq_resolve(self) -> Any:
        value = object.__getattribute__(self, "_injectq_value")
        if value is _empty():
            from injectq.core.container import InjectQ

            value = InjectQ.get_instance().get(object.__getattribute__(self, "_injectq_key"))
            object.__setattr__(self, "_injectq_value", value)
        return value

    @property  # type: ignore[misc]  # shadows object.__class__ on purpose
    def __class__(self) -> type[Any]:
        """The resolved object's class, so ``isinstance(marker, T)`` holds as for
        InjectQ's lazy proxy (``type(marker)`` is still ``Inject``)."""
        return type(self._injectq_resolve())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._injectq_resolve(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the resolved object (a marker for a callable dependency works as it does)."""
        return self._injectq_resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        key = object.__getattribute__(self, "_injectq_key")
        return f"Inject[{getattr(key, '__qualname__', key)!s}]"


def inject_key_of(default: Any) -> Any:
    """The key an ``Inject[...]`` default asks for, or EMPTY."""
    if type(default) is Inject:
        return object.__getattribute__(default, "_injectq_key")
    return EMPTY
