"""Applying an override to a container: entering it and ending it, in any order.

``InjectQ.override`` is the public face; the override stack of one key and the question
of which built singletons depend on it are ``core/overrides.py``. This module changes the
container's registry and ready dict under its locks when an override starts and ends,
which is registration work, kept out of the façade so ``container.py`` stays the list of
what a container does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from injectq.core.overrides import MISS as _MISS
from injectq.core.overrides import OverrideLayer, OverrideStack, depends_on

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["end_override", "enter_override"]


def enter_override(
    container: InjectQ, service_type: Any, value: Any, scope: Any
) -> tuple[OverrideStack, OverrideLayer]:
    """Put an override of ``service_type`` on top of its stack; the layer to end it by."""
    with container._registry_lock:
        stack = container._overrides.get(service_type)
        if stack is None:
            stack = OverrideStack(
                container._bindings.get(service_type), container._compiler.binding_for(service_type)
            )
        binding = stack.binding_of(service_type, value, scope)
        layer = OverrideLayer(binding)
        with container._slot_lock:
            container._overrides[service_type] = stack
            stack.layers[-1].covered_ready = container._ready_get(service_type, _MISS)
            layer.ready_at_entry = dict(container._ready)
            stack.layers.append(layer)
            container._bindings[service_type] = binding
            container._ready.pop(service_type, None)
            container._pending_singletons.pop(service_type, None)
        container._invalidate()
    return stack, layer


def end_override(container: InjectQ, key: Any, stack: OverrideStack, layer: OverrideLayer) -> None:
    """Remove ``layer`` from the overrides of ``key``; the top one is then in effect."""
    with container._registry_lock:
        compiler = container._compiler  # plans made while the override was active
        before = layer.ready_at_entry
        with container._slot_lock:
            # singletons built during this override that depend on the key: they may
            # hold its value (the key's own entry is the top override's, handled below)
            for built, instance in list(container._ready.items()):
                if (
                    built != key
                    and before.get(built, _MISS) is not instance
                    and depends_on(compiler, built, key)
                ):
                    del container._ready[built]
            layers = stack.layers
            was_top = layers[-1] is layer
            layers.remove(layer)
            if was_top:  # the one below is in effect again, with what it had built
                top = layers[-1]
                if top.binding is None:
                    container._bindings.pop(key, None)
                else:
                    container._bindings[key] = top.binding
                container._pending_singletons.pop(key, None)
                if top.covered_ready is not _MISS:
                    container._ready[key] = top.covered_ready
                else:
                    container._ready.pop(key, None)
                top.covered_ready = _MISS
            if len(layers) == 1:
                del container._overrides[key]
        container._invalidate()
