"""Reading a class attribute cheaply on a class nothing has looked at yet.

Containers mostly meet a class once, right after it was defined (bind it, build it). On
such a class ``getattr`` misses the type cache, and for a missing attribute it also
builds an ``AttributeError`` only to drop it: several times the cost of looking in the
class dicts along the MRO, which is what the look-up does anyway.
"""

from __future__ import annotations

from typing import Any

__all__ = ["class_attribute"]


def class_attribute(cls: type, name: str, default: Any = None) -> Any:
    """``getattr(cls, name, default)`` for a plain attribute a class or its bases may
    define (a marker, not a descriptor: the raw value is returned)."""
    if type(cls) is not type:  # a metaclass may supply the attribute
        return getattr(cls, name, default)
    namespace = cls.__dict__
    if name in namespace:
        return namespace[name]
    mro = cls.__mro__
    if len(mro) > 2:  # the markers injectq reads are never on object, the last one
        for base in mro[1:-1]:
            namespace = base.__dict__
            if name in namespace:
                return namespace[name]
    return default
