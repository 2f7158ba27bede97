"""OpenTelemetry metrics for injectq's resource monitor (``pip install injectq[otel]``).

``instrument(container)`` subscribes to the container's :class:`ResourceMonitor` and
records every lifecycle event through ``opentelemetry-api`` instruments; the returned
function stops it. Nothing here is imported by ``import injectq``.

Instruments (attributes ``injectq.resource.type`` and ``injectq.scope``; failures add
``error.type``):

================================  ================  ==========================
name                              kind              unit
================================  ================  ==========================
``injectq.resource.created``      Counter           ``{resource}``
``injectq.resource.initialized``  Counter           ``{resource}``
``injectq.resource.disposed``     Counter           ``{resource}``
``injectq.resource.errors``       Counter           ``{error}`` (+ ``injectq.phase``:
                                                    ``initialize`` / ``dispose``)
``injectq.resource.active``       UpDownCounter     ``{resource}`` (observed from the
                                                    monitor at collection time)
``injectq.resource.init.duration``     Histogram    ``s``
``injectq.resource.dispose.duration``  Histogram    ``s``
``injectq.resource.lifetime``          Histogram    ``s``
``injectq.pool.acquired``         Counter           ``{item}`` (pools attached with
                                                    ``monitor.watch_pool``)
``injectq.pool.wait_time``        Histogram         ``s``
================================  ================  ==========================
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter_provider

from injectq.core.container import InjectQ
from injectq.lifecycle.monitor import ResourceEvent, ResourceMonitor

__all__ = ["instrument"]

_SCOPE_NAME = "injectq"
TYPE_ATTR = "injectq.resource.type"
SCOPE_ATTR = "injectq.scope"
PHASE_ATTR = "injectq.phase"
ERROR_ATTR = "error.type"
POOL_ATTR = "injectq.pool"


def _version() -> str:
    import injectq

    return injectq.__version__


def instrument(
    container_or_monitor: InjectQ | ResourceMonitor,
    meter_provider: MeterProvider | None = None,
) -> Callable[[], None]:
    """Record ``container_or_monitor``'s resource metrics through OpenTelemetry.

    ``meter_provider`` defaults to the global one (``opentelemetry.metrics``). Returns
    the function that detaches the instrumentation again (idempotent).
    """
    monitor = (
        container_or_monitor
        if isinstance(container_or_monitor, ResourceMonitor)
        else container_or_monitor.resource_monitor
    )
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    meter = provider.get_meter(_SCOPE_NAME, _version())

    created = meter.create_counter(
        "injectq.resource.created", "{resource}", "Resource instances created"
    )
    initialized = meter.create_counter(
        "injectq.resource.initialized", "{resource}", "Resource activations that succeeded"
    )
    disposed = meter.create_counter(
        "injectq.resource.disposed", "{resource}", "Resource disposals (failed ones included)"
    )
    errors = meter.create_counter(
        "injectq.resource.errors", "{error}", "Failed initializations and disposals"
    )
    init_duration = meter.create_histogram(
        "injectq.resource.init.duration", "s", "Time spent in initialize()"
    )
    dispose_duration = meter.create_histogram(
        "injectq.resource.dispose.duration", "s", "Time spent in dispose()"
    )
    lifetime = meter.create_histogram(
        "injectq.resource.lifetime", "s", "Time from initialized to disposed"
    )
    pool_acquired = meter.create_counter(
        "injectq.pool.acquired", "{item}", "Items lent out by watched pools"
    )
    pool_wait = meter.create_histogram(
        "injectq.pool.wait_time", "s", "Time callers waited for a pool item"
    )

    active_on = threading.Event()
    active_on.set()

    def observe_active(options: CallbackOptions) -> Iterable[Observation]:
        if not active_on.is_set():
            return []
        return [
            Observation(count, {TYPE_ATTR: name})
            for name, count in sorted(monitor.active_counts().items())
        ]

    meter.create_observable_up_down_counter(
        "injectq.resource.active",
        [observe_active],
        "{resource}",
        "Resource instances currently live",
    )

    def record(event: ResourceEvent) -> None:
        kind = event.kind
        if kind.startswith("pool_"):
            if kind == "pool_acquired":
                attrs: dict[str, Any] = {POOL_ATTR: event.key}
                pool_acquired.add(1, attrs)
                if event.duration is not None:
                    pool_wait.record(event.duration, attrs)
            return
        attrs = {TYPE_ATTR: event.resource_type, SCOPE_ATTR: event.scope}
        if kind == "created":
            created.add(1, attrs)
        elif kind == "initialized":
            initialized.add(1, attrs)
            if event.duration is not None:
                init_duration.record(event.duration, attrs)
        elif kind == "init_failed":
            errors.add(1, {**attrs, PHASE_ATTR: "initialize", ERROR_ATTR: _error_type(event)})
            if event.duration is not None:
                init_duration.record(event.duration, {**attrs, ERROR_ATTR: _error_type(event)})
        elif kind in ("disposed", "dispose_failed"):
            disposed.add(1, attrs)
            failed = {**attrs, ERROR_ATTR: _error_type(event)} if event.error else attrs
            if event.error is not None:
                errors.add(1, {**failed, PHASE_ATTR: "dispose"})
            if event.duration is not None:
                dispose_duration.record(event.duration, failed)
            if event.lifetime is not None:
                lifetime.record(event.lifetime, attrs)

    unsubscribe = monitor.subscribe(record)

    def uninstrument() -> None:
        active_on.clear()
        unsubscribe()

    return uninstrument


def _error_type(event: ResourceEvent) -> str:
    return type(event.error).__qualname__ if event.error is not None else "none"
