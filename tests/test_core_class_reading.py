"""Core: what a class tells the container, read through its dicts along the MRO.

The cheap readers (``simple_hints``, ``class_attribute``) must agree with what
``analyze`` and ``getattr`` say, inherited definitions included, and send everything
they cannot tell to the general path.
"""

import abc
from typing import Any

import pytest

from injectq import Inject, InjectQ
from injectq.core.analysis import analyze, simple_hints
from injectq.utils.classes import class_attribute


class Leaf:
    pass


class Other:
    pass


class Plain:
    def __init__(self, leaf: Leaf, other: Other) -> None:
        self.leaf, self.other = leaf, other


class InheritsInit(Plain):
    pass


class Meta(type):
    pass


class WithMeta(metaclass=Meta):
    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf


class Port(abc.ABC):  # ABCMeta: a metaclass
    @abc.abstractmethod
    def go(self) -> None: ...


class PortImpl(Port):
    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf

    def go(self) -> None:
        pass


class NewInBase:
    def __new__(cls, *_args: Any) -> Any:
        return super().__new__(cls)


class NewAbove(NewInBase):
    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(Plain, [Leaf, Other]), (InheritsInit, [Leaf, Other]), (WithMeta, [Leaf]), (PortImpl, [Leaf])],
)
def test_simple_hints_read_plain_signatures(cls: type, expected: list[type]) -> None:
    assert simple_hints(cls) == expected
    assert [p.annotation for p in analyze(cls)] == expected


_LEAF = Leaf()


def _with_default(leaf: Leaf = _LEAF) -> None: ...
def _keyword_only(*, leaf: Leaf) -> None: ...
def _optional(leaf: Leaf | None) -> None: ...
def _builtin(name: str) -> None: ...
def _unannotated(leaf) -> None: ...  # type: ignore[no-untyped-def]
def _forward(leaf: "Leaf") -> None: ...
def _marker(leaf: Any = Inject[Leaf]) -> None: ...


@pytest.mark.parametrize(
    "fn",
    [
        _with_default,
        _keyword_only,
        _optional,
        _builtin,
        _unannotated,
        _forward,
        _marker,
        NewInBase,
        NewAbove,
    ],
)
def test_simple_hints_leave_everything_else_to_analyze(fn: Any) -> None:
    assert simple_hints(fn) is None


def test_a_class_without_init_has_no_parameters() -> None:
    assert simple_hints(Leaf) == []
    assert analyze(Leaf) == ()
    assert simple_hints(InheritsInit) == [Leaf, Other]  # read from the base's __init__


class Marked:
    _marker = "base"


class MarkedChild(Marked):
    pass


class MarkedOverride(Marked):
    _marker = "child"


class MetaMarked(type):
    _marker = "meta"


class ByMeta(metaclass=MetaMarked):
    pass


@pytest.mark.parametrize("cls", [Marked, MarkedChild, MarkedOverride, ByMeta, Leaf, int])
def test_class_attribute_agrees_with_getattr(cls: type) -> None:
    assert class_attribute(cls, "_marker", "none") == getattr(cls, "_marker", "none")


# ------------------------------------------------------------------ through the container
def test_an_inherited_lifetime_is_honoured_when_no_scope_is_given() -> None:
    class Base:
        _injectq_scope = "transient"

    class Child(Base):
        pass

    c = InjectQ()
    c.bind(Child, Child)
    assert c.get(Child) is not c.get(Child)


def test_an_inherited_resource_marker_makes_a_singleton_a_resource() -> None:
    events: list[str] = []

    class Base:
        _is_injectq_resource = True

        def initialize(self) -> None:
            events.append("init")

        def dispose(self) -> None:
            events.append("dispose")

    class Child(Base):
        def __init__(self, leaf: Leaf) -> None:
            self.leaf = leaf

    c = InjectQ()
    c.bind(Leaf, Leaf)
    c.bind(Child, Child)
    assert c.get(Child) is c.get(Child)
    assert events == ["init"]
    c.close()
    assert events == ["init", "dispose"]


def test_a_singleton_walk_feeds_by_type_whatever_the_dependency_is() -> None:
    class Top:
        def __init__(self, leaf: Leaf, other: Other, plain: Plain) -> None:
            self.leaf, self.other, self.plain = leaf, other, plain

    c = InjectQ()
    c.bind(Top, Top)
    c.bind(Leaf, Leaf, scope="transient")
    c.bind_instance(Other, other := Other())
    c.bind(Plain, Plain)
    top = c.get(Top)  # nothing built yet: every dependency is walked
    assert top.other is other
    assert top.plain is c.get(Plain)
    assert top.leaf is not top.plain.leaf  # transient: one each
    assert c.get(Top) is top


def test_a_singleton_walk_autowires_an_unbound_dependency() -> None:
    class Top:
        def __init__(self, plain: Plain) -> None:
            self.plain = plain

    c = InjectQ()
    c.bind(Top, Top)  # Plain, Leaf and Other are autowired (transient)
    top = c.get(Top)
    assert isinstance(top.plain.leaf, Leaf)
    assert c.get(Top) is top
    assert c.get(Plain) is not top.plain


# A base with ``__slots__ = ()`` adds no layout: the class is laid out as object's, yet
# its base is not object. The own-dict-only shortcut must not take it for a class of its
# own, or the markers and the ``__init__`` it defines would be missed.
class _SlottedMixin:
    __slots__ = ()
    _injectq_scope = "transient"
    _is_injectq_resource = True

    def __init__(self, leaf: Leaf) -> None:
        pass

    def initialize(self) -> None:
        pass


class _FromSlottedMixin(_SlottedMixin):
    pass


def test_a_slotted_base_is_read_like_any_other_base() -> None:
    from injectq.core.bindings import class_binding
    from injectq.lifecycle.machine import is_resource_class

    assert _FromSlottedMixin.__base__ is _SlottedMixin
    assert simple_hints(_FromSlottedMixin) == [Leaf]
    assert class_binding(_FromSlottedMixin, _FromSlottedMixin, None).scope == "transient"
    assert is_resource_class(_FromSlottedMixin)
