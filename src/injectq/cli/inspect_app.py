"""``injectq check | graph | health | resources TARGET``: the diagnostics of a user's own
container, from the command line.

``TARGET`` is ``module:attribute``: the attribute an ``InjectQ`` or a zero-argument
callable returning one; the module is imported with the current directory first on
``sys.path`` (as ``uvicorn`` does). Exit codes: 0 sound, 1 problems found (``check``:
the graph has an error; ``health``: a resource is unhealthy or failed to start), 2 the
target cannot be loaded or is not a container (and usage errors).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from injectq.core.container import InjectQ
from injectq.diagnostics.graph import WARNING, GraphProblem, read_graph
from injectq.diagnostics.validation import ValidationError, find_problems
from injectq.diagnostics.visualization import DependencyVisualizer
from injectq.resources.health import ResourceHealthChecker

__all__ = ["TargetError", "load_target", "run_check", "run_graph", "run_health", "run_resources"]

OK, PROBLEMS, UNUSABLE = 0, 1, 2


class TargetError(Exception):
    """The target cannot be imported, or is not a container (exit status 2)."""


def load_target(target: str) -> InjectQ:
    """The container ``module:attribute`` names (calling the attribute when it is a
    zero-argument callable), the module imported from the current directory first."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise TargetError(
            f"TARGET must be module:attribute (e.g. myapp.container:container), got {target!r}"
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(exc)).strip()
        raise TargetError(
            f"cannot import {module_name!r} (from {cwd}): {detail}. Run injectq from the "
            "directory your app's imports work from."
        ) from exc
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(value, InjectQ):
        return value
    if callable(value):
        try:
            made = value()
        except TypeError as exc:
            raise TargetError(
                f"{target} must be an InjectQ or a callable taking no arguments: {exc}"
            ) from exc
        if isinstance(made, InjectQ):
            return made
        raise TargetError(f"{target}() returned {type(made).__name__}, not an InjectQ container")
    raise TargetError(
        f"{target} is {type(value).__name__}, not an InjectQ container or a callable returning one"
    )


# ---------------------------------------------------------------------------- output
_CODES = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}


