"""The ``injectq`` command line: ``injectq demo`` runs the resource-lifecycle demo;
``check``, ``graph``, ``health`` and ``resources`` inspect your own app's container
(``injectq check myapp.container:container``)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from injectq import InjectQ

FORMATS = ("mermaid", "dot", "json", "ascii")

__all__ = ["build_parser", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``injectq`` command's argument parser (its ``demo`` subcommand and ``--version``)."""
    from injectq import __version__

    parser = argparse.ArgumentParser(
        prog="injectq",
        description="injectq: dependency injection with resource lifecycle management.",
    )
    parser.add_argument("--version", action="version", version=f"injectq {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="serve simulated requests through real resources and prove nothing leaks",
        description=(
            "Start a small application (SQLite through a connection pool, a request-log "
            "file, an HTTP client against a local HTTP server it starts itself), serve "
            "concurrent requests, each in its own request scope, print the lifecycle log, "
            "check that every resource was disposed, then show metrics and a health report. "
            "Exits 1 if anything leaked."
        ),
    )
    demo.add_argument(
        "--requests",
        type=_positive_int,
        default=300,
        metavar="N",
        help="number of concurrent simulated requests (default: 300)",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable JSON summary instead of the human-readable report",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed choosing which requests meet the failing resources (default: 7)",
    )
    target_help = (
        "module:attribute naming an InjectQ container, or a zero-argument callable "
        "returning one (the module is imported from the current directory)"
    )
    json_help = "print machine-readable JSON"
    check = commands.add_parser(
        "check",
        help="validate a container: missing bindings, cycles, captive lifetimes, async needs",
        description=(
            "Validate the container without building anything. Exit 0 when the graph is "
            "sound (warnings are listed), 1 with each problem (kind, path, fix), 2 when "
            "TARGET cannot be imported or is not a container."
        ),
    )
    graph = commands.add_parser(
        "graph",
        help="draw a container's dependency graph (mermaid, dot, json, ascii)",
        description=(
            "Print the dependency graph: each service with its lifetime and whether it is "
            "a resource, each edge with the parameter it feeds, problems marked. Exit 0, "
            "or 2 when TARGET cannot be loaded."
        ),
    )
    graph.add_argument("--format", choices=FORMATS, default="mermaid", help="default: mermaid")
    graph.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    health = commands.add_parser(
        "health",
        help="start a container's singleton resources, check their health, close them",
        description=(
            "Start the container's singleton resources (validating first), run "
            "ResourceHealthChecker, print a table and close everything. Exit 0 when every "
            "resource is healthy, 1 when one is not (or starting failed), 2 when TARGET "
            "cannot be loaded."
        ),
    )
    health.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="seconds each health check may take (default: 5)",
    )
    resources = commands.add_parser(
        "resources",
        help="list a container's bindings with their lifetimes and which are resources",
        description="List the bindings (and what is autowired below them). Exit 0, or 2.",
    )
    for command in (check, graph, health, resources):
        command.add_argument("target", metavar="TARGET", help=target_help)
        command.add_argument("--json", action="store_true", help=json_help)
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``injectq`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "demo":
        from injectq.cli.demo import run_demo

        try:
            code = run_demo(requests=args.requests, seed=args.seed, as_json=args.json)
            sys.stdout.flush()
        except BrokenPipeError:
            # the reader went away (``injectq demo | head``): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        return code
    if args.command in ("check", "graph", "health", "resources"):
        return _inspect(args)
    parser.print_help(sys.stdout)  # no command: the help, with a usage error status
    return 2


def _inspect(args: argparse.Namespace) -> int:
    from injectq.cli import inspect_app as app

    command: Callable[[InjectQ, app.Output], int]
    if args.command == "check":
        command = functools.partial(app.run_check, as_json=args.json)
    elif args.command == "graph":
        command = functools.partial(
            app.run_graph, fmt=args.format, output_file=args.output, as_json=args.json
        )
    elif args.command == "health":
        command = functools.partial(app.run_health, timeout=args.timeout, as_json=args.json)
    else:
        command = functools.partial(app.run_resources, as_json=args.json)
    return app.run_on_target(args.target, args.json, command)
