"""Structured health checks of every live resource.

``ResourceHealthChecker(container)`` asks each live resource of the container (and of
the current scope chain) how it is doing, all at once, each within ``timeout`` seconds:

1. ``health_check()`` — returns ``True``/``False``, or a dict of details (``{"status":
   "healthy" | "unhealthy" | ..., ...}`` or ``{"healthy": bool, ...}``); ``None`` counts
   as healthy;
2. else ``ping()`` — healthy unless it returns ``False``;
3. else the resource page's fallbacks: ``execute("SELECT 1")``, then
   ``get("health_check_key")`` (turn them off with ``fallbacks=False``);
4. else the status is ``unknown``.

A :class:`~injectq.resources.pool.ResourcePool` reports ``healthy`` with its ``stats()``
as details. Any of these may be sync or ``async``. A check that raises or does not
finish in time is reported as ``error``; the checker itself never raises for a resource.

Sync probes run in worker threads (so a slow one cannot stall the event loop or the other
checks, and the timeout applies to it): objects that only work on the thread that made
them — ``sqlite3`` connections opened without ``check_same_thread=False`` — report
``error``.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from injectq.resources.pool import ResourcePool

if TYPE_CHECKING:
    import concurrent.futures

    from injectq.core.container import InjectQ
from injectq.utils.exceptions import describe_key as _describe_key

__all__ = ["HealthResult", "HealthStatus", "ResourceHealthChecker"]

HealthStatus = Literal["healthy", "unhealthy", "unknown", "error"]

_HEALTHY_WORDS = frozenset({"healthy", "ok", "up", "pass", "passing", "green"})


class HealthResult(TypedDict):
    """The report for one resource."""

    status: HealthStatus
    latency_ms: float
    error: str | None
    details: dict[str, Any] | None


#: What a probe found out, before timing is added: (status, error, details).
_Verdict = tuple[HealthStatus, str | None, dict[str, Any] | None]
#: A probe: the call to make, how to read its return value, whether the call is async.
_Probe = tuple[Callable[[], Any], Callable[[Any], _Verdict], bool]


def describe_key(key: Any) -> str:
    """The name a binding key is reported under: the class's name (as in error paths,
    without ``<locals>``) or the string key itself."""
    return key if isinstance(key, str) else _describe_key(key)


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_health_check(value: Any) -> _Verdict:
    if value is None:
        return "healthy", None, None
    if isinstance(value, dict):
        details = dict(value)
        status = details.get("status")
        if status is None and "healthy" in details:
            healthy = bool(details["healthy"])
        elif isinstance(status, str):
            word = status.strip().lower()
            if word == "unknown":
                return "unknown", None, details
            healthy = word in _HEALTHY_WORDS
        elif isinstance(status, bool):
            healthy = status
        else:
            healthy = True
        if healthy:
            return "healthy", None, details
        reason = details.get("error") or details.get("message")
        return "unhealthy", None if reason is None else str(reason), details
    if bool(value):
        return "healthy", None, None
    return "unhealthy", "health_check() returned a false value", None


def _read_ping(value: Any) -> _Verdict:
    if value is False:
        return "unhealthy", "ping() returned False", None
    return "healthy", None, None


def _read_fallback(value: Any) -> _Verdict:
    return "healthy", None, None


def _read_pool_stats(stats: Any) -> _Verdict:
    return "healthy", None, stats.as_dict()


def _method(resource: Any, name: str) -> Callable[..., Any] | None:
    try:
        method = getattr(resource, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def _probe_for(resource: Any, fallbacks: bool) -> _Probe | None:
    method = _method(resource, "health_check")
    if method is not None:
        return method, _read_health_check, _is_async(method)
    method = _method(resource, "ping")
    if method is not None:
        return method, _read_ping, _is_async(method)
    if isinstance(resource, ResourcePool):
        pool: ResourcePool[Any] = resource
        return pool.stats, _read_pool_stats, True  # cheap and non-blocking: run inline
    if fallbacks:
        for name, argument in (("execute", "SELECT 1"), ("get", "health_check_key")):
            method = _method(resource, name)
            if method is not None:
                return functools.partial(method, argument), _read_fallback, _is_async(method)
    return None


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with ``async def __call__``
    )


def _result(
    status: HealthStatus, started: float, error: str | None, details: dict[str, Any] | None
) -> HealthResult:
    return {
        "status": status,
        "latency_ms": (time.perf_counter() - started) * 1000.0,
        "error": error,
        "details": details,
    }


async def _await_any(value: Awaitable[Any]) -> Any:
    return await value


def _in_thread(
    fn: Callable[[], Any], name: str, *, to_caller: bool
) -> concurrent.futures.Future[Any]:
    """Run ``fn`` in a daemon thread: a check that never returns cannot block exit.

    An awaitable result is handed back to the caller's loop (``to_caller``) or, for sync
    callers, run to completion in the thread.
    """
    import asyncio
    import concurrent.futures

    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            value = fn()
            if not to_caller and inspect.isawaitable(value):
                value = asyncio.run(_await_any(value))
        except BaseException as exc:
            done.set_exception(exc)
        else:
            done.set_result(value)

    threading.Thread(target=run, name=f"injectq-health-{name}", daemon=True).start()
    return done


class ResourceHealthChecker:
    """Check every live resource of ``container`` concurrently, each within ``timeout``.

    ``await check_all_resources()`` / ``check_all_resources_sync()`` return ``{name:
    {"status", "latency_ms", "error", "details"}}`` keyed by binding name (a class's
    qualname or the string key; ``Name#2``, ``Name#3`` for further live instances of
    one key, e.g. in nested scopes).
    """

    def __init__(self, container: InjectQ, *, timeout: float = 5.0, fallbacks: bool = True):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.container = container
        self.timeout = timeout
        self.fallbacks = fallbacks

    # -- what to check ------------------------------------------------------------------
    def live_resources(self) -> list[tuple[str, Any]]:
        """``[(name, instance)]`` of the live resources, named as in the reports."""
        entries_of = getattr(self.container, "_live_resource_entries", None)
        entries: Iterable[tuple[Any, Any]] = (
            entries_of() if entries_of is not None else self.container.get_all_resources().items()
        )
        named: list[tuple[str, Any]] = []
        seen: dict[str, int] = {}
        for key, instance in entries:
            base = describe_key(key)
            count = seen.get(base, 0) + 1
            seen[base] = count
            named.append((base if count == 1 else f"{base}#{count}", instance))
        return named

    # -- async ---------------------------------------------------------------------------
    async def check_all_resources(self) -> dict[str, HealthResult]:
        """Check every live resource concurrently (``asyncio.gather``)."""
        import asyncio

        named = self.live_resources()
        results = await asyncio.gather(*(self.check_resource(inst) for _, inst in named))
        return {name: result for (name, _), result in zip(named, results, strict=True)}

    async def check_resource(self, resource: Any) -> HealthResult:
        """Check one resource within the timeout; never raises for the resource's sake."""
        import asyncio

        started = time.perf_counter()
        probe = _probe_for(resource, self.fallbacks)
        if probe is None:
            return _result("unknown", started, None, None)
        call, read, is_async = probe
        try:
            async with asyncio.timeout(self.timeout) as window:
                try:
                    if is_async:
                        value = call()
                    else:
                        value = await asyncio.wrap_future(
                            _in_thread(call, type(resource).__name__, to_caller=True)
                        )
                    if inspect.isawaitable(value):
                        value = await value
                except TimeoutError as exc:
                    if window.expired():
                        raise
                    return _result("error", started, _error_text(exc), None)
            status, error, details = read(value)
        except TimeoutError:
            return _result("error", started, self._timeout_text(), None)
        except Exception as exc:
            return _result("error", started, _error_text(exc), None)
        return _result(status, started, error, details)

    # -- sync ----------------------------------------------------------------------------
    def check_all_resources_sync(self) -> dict[str, HealthResult]:
        """Check every live resource concurrently, each in a worker thread."""
        named = self.live_resources()
        started = time.perf_counter()
        pending = [(name, self._start_sync(inst)) for name, inst in named]
        deadline = started + self.timeout
        report: dict[str, HealthResult] = {}
        for name, (began, future, read) in pending:
            report[name] = self._finish_sync(began, future, read, deadline)
        return report

    def check_resource_sync(self, resource: Any) -> HealthResult:
        """Check one resource within the timeout, from sync code."""
        began, future, read = self._start_sync(resource)
        return self._finish_sync(began, future, read, began + self.timeout)

    def _start_sync(
        self, resource: Any
    ) -> tuple[float, concurrent.futures.Future[Any] | None, Callable[[Any], _Verdict] | None]:
        began = time.perf_counter()
        probe = _probe_for(resource, self.fallbacks)
        if probe is None:
            return began, None, None
        call, read, _ = probe
        return began, _in_thread(call, type(resource).__name__, to_caller=False), read

    def _finish_sync(
        self,
        began: float,
        future: concurrent.futures.Future[Any] | None,
        read: Callable[[Any], _Verdict] | None,
        deadline: float,
    ) -> HealthResult:
        import concurrent.futures

        if future is None or read is None:
            return _result("unknown", began, None, None)
        try:
            value = future.result(max(0.0, deadline - time.perf_counter()))
            status, error, details = read(value)
        except concurrent.futures.TimeoutError as exc:
            if future.done():  # the check itself raised a TimeoutError
                return _result("error", began, _error_text(exc), None)
            return _result("error", began, self._timeout_text(), None)
        except Exception as exc:
            return _result("error", began, _error_text(exc), None)
        return _result(status, began, error, details)

    def _timeout_text(self) -> str:
        return f"health check did not finish within {self.timeout} s"
