"""Lifecycle metrics: always on, cheap enough to never turn off.

The monitor owns the counters (one :class:`ResourceTypeStats` per type) and the
subscribers. It counts nothing itself: every count is written by the state machine's
transition that makes it (``ResourceState._created``, ``_succeeded``, ``_failed``,
``_disposed`` in :mod:`injectq.lifecycle.machine`) into the counters the state holds,
with no call per transition; the monitor is called only to publish. Counting is a few integer increments and one ``perf_counter`` delta
per transition; event records are only built when somebody subscribed, so an unobserved
container pays almost nothing.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import asyncio

    from injectq.resources.pool import ResourcePool

__all__ = [
    "LIFECYCLE_KINDS",
    "EventKind",
    "ResourceEvent",
    "ResourceMonitor",
    "ResourceTypeStats",
    "logging_subscriber",
]

_log = logging.getLogger("injectq.resources")

EventKind = Literal[
    "created",
    "initialized",
    "init_failed",
    "disposed",
    "dispose_failed",
    # from pools attached with ResourceMonitor.watch_pool():
    "pool_created",
    "pool_acquired",
    "pool_released",
    "pool_discarded",
    "pool_initialized",
    "pool_disposed",
]
LIFECYCLE_KINDS: frozenset[str] = frozenset(
    {"created", "initialized", "init_failed", "disposed", "dispose_failed"}
)

#: How many recent lifetimes/durations each type keeps for median and p95.
_SAMPLE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class ResourceEvent:
    """One lifecycle transition, as delivered to subscribers.

    ``key`` names the binding (a class's qualname or the string key), ``resource_type``
    the instance's class, ``scope`` the owning scope (``root`` for the container).
    ``duration`` is the initialization/disposal time in seconds (a pool's wait time for
    ``pool_acquired``), ``lifetime`` the seconds from initialized to disposed, ``error``
    the exception of a failed step.
    """

    kind: EventKind
    key: str
    resource_type: str
    scope: str
    duration: float | None = None
    lifetime: float | None = None
    error: BaseException | None = None


def _summary(samples: deque[float]) -> dict[str, float]:
    import statistics

    if not samples:
        return {"count": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    data = sorted(samples)
    p95 = data[min(len(data) - 1, round(0.95 * (len(data) - 1)))]
    return {
        "count": len(data),
        "mean": statistics.fmean(data),
        "median": statistics.median(data),
        "p95": p95,
        "max": data[-1],
    }


@dataclass(slots=True)
class ResourceTypeStats:
    """Running counters for one resource type."""

    created: int = 0
    initialized: int = 0
    #: created and initialized at once (an activation of a fresh instance): one counter
    #: for the two on the hot path; the snapshot adds it to both
    activated: int = 0
    disposed: int = 0
    init_errors: int = 0
    dispose_errors: int = 0
    lifetimes: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLE_SIZE))
    init_durations: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLE_SIZE))
    dispose_durations: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLE_SIZE))
    max_lifetime: float = 0.0

    @property
    def active(self) -> int:
        """Instances of this type initialized and not yet disposed."""
        return self.initialized + self.activated - self.disposed

    @property
    def unused(self) -> bool:
        """Nothing recorded (since the last reset): every record counts something."""
        return not (
            self.created
            or self.initialized
            or self.activated
            or self.disposed
            or self.init_errors
            or self.dispose_errors
            or self.lifetimes
            or self.init_durations
        )

    def clear(self) -> None:
        """Zero in place: whoever holds this object keeps counting into the monitor."""
        self.created = self.initialized = self.activated = self.disposed = 0
        self.init_errors = self.dispose_errors = 0
        self.lifetimes.clear()
        self.init_durations.clear()
        self.dispose_durations.clear()
        self.max_lifetime = 0.0

    def snapshot(self) -> dict[str, Any]:
        """The counters and the lifetime/duration summaries (count, mean, median, p95, max)
        as a plain dict, safe to serialise."""
        lifetime = _summary(self.lifetimes)
        lifetime["max"] = max(lifetime["max"], self.max_lifetime)
        return {
            "created": self.created + self.activated,
            "initialized": self.initialized + self.activated,
            "disposed": self.disposed,
            "active": self.active,
            "init_errors": self.init_errors,
            "dispose_errors": self.dispose_errors,
            "lifetime": lifetime,
            "init_duration": _summary(self.init_durations),
            "dispose_duration": _summary(self.dispose_durations),
        }


class ResourceMonitor:
    """Per resource type counts, durations and lifetimes, plus event subscriptions.

    ``container.resource_monitor`` is the container's monitor; ``snapshot()`` (also
    ``container.resource_metrics()``) returns plain dicts safe to serialise.

    Examples:
        >>> from injectq import InjectQ, resource
        >>> @resource
        ... class Session:
        ...     def dispose(self) -> None:
        ...         pass
        >>> with InjectQ() as container:
        ...     container.bind(Session, Session, scope="request")
        ...     seen = []
        ...     stop = container.resource_monitor.subscribe(lambda event: seen.append(event.kind))
        ...     for _ in range(2):
        ...         with container.scope("request"):
        ...             _ = container.get(Session)
        ...     stop()  # unsubscribes
        ...     metrics = container.resource_metrics()["Session"]
        >>> seen[:3]
        ['created', 'initialized', 'disposed']
        >>> metrics["created"], metrics["disposed"], metrics["active"]
        (2, 2, 0)
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._stats: dict[str, ResourceTypeStats] = {}
        self._subscribers: tuple[Callable[[ResourceEvent], Any], ...] = ()
        self._lock = threading.Lock()
        self._pools: dict[str, ResourcePool[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- reading -------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{resource type: counters and timing summaries}`` of every type seen since the
        last reset, sorted by name: plain dicts, safe to serialise or log."""
        with self._lock:
            return {
                name: stats.snapshot()
                for name, stats in sorted(self._stats.items())
                if not stats.unused
            }

    def active_counts(self) -> dict[str, int]:
        """``{resource type: live instances}``, without the timing summaries (cheap)."""
        with self._lock:
            return {name: stats.active for name, stats in self._stats.items() if not stats.unused}

    def stats_for(self, resource_type: str | type) -> dict[str, Any]:
        """The counters of one type (by class or name); all zero if it was never seen.
        ``m.stats_for(Database)["active"]`` is the number of live instances."""
        name = resource_type if isinstance(resource_type, str) else resource_type.__name__
        with self._lock:
            stats = self._stats.get(name)
            return (stats or ResourceTypeStats()).snapshot()

    def reset(self) -> None:
        """Zero every counter and drop the samples (the types stay known: holders of their
        counters keep counting into them). Live instances are not touched."""
        with self._lock:
            for stats in self._stats.values():
                stats.clear()  # in place: see type_stats

    def pool_metrics(self) -> dict[str, dict[str, int | float]]:
        """``{name: pool.stats()}`` of the pools attached with :meth:`watch_pool`."""
        with self._lock:
            pools = sorted(self._pools.items())
        return {name: pool.stats().as_dict() for name, pool in pools}

    # -- subscribing ---------------------------------------------------------------
    def subscribe(self, callback: Callable[[ResourceEvent], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` on every transition; returns the unsubscribe function.

        Callbacks run synchronously in the thread that made the transition, so keep them
        quick. An ``async def`` callback is scheduled as a task on the running event loop
        (dropped, with a warning, when there is none). A callback that raises is logged
        (logger ``injectq.resources``) and never breaks the lifecycle.
        """
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                subs = list(self._subscribers)
                if callback in subs:
                    subs.remove(callback)
                self._subscribers = tuple(subs)

        return unsubscribe

    # -- the counters the state machine writes ---------------------------------------
    def type_stats(self, resource_type: str) -> ResourceTypeStats:
        """The running counters of one type, for a resource state or context entry that
        keeps them to count into (no look-up per event): the same object for the
        monitor's life, since :meth:`reset` zeroes it in place."""
        stats = self._stats.get(resource_type)
        if stats is None:
            with self._lock:
                stats = self._stats.setdefault(resource_type, ResourceTypeStats())
        return stats

    def watch_pool(self, pool: ResourcePool[Any], name: str | None = None) -> Callable[[], None]:
        """Publish ``pool``'s events (``pool_acquired`` with the wait time, ``pool_created``,
        ``pool_released``, ``pool_discarded``, ...) to the subscribers and list the pool in
        :meth:`pool_metrics`. Returns the function that detaches it again."""
        label = name or f"ResourcePool#{id(pool):x}"

        def listener(event: str, source: Any, **info: Any) -> None:
            if self._subscribers:
                wait = info.get("wait_time")
                kind: Any = f"pool_{event}"
                self._publish(ResourceEvent(kind, label, type(source).__name__, "-", wait))

        with self._lock:
            self._pools[label] = pool
        pool._listeners.append(listener)

        def unwatch() -> None:
            with self._lock:
                if self._pools.get(label) is pool:
                    del self._pools[label]
            if listener in pool._listeners:
                pool._listeners.remove(listener)

        return unwatch

    def _publish(self, event: ResourceEvent) -> None:
        for callback in self._subscribers:
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._schedule(callback, result, event)
            except Exception:
                # A broken subscriber must never break a lifecycle; it is logged, not hidden.
                _log.exception("ResourceMonitor subscriber %r failed on %s", callback, event)

    def _schedule(self, callback: Any, result: Any, event: ResourceEvent) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if inspect.iscoroutine(result):
                result.close()
            _log.warning(
                "async ResourceMonitor subscriber %r dropped %s: no running event loop",
                callback,
                event,
            )
            return
        task = loop.create_task(_run_subscriber(callback, result, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- publishing what the state machine counted (lifecycle/machine.py) -------------
    # The counting itself is in the transitions (ResourceState._created, _succeeded,
    # _failed, _disposed): going live and disposing run per activation, and a call here
    # cost about a tenth of a request scope's time. They call these only when somebody
    # subscribed. ``activation``: a resource state or a context entry (its label, type
    # name and scope label name the event).
    def publish_created(self, activation: Any) -> None:
        """Publish the creation of an activation."""
        self._publish(
            ResourceEvent("created", activation.label, activation.type_name, activation.scope_label)
        )

    def publish_live(self, activation: Any, duration: float, created: bool) -> None:
        """Publish an activation that went live after ``duration`` seconds (``created``:
        created in the same step, so a ``created`` event first)."""
        if created:
            self.publish_created(activation)
        self._publish(
            ResourceEvent(
                "initialized",
                activation.label,
                activation.type_name,
                activation.scope_label,
                duration,
            )
        )

    def publish_init_failed(self, activation: Any, duration: float, error: BaseException) -> None:
        """Publish a failed initialization (``error``, after ``duration`` seconds)."""
        self._publish(
            ResourceEvent(
                "init_failed",
                activation.label,
                activation.type_name,
                activation.scope_label,
                duration,
                error=error,
            )
        )

    def publish_disposed(
        self, activation: Any, duration: float, lifetime: float, error: BaseException | None
    ) -> None:
        """Publish a disposal (``error``: it failed) after ``lifetime`` seconds live."""
        kind: EventKind = "disposed" if error is None else "dispose_failed"
        self._publish(
            ResourceEvent(
                kind,
                activation.label,
                activation.type_name,
                activation.scope_label,
                duration,
                lifetime,
                error,
            )
        )


async def _run_subscriber(callback: Any, result: Any, event: ResourceEvent) -> None:
    try:
        await result
    except Exception:
        _log.exception("ResourceMonitor subscriber %r failed on %s", callback, event)


def logging_subscriber(
    logger: logging.Logger | None = None, level: int = logging.INFO
) -> Callable[[ResourceEvent], None]:
    """A ready-made subscriber that writes one log line per lifecycle event.

    Failures are logged at ``WARNING``, lifecycle events at ``level`` and pool events
    (which can be many) at ``DEBUG``.

    Examples:
        >>> import logging, sys
        >>> from injectq import InjectQ, logging_subscriber, resource
        >>> log = logging.getLogger("example.resources")
        >>> handler = logging.StreamHandler(sys.stdout)
        >>> log.addHandler(handler)
        >>> log.setLevel(logging.INFO)
        >>> @resource
        ... class Session:
        ...     def initialize(self) -> None:
        ...         pass
        >>> with InjectQ() as container:
        ...     stop = container.resource_monitor.subscribe(logging_subscriber(log))
        ...     container.bind(Session, Session, scope="request")
        ...     with container.scope("request"):
        ...         _ = container.get(Session)
        created Session [Session] scope=request
        initialized Session [Session] scope=request in ... ms
        disposed Session [Session] scope=request...
        >>> log.removeHandler(handler)
    """
    target = logger or _log

    def log_event(event: ResourceEvent) -> None:
        duration = "" if event.duration is None else f" in {event.duration * 1000:.2f} ms"
        error = "" if event.error is None else f": {event.error!r}"
        if event.error is not None:
            event_level = logging.WARNING
        elif event.kind in LIFECYCLE_KINDS:
            event_level = level
        else:
            event_level = logging.DEBUG
        if not target.isEnabledFor(event_level):
            return
        target.log(
            event_level,
            "%s %s [%s] scope=%s%s%s",
            event.kind,
            event.resource_type,
            event.key,
            event.scope,
            duration,
            error,
        )

    return log_event
