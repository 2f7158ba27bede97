"""Overrides: the stack of bindings of one overridden key (see ``InjectQ.override``).

The overrides of one key form a stack whose top is in effect; any of them may end first
(overlapping blocks in concurrent tasks or threads). Each layer remembers what it needs
to restore the one below it. :func:`depends_on` tells which singletons built during an
override may hold the overridden value, from the compiler's plans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from injectq.core.bindings import SINGLETON, Binding, Kind, make_binding

if TYPE_CHECKING:
    from injectq.core.compiler import Compiler

__all__ = ["MISS", "OverrideLayer", "OverrideStack", "depends_on"]

#: no built singleton (an override layer's ``covered_ready`` when it covers none)
MISS: Any = object()


class OverrideLayer:
    """One binding on a key's override stack (the first is the key's own, maybe None)."""

    __slots__ = ("binding", "covered_ready", "ready_at_entry")

    def __init__(self, binding: Binding | None) -> None:
        self.binding = binding
        # its built singleton while another override covers it, restored when uncovered
        self.covered_ready: Any = MISS
        # the ready dict when it began: what was built during it is what is not in there
        self.ready_at_entry: dict[Any, Any] = {}


class OverrideStack:
    """The overrides of one key in the order they began; the last one is in effect."""

    __slots__ = ("implicit", "layers")

    def __init__(self, original: Binding | None, implicit: Binding | None) -> None:
        self.layers = [OverrideLayer(original)]
        self.implicit = implicit  # the original, or the autowired binding of a class

    def binding_of(self, key: Any, value: Any, scope: Any) -> Binding:
        """``value`` as a binding of ``key``, classified against the original binding
        (never against another override: which one began first must not matter)."""
        original = self.layers[0].binding
        if original is not None and original.kind is Kind.INSTANCE:
            return make_binding(key, value, SINGLETON, allow_none=True, as_instance=True)
        implicit = self.implicit
        if scope is not None:
            new_scope = scope
        elif implicit is not None and implicit.kind is not Kind.INSTANCE:
            new_scope = implicit.scope
        else:
            new_scope = SINGLETON
        return make_binding(key, value, new_scope, allow_none=True)


def depends_on(compiler: Compiler, key: Any, target: Any) -> bool:
    """Whether the plan of ``key`` reaches ``target`` (or cannot be told: then yes)."""
    if key == target:
        return True
    try:
        with compiler.lock:
            root = compiler.plan(key)
    except Exception:
        return True
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for dep in node.dependencies:
            if dep.key == target:
                return True
            todo.append(dep)
    return False
