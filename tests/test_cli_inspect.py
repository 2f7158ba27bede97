"""``injectq check | graph | health | resources TARGET`` (issue 14), run as a real
subprocess in a directory holding a small app package, as a user would."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import injectq

APP = """
import sqlite3
from injectq import InjectQ, resource, scoped


@resource
class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = None

    def initialize(self) -> None:
        # health checks run in a helper thread: the connection must allow it
        self.conn = sqlite3.connect(self.path, check_same_thread=False)

    def dispose(self) -> None:
        self.conn.close()

    def health_check(self) -> bool:
        return self.conn.execute("select 1").fetchone() == (1,)


@resource
class Broken:
    def initialize(self) -> None:
        pass

    def health_check(self) -> bool:
        return False


@scoped("request")
class Session:
    def __init__(self, db: Database) -> None:
        self.db = db


class Reports:
    def __init__(self, session: Session) -> None:
        self.session = session


class NeedsToken:
    def __init__(self, token: str) -> None:
        self.token = token


def sound() -> InjectQ:
    c = InjectQ()
    c["path"] = ":memory:"
    c.bind(Database)
    c.bind(Session)
    return c


def captive() -> InjectQ:
    c = sound()
    c.bind(Reports)  # a singleton holding a request-scoped Session
    c.bind(NeedsToken)  # token: missing
    return c


def unhealthy() -> InjectQ:
    c = sound()
    c.bind(Broken)
    return c


container = sound()
not_a_container = 42


def needs_arguments(x):
    return InjectQ()
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "wiring.py").write_text(textwrap.dedent(APP))
    return tmp_path


def run(app_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environment.pop("PYTHONPATH", None)
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "injectq", *args],
        cwd=app_dir,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def run_json(app_dir: Path, *args: str) -> tuple[int, Any]:
    code, out, _ = run(app_dir, *args, "--json")
    return code, json.loads(out)


# ------------------------------------------------------------------ check
def test_check_a_sound_container_exits_0(app_dir: Path) -> None:
    code, out, err = run(app_dir, "check", "shop.wiring:container")
    assert (code, err) == (0, "")
    assert out == "✓ 3 service(s), 0 error(s), 0 warning(s)\n"  # no colour: not a terminal
    code, data = run_json(app_dir, "check", "shop.wiring:sound")  # a callable target
    assert code == 0 and data["ok"] is True and data["problems"] == []


def test_check_lists_each_problem_and_exits_1(app_dir: Path) -> None:
    code, out, _ = run(app_dir, "check", "shop.wiring:captive")
    assert code == 1
    assert "error [captive] Reports -> Session" in out
    assert "Fix: make Reports 'request'" in out
    assert "error [missing] NeedsToken(token: str)" in out
    assert "container['token'] = ..." in out
    assert out.endswith("✗ 5 service(s), 2 error(s), 0 warning(s)\n")
    code, data = run_json(app_dir, "check", "shop.wiring:captive")
    assert code == 1 and data["ok"] is False
    assert sorted(p["kind"] for p in data["problems"]) == ["captive", "missing"]
    captive = next(p for p in data["problems"] if p["kind"] == "captive")
    assert captive["path"] == ["Reports", "Session"] and captive["key"] == "Session"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule:container", "cannot import 'nosuchmodule'"),
        ("shop.wiring:missing_attribute", "has no attribute 'missing_attribute'"),
        ("shop.wiring:not_a_container", "is int, not an InjectQ container"),
        ("shop.wiring:needs_arguments", "must be an InjectQ or a callable taking no arguments"),
        ("shop.wiring", "TARGET must be module:attribute"),
    ],
)
def test_check_exits_2_when_the_target_is_not_a_container(
    app_dir: Path, target: str, message: str
) -> None:
    code, out, err = run(app_dir, "check", target)
    assert code == 2 and out == ""
    assert message in err
    code, data = run_json(app_dir, "check", target)
    assert code == 2 and message in data["error"]


def test_a_module_that_fails_to_import_exits_2_with_the_error(app_dir: Path) -> None:
    (app_dir / "shop" / "bad.py").write_text("raise RuntimeError('settings missing')\n")
    code, _, err = run(app_dir, "check", "shop.bad:container")
    assert code == 2 and "RuntimeError: settings missing" in err


