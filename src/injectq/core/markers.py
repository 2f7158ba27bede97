"""``Inject[T]``: the parameter-default marker.

It lives in the core because planning must recognise it; ``injectq.decorators``
re-exports it (imports point one way: decorators use core, not the reverse).
"""

from __future__ import annotations

from typing import Any, Final, Generic, TypeVar

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


class Inject(Generic[T]):
    """``def handler(svc: Service = Inject[Service])``: inject ``Service`` here.

    Outside ``@inject`` the marker resolves lazily on first attribute access from the
    active container (``InjectQ.get_instance()``), as InjectQ does.
    """

    __slots__ = ("_injectq_key", "_injectq_value")

    def __init__(self, key: Any) -> None:
        object.__setattr__(self, "_injectq_key", key)
        object.__setattr__(self, "_injectq_value", _empty())

    def __class_getitem__(cls, key: Any) -> Any:
        if isinstance(key, TypeVar):
            return super().__class_getitem__(key)  # type: ignore[misc]
        return cls(key)

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
        return self._injectq_resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        key = object.__getattribute__(self, "_injectq_key")
        return f"Inject[{getattr(key, '__qualname__', key)!s}]"


def inject_key_of(default: Any) -> Any:
    """The key an ``Inject[...]`` default asks for, or EMPTY."""
    if type(default) is Inject:
        return object.__getattribute__(default, "_injectq_key")
    return EMPTY
