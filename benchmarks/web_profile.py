"""Where the web-load benchmark's injectq app spends its time, without a server.

    uv run --group bench python benchmarks/web_profile.py [--requests 2000] [--rounds 15]

Drives the two apps of ``web_load.py`` (injectq's and the hand-written one) through
ASGI in this process, ``--concurrency`` requests in flight, with no socket and no HTTP
parsing, so that what differs between them is the app alone. Reported:

- server CPU µs per request (``time.process_time``), the minimum over ``--rounds``
  alternating rounds (another process's load can only add to a round);
- Python bytecodes executed per request, by function, and the difference between the
  two apps: a count that does not move with the machine's load, so a change of a few
  bytecodes shows where timings would drown it in noise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import web_load  # the apps measured, from the script beside this one


def _scope(key: int) -> dict[str, Any]:
    path = f"/item/{key}"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    pass


async def drive(app: Any, requests: int, concurrency: int) -> None:
    """``requests`` requests through ``app``, ``concurrency`` at a time."""
    done = 0

    async def client() -> None:
        nonlocal done
        while done < requests:
            done += 1
            await app(_scope(done % web_load.DB_ROWS + 1), _receive, _send)

    await asyncio.gather(*(client() for _ in range(concurrency)))


def _where(code: Any) -> str:
    name = code.co_filename
    for marker in ("site-packages/", "/src/", "/benchmarks/"):
        name = name.split(marker)[-1]
    return f"{name}:{code.co_name}"


async def bytecodes(app: Any, requests: int, concurrency: int) -> collections.Counter[str]:
    """Bytecodes executed per function while ``app`` serves ``requests`` requests."""
    counts: collections.Counter[str] = collections.Counter()

    def trace(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        where = _where(frame.f_code)

        def count(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[where] += 1
            return count

        return count

    sys.settrace(trace)
    try:
        await drive(app, requests, concurrency)
    finally:
        sys.settrace(None)
    return counts


async def main_async(args: argparse.Namespace) -> None:
    db_path = web_load.create_database("injectq-web-profile-")
    apps = {
        "hand-written": web_load.handwritten_app(db_path),
        "injectq": web_load.injectq_app(db_path),
    }
    for app in apps.values():
        await drive(app, args.requests, args.concurrency)  # warm-up
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    for round_ in range(args.rounds):
        for name in apps if round_ % 2 == 0 else reversed(apps):
            started = time.process_time()
            await drive(apps[name], args.requests, args.concurrency)
            cpu[name].append((time.process_time() - started) / args.requests * 1e6)
    best = {name: min(values) for name, values in cpu.items()}
    print(
        f"CPU µs per request (min of {args.rounds} rounds): hand-written "
        f"{best['hand-written']:.1f}, injectq {best['injectq']:.1f} "
        f"(+{best['injectq'] - best['hand-written']:.1f})"
    )
    traced = 500
    counts = {name: await bytecodes(app, traced, args.concurrency) for name, app in apps.items()}
    totals = {name: sum(c.values()) / traced for name, c in counts.items()}
    print(
        f"bytecodes per request: hand-written {totals['hand-written']:.0f}, injectq "
        f"{totals['injectq']:.0f} (+{totals['injectq'] - totals['hand-written']:.0f})\n"
    )
    print("bytecodes per request by function, injectq minus hand-written:")
    hand, injectq = counts["hand-written"], counts["injectq"]
    rows = sorted(((injectq[k] - hand[k]) / traced, k) for k in set(hand) | set(injectq))
    for delta, where in reversed(rows):
        if abs(delta) >= 1:
            print(f"  {delta:+7.1f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
