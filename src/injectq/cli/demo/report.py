"""The demo's report: the checks that prove nothing outlived the run, and the text output.

Pure functions of what the driver collected; separate from the driver so the wording of
the report can change without touching how the run is driven.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from injectq.cli.demo.config import (
    DB_POOL_SIZE,
    FULL_LOG_REQUESTS,
    HTTP_POOL_SIZE,
    DemoConfig,
)
from injectq.cli.demo.container import RequestOutcome
from injectq.cli.demo.events import EventLog, LoggedEvent
from injectq.cli.demo.server import LocalHttpServer
from injectq.cli.demo.services import DatabasePool, HttpClient, RequestLog


def key_name(key: Any) -> str:
    """A key's name for the report (the class's qualified name)."""
    return str(getattr(key, "__qualname__", key))


def summarise(
    *,
    config: DemoConfig,
    requests: int,
    seed: int,
    outcomes: list[RequestOutcome],
    log: EventLog,
    metrics: dict[str, dict[str, Any]],
    health: dict[str, Any] | None,
    live_before_close: list[str],
    live_after_close: list[str],
    close_error: str | None,
    server: LocalHttpServer,
    client: HttpClient,
    db: DatabasePool,
    unclosed_db: int,
    pool_stats: dict[str, int | float],
    http_pool_stats: dict[str, int | float],
    request_log: RequestLog,
    log_lines: int,
) -> dict[str, Any]:
    """The demo's summary: what was expected from the plan, what happened, and the
    checks that every resource was disposed (what ``--json`` prints)."""
    plan = config.plan
    degraded = sorted(o.request_id for o in outcomes if o.degraded)
    dispose_failed = sorted(o.request_id for o in outcomes if o.dispose_errors)
    failed = {o.request_id: o.error for o in outcomes if o.error}
    events = log.counts()
    sstats = server.stats
    checks: dict[str, bool] = {
        "no live resources after aclose (get_all_resources() == {})": not live_after_close,
        "container closed cleanly": close_error is None,
        "monitor: every type has 0 active": all(m["active"] == 0 for m in metrics.values()),
        "events: every created resource was disposed or failed to initialize": all(
            c["created"] == c["disposed"] + c["dispose_failed"] + c["init_failed"]
            for c in events.values()
        ),
        "monitor: created == disposed + init errors, per type": all(
            m["created"] == m["disposed"] + m["init_errors"] for m in metrics.values()
        ),
        "every request served (degraded or not)": not failed,
        "init failures == planned, each degraded gracefully": degraded == sorted(plan.init_fail),
        "dispose failures == planned, each reported at scope exit": dispose_failed
        == sorted(plan.dispose_fail),
        "db pool: 0 in use, 0 items after dispose": pool_stats["in_use"] == 0
        and pool_stats["size"] == 0,
        "db pool: never more than max_size connections": db.stats.peak_open <= DB_POOL_SIZE
        and db.stats.peak_in_use <= DB_POOL_SIZE,
        "db: every sqlite3 connection closed": unclosed_db == 0
        and db.stats.opened == db.stats.closed,
        "http client: every connection closed": client.stats.opened == client.stats.closed
        and http_pool_stats["size"] == 0,
        "http server: saw every connection closed": server.all_connections_closed
        and sstats.connections_opened == sstats.connections_closed,
        "http server: every recommendation session released": sstats.sessions_opened
        == sstats.sessions_released,
        "request log: file closed, one line per request": all(h.closed for h in request_log.handles)
        and log_lines == requests,
    }
    return {
        "ok": all(checks.values()),
        "requests": requests,
        "seed": seed,
        "checks": checks,
        "outcomes": {
            "served": requests - len(failed),
            "failed": failed,
            "degraded": len(degraded),
            "dispose_errors": len(dispose_failed),
            "degraded_requests": degraded,
            "dispose_error_requests": dispose_failed,
        },
        "expected": {
            "init_failures": len(plan.init_fail),
            "dispose_failures": len(plan.dispose_fail),
            "init_fail_requests": sorted(plan.init_fail),
            "dispose_fail_requests": sorted(plan.dispose_fail),
        },
        "events": events,
        "live_before_close": live_before_close,
        "live_after_close": live_after_close,
        "close_error": close_error,
        "pool": {
            "max_size": DB_POOL_SIZE,
            "peak_in_use": db.stats.peak_in_use,
            "peak_open_connections": db.stats.peak_open,
            "connections_opened": db.stats.opened,
            "connections_closed": db.stats.closed,
            "connections_still_open": unclosed_db,
            "stats_after_close": pool_stats,
        },
        "http": {
            "server_url": server.base_url,
            "server_requests": sstats.requests,
            "server_connections_opened": sstats.connections_opened,
            "server_connections_closed": sstats.connections_closed,
            "client_connections_opened": client.stats.opened,
            "client_connections_closed": client.stats.closed,
            "client_pool_max_size": HTTP_POOL_SIZE,
            "client_pool_stats_after_close": http_pool_stats,
            "sessions_opened": sstats.sessions_opened,
            "sessions_released": sstats.sessions_released,
        },
        "request_log": {"lines": log_lines, "closed": all(h.closed for h in request_log.handles)},
        "metrics": metrics,
        "health": health,
        "lifecycle_log": [_event_dict(ev) for ev in _selected_events(log, outcomes)],
    }


def _event_dict(ev: LoggedEvent) -> dict[str, Any]:
    return {
        "at_ms": round(ev.at * 1000, 2),
        "request": ev.request,
        "kind": ev.kind,
        "resource_type": ev.resource_type,
        "scope": ev.scope,
        "duration_ms": None if ev.duration is None else round(ev.duration * 1000, 3),
        "error": ev.error,
    }


def _shown_requests(outcomes: list[RequestOutcome]) -> list[int]:
    shown = list(range(min(FULL_LOG_REQUESTS, len(outcomes))))
    for pick in (
        next((o.request_id for o in outcomes if o.degraded), None),
        next((o.request_id for o in outcomes if o.dispose_errors), None),
    ):
        if pick is not None and pick not in shown:
            shown.append(pick)
    return shown


def _selected_events(log: EventLog, outcomes: list[RequestOutcome]) -> list[LoggedEvent]:
    shown = set(_shown_requests(outcomes))
    return [ev for ev in log.events if ev.request is None or ev.request in shown]


# --------------------------------------------------------------------------- text


def render_text(summary: dict[str, Any], out: Callable[[str], None]) -> None:
    """Print ``summary`` as the text report, one line at a time to ``out``."""
    exp = summary["expected"]
    res = summary["outcomes"]
    out(f"injectq demo: {summary['requests']} concurrent requests (seed {summary['seed']})")
    out(
        f"  app: SQLite via ResourcePool(max_size={summary['pool']['max_size']}), request-log "
        f"file, HTTP client -> {summary['http']['server_url']}"
    )
    out(
        f"  plan: Recommendations.initialize fails on {exp['init_failures']} request(s), "
        f"AuditTrail.dispose raises on {exp['dispose_failures']}"
    )
    out("")
    degraded = res["degraded_requests"]
    disposal = res["dispose_error_requests"]
    shown = list(range(min(FULL_LOG_REQUESTS, summary["requests"])))
    labels = [f"#{i}" for i in shown]
    if degraded and degraded[0] not in shown:
        labels.append(f"#{degraded[0]} (first init failure)")
    if disposal and disposal[0] not in shown:
        labels.append(f"#{disposal[0]} (first dispose failure)")
    out(f"Lifecycle log: application events and requests {', '.join(labels)} in full")
    for ev in summary["lifecycle_log"]:
        who = "app" if ev["request"] is None else f"req #{ev['request']}"
        took = "" if ev["duration_ms"] is None else f" {ev['duration_ms']:.2f} ms"
        line = (
            f"  {ev['at_ms']:8.1f} ms  {who:<9} {ev['kind']:<14} {ev['resource_type']:<16}"
            f" [{ev['scope']}]{took}"
        )
        if ev["error"]:
            line += f"\n{'':24}! {ev['error']}"
        out(line)
    out("")
    out("Lifecycle summary (all requests, from monitor.subscribe events)")
    kinds = ("created", "initialized", "init_failed", "disposed", "dispose_failed")
    out(f"  {'resource':<16}" + "".join(f"{k:>15}" for k in kinds))
    for name, counts in summary["events"].items():
        out(f"  {name:<16}" + "".join(f"{counts[k]:>15}" for k in kinds))
    out("")
    out(
        f"Requests: {res['served']}/{summary['requests']} served; "
        f"{res['degraded']} degraded gracefully after ResourceInitializationError "
        f"(planned {exp['init_failures']}); {res['dispose_errors']} reported "
        f"ResourceDisposalError at scope exit (planned {exp['dispose_failures']})"
    )
    for request_id, error in res["failed"].items():
        out(f"  request #{request_id} FAILED: {error}")
    lib = summary["library_log"]
    if lib["records"]:
        counts = ", ".join(f"{n} {level}" for level, n in lib["records"].items())
        out(
            f"  logger 'injectq.resources' recorded {counts} ({lib['with_traceback']} with "
            f"traceback), e.g. {lib['first']!r}"
        )
    out("")
    pool = summary["pool"]
    http_ = summary["http"]
    out("Teardown: await container.aclose()")
    out(f"  live before close: {', '.join(summary['live_before_close']) or '-'}")
    out(f"  live after close:  {', '.join(summary['live_after_close']) or 'nothing'}")
    if summary["close_error"]:
        out(f"  aclose raised: {summary['close_error']}")
    out(
        f"  db pool: peak {pool['peak_in_use']}/{pool['max_size']} in use, "
        f"{pool['connections_opened']} sqlite3 connections opened, "
        f"{pool['connections_closed']} closed, {pool['connections_still_open']} still open"
    )
    out(
        f"  http: client opened {http_['client_connections_opened']} / closed "
        f"{http_['client_connections_closed']} connections; server saw "
        f"{http_['server_connections_opened']} opened / {http_['server_connections_closed']} "
        f"closed, {http_['server_requests']} requests"
    )
    out(
        f"  request log: {summary['request_log']['lines']} lines, file "
        f"{'closed' if summary['request_log']['closed'] else 'STILL OPEN'}"
    )
    for name, passed in summary["checks"].items():
        out(f"  [{'ok' if passed else 'FAIL'}] {name}")
    out("")
    _render_metrics(summary["metrics"], out)
    out("")
    _render_health(summary["health"], out)
    out("")
    verdict = "every resource disposed, nothing leaked" if summary["ok"] else "LEAK OR FAILURE"
    out(f"Result: {verdict} ({summary['seconds']['total']:.2f} s)")


def _render_metrics(metrics: dict[str, dict[str, Any]], out: Callable[[str], None]) -> None:
    out("Metrics: container.resource_metrics()")
    header = (
        f"  {'resource':<16}{'created':>8}{'init':>6}{'disp':>6}{'active':>7}{'init!':>6}"
        f"{'disp!':>6}{'init p95':>10}{'disp p95':>10}{'life med':>10}{'life max':>10}"
    )
    out(header)
    for name, m in metrics.items():
        out(
            f"  {name:<16}{m['created']:>8}{m['initialized']:>6}{m['disposed']:>6}"
            f"{m['active']:>7}{m['init_errors']:>6}{m['dispose_errors']:>6}"
            f"{_ms(m['init_duration']['p95']):>10}{_ms(m['dispose_duration']['p95']):>10}"
            f"{_ms(m['lifetime']['median']):>10}{_ms(m['lifetime']['max']):>10}"
        )
    out("  (init/disp = initialized/disposed, ! = errors; durations in ms)")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _render_health(health: dict[str, Any], out: Callable[[str], None]) -> None:
    out("Health: ResourceHealthChecker.check_all_resources() (taken before aclose)")
    for name, entry in health.items():
        latency = entry.get("latency_ms")
        took = "" if latency is None else f" {latency:.2f} ms"
        details = entry.get("details")
        extra = ""
        if isinstance(details, dict):
            shown = {k: v for k, v in details.items() if k != "healthy"}
            extra = " " + ", ".join(f"{k}={v}" for k, v in list(shown.items())[:4])
        if entry.get("error"):
            extra += f" error={entry['error']}"
        out(f"  {name:<16} {entry.get('status', '?'):<10}{took}{extra}")