class Output:
    """Writes to a stream; colours only on a terminal and never with ``NO_COLOR``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.colour = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")

    def paint(self, text: str, colour: str) -> str:
        return f"\033[{_CODES[colour]}m{text}\033[0m" if self.colour else text

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, default=str) + "\n")


def _problem_lines(out: Output, problems: list[GraphProblem]) -> None:
    for p in problems:
        colour = "yellow" if p.severity == WARNING else "red"
        out.line(f"{out.paint(p.severity, colour)} [{p.kind}] {' -> '.join(p.path)}")
        out.line(f"    {p.message}")


# ---------------------------------------------------------------------------- commands
def run_check(container: InjectQ, out: Output, as_json: bool) -> int:
    """Validate: 0 when the graph has no error (warnings are listed), else 1."""
    graph, problems = find_problems(container)
    errors = [p for p in problems if p.severity != WARNING]
    if as_json:
        out.json(
            {
                "ok": not errors,
                "services": len(graph.nodes),
                "errors": len(errors),
                "warnings": len(problems) - len(errors),
                "problems": [p.as_dict() for p in problems],
            }
        )
        return PROBLEMS if errors else OK
    _problem_lines(out, problems)
    summary = (
        f"{len(graph.nodes)} service(s), {len(errors)} error(s), "
        f"{len(problems) - len(errors)} warning(s)"
    )
    if errors:
        out.line(out.paint(f"✗ {summary}", "red"))
        return PROBLEMS
    out.line(out.paint(f"✓ {summary}", "green"))
    return OK


def run_graph(
    container: InjectQ, out: Output, fmt: str, output_file: str | None, as_json: bool
) -> int:
    """Render the graph (``--json`` is ``--format json``) to stdout or ``-o FILE``."""
    viz = DependencyVisualizer(container)
    if as_json or fmt == "json":
        text = json.dumps(viz.to_json(), indent=2, default=str) + "\n"
    elif fmt == "mermaid":
        text = viz.to_mermaid()
    elif fmt == "dot":
        text = viz.to_dot()
    else:
        text = viz.to_ascii()
    if output_file is None:
        out.stream.write(text)
    else:
        Path(output_file).write_text(text, encoding="utf-8")
    return OK


def run_resources(container: InjectQ, out: Output, as_json: bool) -> int:
    """The bindings (and what is autowired below them): lifetime, kind, resource or not."""
    nodes = read_graph(container).nodes
    rows: list[dict[str, Any]] = [
        {
            "key": node.label,
            "lifetime": node.scope,
            "kind": node.kind,
            "resource": node.resource,
        }
        for node in nodes.values()
    ]
    if as_json:
        out.json({"bindings": rows})
        return OK
    width = max([len(row["key"]) for row in rows] + [3])
    out.line(out.paint(f"{'KEY':<{width}}  {'LIFETIME':<10}  {'KIND':<9}  RESOURCE", "bold"))
    for row in rows:
        mark = out.paint("yes", "green") if row["resource"] else "-"
        out.line(f"{row['key']:<{width}}  {row['lifetime']:<10}  {row['kind']:<9}  {mark}")
    return OK


def run_health(container: InjectQ, out: Output, timeout: float, as_json: bool) -> int:
    """Start the singleton resources, check them, close everything: 1 when one is not
    healthy (or the start failed)."""
    try:
        checker = ResourceHealthChecker(container, timeout=timeout)
    except ValueError as exc:
        raise TargetError(str(exc)) from exc

    async def check() -> dict[str, Any]:
        await container.start()
        try:
            return dict(await checker.check_all_resources())
        finally:
            await container.aclose()

    try:
        report = asyncio.run(check())
    except ValidationError as exc:
        if as_json:
            out.json({"healthy": False, "problems": [p.as_dict() for p in exc.problems]})
        else:
            _problem_lines(out, exc.problems)
            out.line(out.paint("✗ the container's graph is broken: nothing was started", "red"))
        return PROBLEMS
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(exc)).strip()
        if as_json:
            out.json({"healthy": False, "error": detail})
        else:
            out.line(out.paint(f"✗ starting the resources failed: {detail}", "red"))
        return PROBLEMS
    healthy = all(entry["status"] in ("healthy", "unknown") for entry in report.values())
    if as_json:
        out.json({"healthy": healthy, "resources": report})
        return OK if healthy else PROBLEMS
    if not report:
        out.line("no singleton resources to check")
    width = max([len(name) for name in report] + [8])
    out.line(out.paint(f"{'RESOURCE':<{width}}  {'STATUS':<9}  {'LATENCY':>10}  DETAILS", "bold"))
    colours = {"healthy": "green", "unknown": "dim"}
    for name, entry in report.items():
        status = str(entry["status"])
        painted = out.paint(f"{status:<9}", colours.get(status, "red"))
        latency = entry.get("latency_ms")
        shown = f"{latency:.1f} ms" if isinstance(latency, int | float) else "-"
        detail = entry.get("error") or entry.get("details") or ""
        if isinstance(detail, dict):
            detail = ", ".join(f"{k}={v}" for k, v in detail.items() if k != "healthy")
        out.line(f"{name:<{width}}  {painted}  {shown:>10}  {detail}")
    verdict = "✓ all healthy" if healthy else "✗ some resources are not healthy"
    out.line(out.paint(verdict, "green" if healthy else "red"))
    return OK if healthy else PROBLEMS


def run_on_target(target: str, as_json: bool, command: Callable[[InjectQ, Output], int]) -> int:
    """Load ``target`` and run ``command`` on it; exit status 2 when it cannot be loaded."""
    out = Output(sys.stdout)
    try:
        container = load_target(target)
    except TargetError as exc:
        if as_json:
            out.json({"error": str(exc)})
        else:
            err = Output(sys.stderr)
            err.line(f"{err.paint('error:', 'red')} {exc}")
        return UNUSABLE
    return command(container, out)