# ------------------------------------------------------------------ graph
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("mermaid", "flowchart LR"),
        ("dot", "digraph Dependencies {"),
        ("ascii", "=== Dependency Graph ==="),
        ("json", '{\n  "nodes"'),
    ],
)
def test_graph_in_every_format(app_dir: Path, fmt: str, expected: str) -> None:
    code, out, err = run(app_dir, "graph", "shop.wiring:captive", "--format", fmt)
    assert (code, err) == (0, "")
    assert out.startswith(expected)
    assert "Session" in out and "Reports" in out
    target = app_dir / f"graph.{fmt}"
    code, out, _ = run(app_dir, "graph", "shop.wiring:captive", "--format", fmt, "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text().startswith(expected)


def test_graph_json_flag_and_marks(app_dir: Path) -> None:
    code, data = run_json(app_dir, "graph", "shop.wiring:captive")
    assert code == 0
    nodes = {node["id"]: node for node in data["nodes"]}
    assert nodes["Database"]["resource"] is True
    assert nodes["Session"]["problems"] == ["captive"]
    assert {"from": "Session", "to": "Database", "param": "db"} in data["edges"]
    code, out, _ = run(app_dir, "graph", "shop.wiring:captive")  # mermaid is the default
    assert "class n" in out and "problem" in out
    code, _, err = run(app_dir, "graph", "shop.wiring:captive", "--format", "png")
    assert code == 2 and "invalid choice: 'png'" in err
    assert run(app_dir, "graph", "nosuch:app")[0] == 2


# ------------------------------------------------------------------ health
def test_health_starts_checks_and_closes(app_dir: Path) -> None:
    code, out, err = run(app_dir, "health", "shop.wiring:container", "--timeout", "2")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == ["RESOURCE", "STATUS", "LATENCY", "DETAILS"]
    assert out.splitlines()[1].split()[:2] == ["Database", "healthy"]
    assert out.endswith("✓ all healthy\n")
    code, data = run_json(app_dir, "health", "shop.wiring:container")
    assert code == 0 and data["healthy"] is True
    assert data["resources"]["Database"]["status"] == "healthy"


def test_health_exits_1_when_a_resource_is_unhealthy_or_the_graph_is_broken(
    app_dir: Path,
) -> None:
    code, out, _ = run(app_dir, "health", "shop.wiring:unhealthy")
    assert code == 1
    assert "Broken" in out and "unhealthy" in out and "✗ some resources" in out
    code, data = run_json(app_dir, "health", "shop.wiring:unhealthy")
    assert code == 1 and data["resources"]["Broken"]["status"] == "unhealthy"
    code, out, _ = run(app_dir, "health", "shop.wiring:captive")
    assert code == 1 and "nothing was started" in out
    code, _, err = run(app_dir, "health", "shop.wiring:container", "--timeout", "0")
    assert code == 2 and "--timeout" in err
    assert run(app_dir, "health", "nosuch:app")[0] == 2


# ------------------------------------------------------------------ resources
def test_resources_lists_bindings_lifetimes_and_resources(app_dir: Path) -> None:
    code, out, _ = run(app_dir, "resources", "shop.wiring:container")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["KEY", "LIFETIME", "KIND", "RESOURCE"]
    assert ["'path'", "singleton", "instance", "-"] in rows
    assert ["Database", "singleton", "class", "yes"] in rows
    assert ["Session", "request", "class", "-"] in rows
    code, data = run_json(app_dir, "resources", "shop.wiring:container")
    assert code == 0
    assert {"key": "Database", "lifetime": "singleton", "kind": "class", "resource": True} in (
        data["bindings"]
    )
    assert run(app_dir, "resources", "nosuch:app")[0] == 2


# ------------------------------------------------------------------ the command itself
def test_help_version_and_bare_command(app_dir: Path) -> None:
    for command in ("check", "graph", "health", "resources"):
        code, out, _ = run(app_dir, command, "--help")
        assert code == 0 and "TARGET" in out and "--json" in out, command
    code, out, _ = run(app_dir, "--version")
    assert (code, out) == (0, f"injectq {injectq.__version__}\n")
    code, out, _ = run(app_dir)
    assert code == 2 and out.startswith("usage: injectq")
    code, _, err = run(app_dir, "check")
    assert code == 2 and "TARGET" in err


def test_colour_only_on_a_terminal_and_never_with_no_color(app_dir: Path) -> None:
    import pty

    def on_terminal(env: dict[str, str]) -> str:
        leader, follower = pty.openpty()
        environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        environment.update(env)
        done = subprocess.run(
            [sys.executable, "-m", "injectq", "check", "shop.wiring:captive"],
            cwd=app_dir,
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=environment,
            timeout=60,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert done.returncode == 1
        return b"".join(chunks).decode()

    assert "\x1b[31m" in on_terminal({})
    assert "\x1b[" not in on_terminal({"NO_COLOR": "1"})
    assert "\x1b[" not in run(app_dir, "check", "shop.wiring:captive")[1]  # a pipe
