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
That includes a ``CancelledError`` the check raises of its own (it awaited a task that
something else cancelled); cancelling the caller still raises ``CancelledError``. The
report is ready at the timeout even when a check ignores cancellation or blocks its
thread: such a check is cancelled and left to finish on its own.

Sync probes run in worker threads (so a slow one cannot stall the event loop or the other
checks, and the timeout applies to it): objects that only work on the thread that made
them — ``sqlite3`` connections opened without ``check_same_thread=False`` — report
``error``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from injectq.resources.pool import ResourcePool

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from injectq.core.container import InjectQ
from injectq.utils.exceptions import describe_key as _describe_key
from injectq.utils.validation import check_timeout

__all__ = ["HealthResult", "HealthStatus", "ResourceHealthChecker"]

_log = logging.getLogger("injectq.resources")

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
    status: HealthStatus,
    started: float,
    error: str | None,
    details: dict[str, Any] | None,
    ended: float | None = None,
) -> HealthResult:
    finished = time.perf_counter() if ended is None else ended
    return {
        "status": status,
        "latency_ms": (finished - started) * 1000.0,
        "error": error,
        "details": details,
    }


def _cancelled_text(exc: BaseException) -> str:
    said = f" ({exc})" if str(exc) else ""
    return (
        f"CancelledError{said}: the check was cancelled by something other than the health "
        "checker (did it await a task or future that was cancelled?)"
    )


async def _await_any(value: Awaitable[Any]) -> Any:
    return await value


class _AsyncCheck:
    """One check in flight on the caller's loop."""

    __slots__ = ("ended", "read", "started", "task")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ended: float | None = None  # when the probe returned or raised
        self.read: Callable[[Any], _Verdict] | None = None
        self.task: asyncio.Task[Any] | None = None


async def _run_probe(check: _AsyncCheck, call: Callable[[], Any], is_async: bool, name: str) -> Any:
    """Call the probe (a sync one in a worker thread) and await what it returns."""
    import asyncio

    try:
        if is_async:
            value = call()
        else:
            value = await asyncio.wrap_future(_in_thread(call, name, to_caller=True))
        if inspect.isawaitable(value):
            value = await value
        return value
    finally:
        check.ended = time.perf_counter()


#: Checks given up on (timed out, or their caller was cancelled) that have not ended yet:
#: held here so that they are not garbage-collected while they run.
_abandoned: set[asyncio.Task[Any]] = set()


def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel a check without waiting for it: one that ignores cancellation runs on."""
    if task.done():
        return
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # already reported as timed out; retrieved so asyncio does not log it as lost
        _log.debug("a health check given up on failed later", exc_info=task.exception())


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
    # running from the start: a caller that gives up (a timeout, a cancelled await of
    # asyncio.wrap_future) cannot cancel it, so the thread's set_result never fails
    done.set_running_or_notify_cancel()

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

    Examples:
        >>> import sqlite3
        >>> from injectq import InjectQ, ResourceHealthChecker, resource
        >>> @resource
        ... class Database:
        ...     def initialize(self) -> None:
        ...         # sync checks run in worker threads
        ...         self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        ...     def health_check(self) -> dict[str, int]:
        ...         (tables,) = self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        ...         return {"tables": tables}
        ...     def dispose(self) -> None:
        ...         self.conn.close()
        >>> with InjectQ() as container:
        ...     container.bind(Database, Database)
        ...     _ = container.get(Database)
        ...     report = ResourceHealthChecker(container, timeout=2.0).check_all_resources_sync()
        >>> report["Database"]["status"], report["Database"]["details"]
        ('healthy', {'tables': 0})
    """

    def __init__(self, container: InjectQ, *, timeout: float = 5.0, fallbacks: bool = True) -> None:
        if check_timeout("timeout", timeout) is None or timeout == 0:
            raise ValueError(
                f"timeout must be a number of seconds > 0 (a check must end), got {timeout!r}"
            )
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
        """Check every live resource concurrently; returns within about ``timeout``.

        Cancelling the caller cancels the checks and raises ``CancelledError``; a check
        that raises ``CancelledError`` of its own is that resource's ``error``.
        """
        named = self.live_resources()
        results = await self._check_concurrently([instance for _, instance in named])
        return {name: result for (name, _), result in zip(named, results, strict=True)}

    async def check_resource(self, resource: Any) -> HealthResult:
        """Check one resource within the timeout; never raises for the resource's sake."""
        (result,) = await self._check_concurrently([resource])
        return result

    async def _check_concurrently(self, resources: list[Any]) -> list[HealthResult]:
        import asyncio

        # Each check runs in a task of its own, awaited with a deadline, not under
        # ``asyncio.timeout``: a check that ignores cancellation cannot hold the report
        # past its timeout, and a CancelledError that ends a check's task came from the
        # check itself (the checker cancels a task only after giving up on it), while one
        # raised here is the caller's own cancellation.
        checks = [self._start_async(resource) for resource in resources]
        tasks = [check.task for check in checks if check.task is not None]
        if tasks:
            try:
                await asyncio.wait(tasks, timeout=self.timeout)
            except BaseException:  # the caller was cancelled: so are the checks
                for task in tasks:
                    _abandon(task)
                raise
        return [self._finish_async(check) for check in checks]

    def _start_async(self, resource: Any) -> _AsyncCheck:
        import asyncio

        check = _AsyncCheck()
        probe = _probe_for(resource, self.fallbacks)
        if probe is not None:
            call, check.read, is_async = probe
            name = type(resource).__name__
            check.task = asyncio.create_task(
                _run_probe(check, call, is_async, name), name=f"injectq-health-{name}"
            )
        return check

    def _finish_async(self, check: _AsyncCheck) -> HealthResult:
        import asyncio

        task, read = check.task, check.read
        if task is None or read is None:
            return _result("unknown", check.started, None, None)
        if not task.done():
            _abandon(task)
            return _result("error", check.started, self._timeout_text(), None)
        ended = check.ended
        try:
            status, error, details = read(task.result())
        except asyncio.CancelledError as exc:
            return _result("error", check.started, _cancelled_text(exc), None, ended)
        except Exception as exc:
            return _result("error", check.started, _error_text(exc), None, ended)
        return _result(status, check.started, error, details, ended)

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
        import asyncio  # loaded already: _in_thread imports it
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
        except asyncio.CancelledError as exc:  # no caller to cancel here: the check's own
            return _result("error", began, _cancelled_text(exc), None)
        except Exception as exc:
            return _result("error", began, _error_text(exc), None)
        return _result(status, began, error, details)

    def _timeout_text(self) -> str:
        return f"health check did not finish within {self.timeout} s"
