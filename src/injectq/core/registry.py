"""Registration: the registry of a container's bindings (key -> :class:`Binding`).

Adding to it is all-or-nothing: a registration that binds more than one key (an
instance and its concrete class, see ``allow_concrete``) either binds every key or,
when the container refuses overrides, none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from injectq.utils.exceptions import AlreadyRegisteredError, describe_key

if TYPE_CHECKING:
    from injectq.core.bindings import Binding

__all__ = ["ServiceRegistry"]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


#: "no implementation given": ``bind(K)`` binds the class ``K`` to itself, while
#: ``bind(K, None)`` binds None (with ``allow_none=True``) or is an error.
_UNSET: Final[Any] = _Unset()


class ServiceRegistry(dict[Any, "Binding"]):
    """The bindings of one container, keyed by what they are bound to."""

    __slots__ = ()

    def add(self, bindings: Sequence[Binding], *, allow_override: bool) -> None:
        """Store ``bindings``; without ``allow_override`` a key already bound raises
        ``AlreadyRegisteredError`` and nothing is stored."""
        if not allow_override:
            for binding in bindings:
                if binding.key in self:
                    raise AlreadyRegisteredError(
                        f"{describe_key(binding.key)} is already bound and this container "
                        "was created with allow_override=False; unbind it first or use "
                        "override()."
                    )
        for binding in bindings:
            self[binding.key] = binding
