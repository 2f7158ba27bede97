"""``injectq demo``: the project's main job runs, and nothing it creates outlives it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from injectq import __version__
from injectq.cli import demo as demo_module
from injectq.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["demo", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def assert_nothing_leaked(summary: dict[str, Any]) -> None:
    failed = [name for name, ok in summary["checks"].items() if not ok]
    assert failed == []
    assert summary["ok"] is True
    assert summary["live_after_close"] == []
    assert summary["close_error"] is None
    # every created resource was disposed (or never became live: its initialize failed)
    for name, counts in summary["events"].items():
        assert counts["created"] == (
            counts["disposed"] + counts["dispose_failed"] + counts["init_failed"]
        ), name
    for name, metrics in summary["metrics"].items():
        assert metrics["active"] == 0, name
        assert metrics["created"] == metrics["disposed"] + metrics["init_errors"], name
    pool = summary["pool"]
    assert pool["stats_after_close"]["in_use"] == 0
    assert pool["stats_after_close"]["size"] == 0
    assert pool["connections_opened"] == pool["connections_closed"] > 0
    assert pool["connections_still_open"] == 0
    http = summary["http"]
    assert http["client_connections_opened"] == http["client_connections_closed"] > 0
    assert http["server_connections_opened"] == http["server_connections_closed"] > 0
    assert http["sessions_opened"] == http["sessions_released"]
    assert summary["request_log"] == {"lines": summary["requests"], "closed": True}


def test_demo_json_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_json(capsys, "--requests", "50")
    assert code == 0
    assert summary["requests"] == 50
    assert_nothing_leaked(summary)

    expected, outcomes = summary["expected"], summary["outcomes"]
    assert outcomes["served"] == 50 and outcomes["failed"] == {}
    # the failing initialize: each planned request degraded, no other one did
    assert expected["init_failures"] >= 1
    assert outcomes["degraded"] == expected["init_failures"]
    assert outcomes["degraded_requests"] == expected["init_fail_requests"]
    recs = summary["events"]["Recommendations"]
    assert recs["init_failed"] == expected["init_failures"]
    assert recs["created"] == 50
    assert recs["initialized"] == recs["disposed"] == 50 - expected["init_failures"]
    assert summary["metrics"]["Recommendations"]["init_errors"] == expected["init_failures"]
    # the failing dispose: each planned request got a ResourceDisposalError at scope exit,
    # and the other request resources were still disposed
    assert expected["dispose_failures"] >= 1
    assert outcomes["dispose_errors"] == expected["dispose_failures"]
    assert outcomes["dispose_error_requests"] == expected["dispose_fail_requests"]
    audit = summary["events"]["AuditTrail"]
    assert audit["dispose_failed"] == expected["dispose_failures"]
    assert audit["disposed"] == 50 - expected["dispose_failures"]
    assert summary["metrics"]["AuditTrail"]["dispose_errors"] == expected["dispose_failures"]
    assert summary["events"]["UnitOfWork"]["disposed"] == 50
    # dispose failures are logged (with traceback), not swallowed
    assert summary["library_log"]["records"].get("ERROR") == expected["dispose_failures"]
    # the pool bounded the connections
    pool = summary["pool"]
    assert 1 <= pool["peak_in_use"] <= pool["max_size"]
    assert pool["peak_open_connections"] <= pool["max_size"]
    assert pool["stats_after_close"]["acquired"] >= 50
    # singletons: one each, owned by the root, disposed by aclose
    for name in ("DatabasePool", "HttpClient", "LocalHttpServer", "RequestLog"):
        assert summary["events"][name] == {
            "created": 1,
            "initialized": 1,
            "init_failed": 0,
            "disposed": 1,
            "dispose_failed": 0,
        }
    assert summary["live_before_close"] == [
        "DatabasePool",
        "HttpClient",
        "LocalHttpServer",
        "RequestLog",
    ]


def test_demo_lifecycle_log_is_ordered(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_json(capsys, "--requests", "40", "--seed", "3")
    assert code == 0
    log = summary["lifecycle_log"]
    app = [(e["kind"], e["resource_type"]) for e in log if e["request"] is None]
    started = [t for k, t in app if k == "initialized"]
    disposed = [t for k, t in app if k == "disposed"]
    assert started.index("LocalHttpServer") < started.index("HttpClient")
    assert disposed == list(reversed(started))  # reverse of initialization order
    for request in {e["request"] for e in log if e["request"] is not None}:
        events = [(e["kind"], e["resource_type"]) for e in log if e["request"] == request]
        live = [t for k, t in events if k == "initialized"]
        gone = [t for k, t in events if k in ("disposed", "dispose_failed")]
        assert gone == list(reversed(live)), request


@pytest.mark.parametrize("seed", [0, 11])
def test_demo_other_seeds(capsys: pytest.CaptureFixture[str], seed: int) -> None:
    code, summary = run_json(capsys, "--requests", "25", "--seed", str(seed))
    assert code == 0
    assert summary["seed"] == seed
    assert_nothing_leaked(summary)
    assert summary["outcomes"]["degraded"] == summary["expected"]["init_failures"]
    assert summary["outcomes"]["dispose_errors"] == summary["expected"]["dispose_failures"]


def test_demo_single_request_has_no_planned_failures(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_json(capsys, "--requests", "1")
    assert code == 0
    assert_nothing_leaked(summary)
    assert summary["expected"]["init_failures"] == summary["expected"]["dispose_failures"] == 0
    assert summary["outcomes"]["degraded"] == summary["outcomes"]["dispose_errors"] == 0


def test_demo_health_report_taken_while_live(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_json(capsys, "--requests", "10")
    assert code == 0
    health = summary["health"]
    assert health is not None, "the demo must report health while resources are live"
    for name in ("DatabasePool", "HttpClient", "LocalHttpServer", "RequestLog"):
        entry = next(v for k, v in health.items() if k.endswith(name))
        assert entry["status"] == "healthy", (name, entry)
        assert entry["error"] is None


def test_demo_exits_nonzero_when_a_resource_leaks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool close that forgets the connection must be caught by the demo's checks."""
    leaked: list[sqlite3.Connection] = []
    monkeypatch.setattr(demo_module.DatabasePool, "_close", lambda self, conn: leaked.append(conn))
    try:
        code, summary = run_json(capsys, "--requests", "5")
    finally:
        for conn in leaked:
            conn.close()
    assert code == 1
    assert summary["ok"] is False
    assert summary["checks"]["db: every sqlite3 connection closed"] is False
    assert summary["pool"]["connections_still_open"] == len(leaked) > 0


def test_demo_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--requests", "20"]) == 0
    out = capsys.readouterr().out
    for heading in (
        "injectq demo: 20 concurrent requests",
        "Lifecycle log:",
        "Lifecycle summary",
        "Teardown: await container.aclose()",
        "live after close:  nothing",
        "Metrics: container.resource_metrics()",
        "Health: ResourceHealthChecker",
        "Result: every resource disposed, nothing leaked",
    ):
        assert heading in out
    assert "[FAIL]" not in out
    assert "init_failed" in out and "dispose_failed" in out
    assert len(out.splitlines()) < 150  # summarised, not one line per event


def test_demo_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "injectq", "demo", "--requests", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing leaked" in proc.stdout
    assert "Traceback" not in proc.stderr  # dispose failures are reported, not dumped


def test_demo_subprocess_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "injectq", "demo", "--requests", "30", "--json", "--seed", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert_nothing_leaked(summary)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"injectq {__version__}"


def test_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out
    assert main([]) == 2  # the help, and a usage error status (issue 14)
    assert "usage: injectq" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_demo_rejects_bad_request_counts(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--requests", bad])
    assert exc.value.code == 2
    assert "--requests" in capsys.readouterr().err
