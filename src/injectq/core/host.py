"""What the compiler may use of its container: a small, explicit interface.

Planning, code generation and the singleton walk need a few of the container's parts,
and nothing else of it. :class:`ContainerHost` holds exactly those, as plain attributes
(the same objects the container holds, never copies), so the compiler's modules neither
import the container nor reach into its private attributes, and a change to the
container that keeps these parts keeps the compiler working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from injectq.core.bindings import Binding
    from injectq.core.scopes import Scope
    from injectq.lifecycle.monitor import ResourceMonitor

__all__ = ["ContainerHost"]


class ContainerHost:
    """The parts of one container that its compiler uses (made once, by the container)."""

    __slots__ = (
        "bindings",
        "default_dispose_timeout",
        "default_init_timeout",
        "inflight",
        "monitor",
        "pending_singletons",
        "publish_singleton",
        "ready",
        "ready_get",
        "root",
        "scope_var",
        "slot_lock",
    )

    def __init__(
        self,
        *,
        bindings: Mapping[Any, Binding],
        ready: dict[Any, Any],
        inflight: dict[Any, Any],
        pending_singletons: dict[Any, Any],
        slot_lock: threading.Lock,
        scope_var: ContextVar[Scope],
        root: Scope,
        monitor: ResourceMonitor,
        default_init_timeout: float | None,
        default_dispose_timeout: float | None,
        publish_singleton: Callable[[Any, Any], bool],
    ) -> None:
        #: key -> Binding: the registry (read only)
        self.bindings = bindings
        #: key -> built singleton or plain instance: what ``get`` finds in one lookup
        self.ready = ready
        self.ready_get = ready.get
        #: key -> creation claim of a singleton being built (see core.claims)
        self.inflight = inflight
        #: key -> singleton whose async initialization ``get()`` scheduled (not ready yet)
        self.pending_singletons = pending_singletons
        #: held to publish a pending singleton against a concurrent restore of the ready dict
        self.slot_lock = slot_lock
        #: the innermost scope of this context (its default is the root scope)
        self.scope_var = scope_var
        #: the container's own scope: owner of singletons and root-resolved transients
        self.root = root
        self.monitor = monitor
        self.default_init_timeout = default_init_timeout
        self.default_dispose_timeout = default_dispose_timeout
        #: ``publish_singleton(key, value)``: make a built singleton ``get``-able;
        #: False when it is parked as pending
        self.publish_singleton = publish_singleton
