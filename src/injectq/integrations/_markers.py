"""What the FastAPI and Taskiq markers share.

``InjectAPI[T]`` / ``InjectTask[T]`` must be both an ``Annotated[T, <dependency>]`` (so
they work as an annotation) and the framework's dependency object itself (so they work
as a default value). Frameworks recognise the first with ``typing.get_origin`` and the
second with ``isinstance``; one object of a class deriving from both satisfies each.
This leans on typing internals: when they change, only the annotation form remains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, TypeVar

__all__ = ["DependencyMarker", "make_marker", "marker_class"]

T = TypeVar("T")

_AnnotatedAlias: Any = type(Annotated[int, "injectq"])


def _origin(key: Any) -> Any:
    return key if isinstance(key, type) else Any


def marker_class(
    dependency_type: type[Any],
    fields_of: Callable[[Any], dict[str, Any]],
    probe: Callable[[Any], Any],
) -> type[Any] | None:
    """A class that is both ``Annotated[...]`` and ``dependency_type``, or None.

    ``fields_of(dep)`` lists the dependency object's fields, copied onto the marker;
    ``probe(callable)`` builds a dependency used once to check that the trick works."""
    try:

        class _Marker(_AnnotatedAlias, dependency_type, _root=True):  # type: ignore[misc,call-arg]
            def __init__(self, key: Any, depends: Any) -> None:
                _AnnotatedAlias.__init__(self, _origin(key), (depends,))
                for name, value in fields_of(depends).items():
                    object.__setattr__(self, name, value)

        check = _Marker(int, probe(int))
        if check.dependency is not int or check.__metadata__[0].dependency is not int:
            return None  # pragma: no cover - typing internals changed
    except Exception:  # pragma: no cover - typing internals changed: annotation form only
        return None
    return _Marker


def make_marker(marker: type[Any] | None, key: Any, depends: Any) -> Any:
    """``InjectX[key]``: the dual object when available, else ``Annotated[key, depends]``."""
    if marker is not None:
        return marker(key, depends)
    return Annotated[_origin(key), depends]  # pragma: no cover


class DependencyMarker(Generic[T]):
    """The runtime class of ``InjectAPI`` / ``InjectTask``: ``Name[T]`` is the dual marker
    (:func:`make_marker`), ``Name(T)`` the framework's dependency itself (for
    ``Annotated`` metadata or a parameter's default). A subclass names its framework's
    two makers; type checkers see an ``Annotated`` alias instead (in each module)."""

    __slots__ = ()
    #: the framework's dependency object resolving a key
    depends: ClassVar[Callable[[Any], Any]]
    #: the dual class of :func:`marker_class` (None: the annotation form only)
    marker: ClassVar[type[Any] | None]

    def __new__(cls, service_type: Any) -> Any:
        """``Name(T)``: the framework's dependency resolving ``T``."""
        return cls.depends(service_type)

    def __class_getitem__(cls, service_type: Any) -> Any:
        if isinstance(service_type, TypeVar):
            return super().__class_getitem__(service_type)  # type: ignore[misc]
        return make_marker(cls.marker, service_type, cls.depends(service_type))
