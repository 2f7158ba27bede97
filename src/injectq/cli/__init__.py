"""The ``injectq`` command line: ``injectq demo`` runs the resource-lifecycle demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    return parser


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
    parser.print_help(sys.stdout)
    return 0
