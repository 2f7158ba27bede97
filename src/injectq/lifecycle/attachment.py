"""Where a resource instance's state is kept: on the instance, or aside.

The container sets the state on the instance itself (``_injectq_resource_state``), past
the class's own ``__setattr__``. Instances that refuse attributes (``__slots__``,
``@dataclass(slots=True)``) keep it aside, by id, in a table here. The table holds the
state weakly, so an idle state (never initialized, failed, disposed) goes with its last
user, and while it lives it keeps its instance alive, so the id cannot be reused under
it. A state in use (initializing, live, disposing) may have no other holder (a user's own
``initialize()`` on an instance nobody else tracks): :data:`aside_in_use` holds it until
it is idle again; the state machine adds and discards it there.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from injectq.lifecycle.states import LIVE

if TYPE_CHECKING:
    from injectq.lifecycle.machine import ResourceState

__all__ = [
    "aside_in_use",
    "aside_state",
    "attached_state",
    "del_attribute",
    "keep_aside",
    "set_attribute",
]

_aside: dict[int, weakref.ref[ResourceState]] = {}
aside_in_use: set[ResourceState] = set()

# typed loosely: also compared with a class's own __setattr__ / __delattr__
set_attribute: Callable[..., None] = object.__setattr__
del_attribute: Callable[..., None] = object.__delattr__


def attached_state(instance: Any) -> ResourceState | None:
    """The state set on ``instance`` itself, if any."""
    try:
        return instance._injectq_resource_state  # type: ignore[no-any-return]
    except AttributeError:
        return None


def aside_state(instance: Any) -> ResourceState | None:
    """The state kept aside for ``instance``, if any."""
    ref = _aside.get(id(instance))
    if ref is None:
        return None
    st = ref()
    return st if st is not None and st.instance is instance else None


def keep_aside(instance: Any, st: ResourceState) -> None:
    """Under the state machine's lock: ``st`` is the state of ``instance``, which cannot
    carry it."""
    key = id(instance)

    def forget(ref: weakref.ref[ResourceState]) -> None:
        # called while the state is being freed, its instance still alive: no other
        # instance can have this id yet
        if _aside.get(key) is ref:
            del _aside[key]

    st.kept_aside = True
    _aside[key] = weakref.ref(st, forget)
    if st.status == LIVE:  # no initialize(): in use from creation
        aside_in_use.add(st)
