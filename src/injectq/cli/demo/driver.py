"""The demo's run: start the container, drive the concurrent requests, close, collect.

``run_demo_async`` returns the summary (what ``--json`` prints) and ``run_demo`` prints it;
how the summary is checked and worded is the report's job (``report.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from injectq import (
    InjectQ,
    ResourceHealthChecker,
)
from injectq.cli.demo.config import (
    DemoConfig,
    FailurePlan,
)
from injectq.cli.demo.container import build_container, handle_request
from injectq.cli.demo.events import EventLog
from injectq.cli.demo.report import key_name, render_text, summarise
from injectq.cli.demo.server import LocalHttpServer
from injectq.cli.demo.services import DatabasePool, HttpClient, RequestLog


class _CollectingHandler(logging.Handler):
    """Keeps the library's log records (dispose failures are logged at ERROR with their
    traceback) so the demo reports them in its summary instead of 15 tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _capture_library_log() -> Iterator[_CollectingHandler]:
    logger = logging.getLogger("injectq.resources")
    handler = _CollectingHandler()
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="injectq-demo-") as name:
        yield Path(name)


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


async def _health_report(container: InjectQ) -> dict[str, Any]:
    checker = ResourceHealthChecker(container, timeout=5.0)
    report: dict[str, Any] = await checker.check_all_resources()
    return {str(name): dict(entry) for name, entry in report.items()}


async def run_demo_async(requests: int, seed: int) -> dict[str, Any]:
    """Run the demo; return the summary (what ``--json`` prints)."""
    with _workdir() as workdir, _capture_library_log() as library_log:
        config = DemoConfig(workdir, FailurePlan.build(requests, seed))
        container = build_container(config)
        log = EventLog()
        unsubscribe = container.resource_monitor.subscribe(log)
        started = time.perf_counter()

        await container.start()  # singletons, dependencies first: server before client
        server = await container.aget(LocalHttpServer)
        client = await container.aget(HttpClient)
        db = await container.aget(DatabasePool)
        request_log = await container.aget(RequestLog)

        outcomes = await asyncio.gather(*(handle_request(container, i) for i in range(requests)))
        served = time.perf_counter() - started
        health = await _health_report(container)  # while the singletons are still live
        live_before_close = sorted(key_name(k) for k in container.get_all_resources())

        close_error: str | None = None
        try:
            await container.aclose()
        except Exception as exc:
            close_error = repr(exc)
        unsubscribe()
        live_after_close = sorted(key_name(k) for k in container.get_all_resources())
        metrics = container.resource_metrics()
        log_lines = await asyncio.to_thread(_count_lines, config.log_path)
        unclosed_db = db.stats.unclosed()
        pool_stats = db.pool.stats().as_dict()
        http_pool_stats = client.pool.stats().as_dict()

    summary = summarise(
        config=config,
        requests=requests,
        seed=seed,
        outcomes=outcomes,
        log=log,
        metrics=metrics,
        health=health,
        live_before_close=live_before_close,
        live_after_close=live_after_close,
        close_error=close_error,
        server=server,
        client=client,
        db=db,
        unclosed_db=unclosed_db,
        pool_stats=pool_stats,
        http_pool_stats=http_pool_stats,
        request_log=request_log,
        log_lines=log_lines,
    )
    levels = Counter(record.levelname for record in library_log.records)
    summary["library_log"] = {
        "records": dict(sorted(levels.items())),
        "with_traceback": sum(1 for r in library_log.records if r.exc_info),
        "first": library_log.records[0].getMessage() if library_log.records else None,
    }
    summary["seconds"] = {"serve": round(served, 3), "total": round(log.events[-1].at, 3)}
    return summary


def run_demo(*, requests: int = 300, seed: int = 7, as_json: bool = False) -> int:
    """Run the demo and print it; 0 when everything was disposed, 1 otherwise."""
    summary = asyncio.run(run_demo_async(requests, seed))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        render_text(summary, print)
    return 0 if summary["ok"] else 1
