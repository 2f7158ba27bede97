"""Resolution timings: how long resolving each key takes, and how often it was ready.

Given a container, a started profiler times that container's ``get`` and ``aget`` calls
made in the context that started it (an instance found built counts as a cache hit):
it is a resolution trace (:mod:`injectq.diagnostics.tracing`) kept open from ``start()``
to ``stop()``, so a container nobody profiles pays nothing. Dependencies resolved
inside one call belong to that call's time. Any other code can be timed with
:meth:`DependencyProfiler.profile_resolution`, :meth:`~DependencyProfiler.profile_method`
or ``begin_resolution`` / ``end_resolution``.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from injectq.core.container import InjectQ
from injectq.diagnostics.tracing import Resolution, ResolutionTrace
from injectq.utils.exceptions import InjectQError, describe_key

__all__ = ["AggregatedMetrics", "DependencyProfiler", "ResolutionMetrics"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ResolutionMetrics:
    """One timed resolution (``resolution_time`` in seconds)."""

    service_type: Any
    resolution_time: float
    cache_hit: bool
    thread_id: int


@dataclass
class AggregatedMetrics:
    """Every timed resolution of one key, summed up."""

    service_type: Any
    total_resolutions: int = 0
    cache_hits: int = 0
    total_time: float = 0.0
    min_time: float = float("inf")
    max_time: float = 0.0

    @property
    def cache_misses(self) -> int:
        """How many of the resolutions created a new instance."""
        return self.total_resolutions - self.cache_hits

    @property
    def cache_hit_rate(self) -> float:
        """The share of resolutions served by an existing instance, 0.0 to 1.0 (0.0 when none)."""
        return self.cache_hits / self.total_resolutions if self.total_resolutions else 0.0

    @property
    def average_time(self) -> float:
        """The mean time of one resolution, in seconds (0.0 when none)."""
        return self.total_time / self.total_resolutions if self.total_resolutions else 0.0

    def add(self, metric: ResolutionMetrics) -> None:
        """Count ``metric`` in these totals (the profiler does it for each resolution)."""
        self.total_resolutions += 1
        self.cache_hits += metric.cache_hit
        self.total_time += metric.resolution_time
        self.min_time = min(self.min_time, metric.resolution_time)
        self.max_time = max(self.max_time, metric.resolution_time)


class DependencyProfiler:
    """Records resolution timings while active (``with profiler:`` or ``start()`` /
    ``stop()``); with a ``container``, its ``get`` / ``aget`` calls are timed."""

    def __init__(self, container: InjectQ | None = None) -> None:
        self.container = container
        self._active = False
        self._lock = threading.Lock()
        self._metrics: list[ResolutionMetrics] = []
        self._aggregated: dict[Any, AggregatedMetrics] = {}
        self._started: dict[tuple[int, Any], list[float]] = {}
        self._trace: ResolutionTrace | None = None

    # ------------------------------------------------------------------ on and off
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:  # stops whatever ended the block
        self.stop()

    def start(self) -> None:
        """Start recording (and timing the container's resolutions in this context, if
        given a container)."""
        if self._active:
            return
        self._active = True
        if self.container is not None:
            self._trace = ResolutionTrace(self.container, on_done=self._record_resolution)
            self._trace.__enter__()

    def stop(self) -> None:
        """Stop recording; what was recorded stays until :meth:`reset`."""
        self._active = False
        trace, self._trace = self._trace, None
        if trace is not None:
            trace.__exit__(None, None, None)

    def is_active(self) -> bool:
        """Whether the profiler is recording (between :meth:`start` and :meth:`stop`)."""
        return self._active

    def _record_resolution(self, resolution: Resolution) -> None:
        self._record(resolution.key, resolution.duration, not resolution.created)

    # ------------------------------------------------------------------ recording
    def _record(self, service_type: Any, elapsed: float, cache_hit: bool) -> None:
        metric = ResolutionMetrics(service_type, elapsed, cache_hit, threading.get_ident())
        with self._lock:
            self._metrics.append(metric)
            aggregated = self._aggregated.get(service_type)
            if aggregated is None:
                aggregated = self._aggregated[service_type] = AggregatedMetrics(service_type)
            aggregated.add(metric)

    def begin_resolution(self, service_type: Any) -> None:
        """Mark the start of resolving ``service_type`` in this thread (nests)."""
        if self._active:
            self._started.setdefault((threading.get_ident(), service_type), []).append(
                time.perf_counter()
            )

    def end_resolution(self, service_type: Any, cache_hit: bool = False) -> None:
        """Record the resolution of ``service_type`` begun last in this thread."""
        if not self._active:
            return
        ended = time.perf_counter()
        starts = self._started.get((threading.get_ident(), service_type))
        if not starts:
            raise InjectQError(
                f"end_resolution({describe_key(service_type)}) without a matching "
                "begin_resolution() in this thread."
            )
        self._record(service_type, ended - starts.pop(), cache_hit)

    @contextmanager
    def profile_resolution(self, service_type: Any, cache_hit: bool = False) -> Iterator[None]:
        """Time the block as one resolution of ``service_type``."""
        self.begin_resolution(service_type)
        try:
            yield
        finally:
            self.end_resolution(service_type, cache_hit)

    def profile_method(self, func: F) -> F:
        """Decorator: time each call of ``func`` (sync or async) as a resolution of it."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.profile_resolution(func):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.profile_resolution(func):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._metrics.clear()
            self._aggregated.clear()
            self._started.clear()

    # ------------------------------------------------------------------ reading
    def get_metrics(self) -> list[ResolutionMetrics]:
        """A copy of every recorded resolution, in the order they finished."""
        with self._lock:
            return list(self._metrics)

    def get_aggregated_metrics(self) -> dict[Any, AggregatedMetrics]:
        """A copy of the per-key totals: ``{service_type: AggregatedMetrics}``."""
        with self._lock:
            return dict(self._aggregated)

    def get_slowest_resolutions(self, limit: int = 10) -> list[ResolutionMetrics]:
        """The ``limit`` slowest single resolutions, slowest first: where a slow startup or
        request spends its time."""
        return sorted(self.get_metrics(), key=lambda m: m.resolution_time, reverse=True)[:limit]

    def get_most_resolved(self, limit: int = 10) -> list[AggregatedMetrics]:
        """The totals of the ``limit`` keys resolved most often, most first: the candidates
        for a longer lifetime."""
        aggregated = self.get_aggregated_metrics().values()
        return sorted(aggregated, key=lambda a: a.total_resolutions, reverse=True)[:limit]

    def get_cache_performance(self) -> dict[str, float]:
        """``{"hits": ..., "misses": ..., "hit_rate": ...}`` over every recorded resolution
        (a hit returns an existing instance, a miss creates one)."""
        metrics = self.get_metrics()
        hits = sum(m.cache_hit for m in metrics)
        return {
            "hits": hits,
            "misses": len(metrics) - hits,
            "hit_rate": hits / len(metrics) if metrics else 0.0,
        }

    def get_timing_statistics(self) -> dict[str, float]:
        """Total, mean, min, max and population standard deviation, in seconds."""
        times = [m.resolution_time for m in self.get_metrics()]
        if not times:
            return dict.fromkeys(
                ("total_time", "average_time", "min_time", "max_time", "std_dev"), 0.0
            )
        return {
            "total_time": sum(times),
            "average_time": statistics.fmean(times),
            "min_time": min(times),
            "max_time": max(times),
            "std_dev": statistics.pstdev(times),
        }

    def report(self, detailed: bool = False) -> str:
        """A text report: totals, cache hit rate, the slowest resolutions (and, when
        ``detailed``, every key's figures)."""
        timing = self.get_timing_statistics()
        cache = self.get_cache_performance()
        metrics = self.get_metrics()
        lines = [
            "InjectQ Dependency Profiling Report",
            "=" * 35,
            f"Total resolutions: {len(metrics)}",
            f"Total time: {timing['total_time'] * 1000:.3f} ms",
            f"Average time: {timing['average_time'] * 1000:.3f} ms",
            f"Cache hit rate: {cache['hit_rate']:.1%}",
            "",
            "Slowest Resolutions:",
        ]
        for metric in self.get_slowest_resolutions(5):
            hit = " (cache hit)" if metric.cache_hit else ""
            lines.append(
                f"  {describe_key(metric.service_type)}: "
                f"{metric.resolution_time * 1000:.3f} ms{hit}"
            )
        if detailed:
            lines += ["", "Detailed Service Metrics:"]
            for agg in self.get_most_resolved(len(self._aggregated)):
                lines.append(
                    f"  {describe_key(agg.service_type)}: {agg.total_resolutions} "
                    f"resolution(s), average {agg.average_time * 1000:.3f} ms, "
                    f"min {agg.min_time * 1000:.3f} ms, max {agg.max_time * 1000:.3f} ms, "
                    f"cache hit rate {agg.cache_hit_rate:.1%}"
                )
        return "\n".join(lines) + "\n"

    def export_csv(self, filename: str | Path) -> None:
        """One row per resolution: service_type, resolution_time (s), cache_hit."""
        with Path(filename).open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["service_type", "resolution_time", "cache_hit"])
            for m in self.get_metrics():
                writer.writerow([describe_key(m.service_type), m.resolution_time, m.cache_hit])

    def export_json(self, filename: str | Path) -> None:
        """Timing statistics, cache performance and per-key figures, as JSON."""
        data = {
            "timing_statistics": self.get_timing_statistics(),
            "cache_performance": self.get_cache_performance(),
            "aggregated_metrics": {
                describe_key(agg.service_type): {
                    "total_resolutions": agg.total_resolutions,
                    "cache_hits": agg.cache_hits,
                    "cache_misses": agg.cache_misses,
                    "total_time": agg.total_time,
                    "average_time": agg.average_time,
                    "min_time": agg.min_time,
                    "max_time": agg.max_time,
                }
                for agg in self.get_aggregated_metrics().values()
            },
        }
        Path(filename).write_text(json.dumps(data, indent=2), encoding="utf-8")
