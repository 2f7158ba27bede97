"""Load benchmark: uvicorn + Starlette served from injectq vs the same app by hand.

    uv run --group bench python benchmarks/web_load.py [--requests 20000] [--concurrency 64]
        [--cancel-share 0.1] [--rounds 10]

Two uvicorn servers (one worker each, httptools from the bench group, no access log) run as subprocesses
on 127.0.0.1: the app of :func:`injectq_app` (``setup_starlette``, a request-scoped
``@resource`` generator opening a SQLite connection, ``@inject`` endpoint) and the app
of :func:`handwritten_app` (the endpoint opens and closes the connection itself in a
``try/finally``). Each request reads a row through its own connection, across an
``await`` (the connection is held while the event loop serves other requests).

The load generator is this process: ``--concurrency`` keep-alive HTTP/1.1 connections
over raw asyncio streams, ``--requests`` requests per variant and phase, measured
latency per request. Phase ``steady``: every request completes. Phase ``cancel``: a
``--cancel-share`` of the requests go to a new connection that is aborted while the
request is being served (the handler is mid-request, holding its connection); the rest
as before. Variants alternate (``--rounds`` rounds, each variant's requests split
between them, the ratios taken per round and their median reported) so drift and
other load on the machine hit both alike. The servers are pinned to one core and the
load generator to another, where there are two.

Reported, per phase: requests/s and p99 latency of each variant and their ratio
(injectq / hand-written), and for each server after the load drained: open file
descriptors, SQLite connections open (by the app's own count and by descriptors on the
database file) and RSS, each against the baseline taken after warm-up; and for injectq,
resources created = disposed from ``container.resource_metrics()``. Wall-clock figures
move with whatever else the machine runs; the server CPU time per request (user +
system, read from the server process) is reported beside them as the steadier
measure of what the integration costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from injectq import Inject, InjectQ, inject, resource
from injectq.integrations.starlette import setup_starlette

ROOT = Path(__file__).resolve().parent.parent
DB_ROWS = 100


# --------------------------------------------------------------------------- server side
def _proc_stats(db_path: str, live_connections: int) -> dict[str, Any]:
    fds = os.listdir("/proc/self/fd")
    target = os.path.realpath(db_path)
    on_db = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                on_db += 1
        except OSError:
            pass
    rss_kib = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    times = os.times()
    return {
        "cpu": times.user + times.system,
        "fds": len(fds),
        "db_fds": on_db,
        "sqlite_open": live_connections,
        "rss_kib": rss_kib,
    }


class Counter:
    """SQLite connections open right now (opened minus closed), counted by the app."""

    live = 0


async def _read_row(conn: sqlite3.Connection, key: int) -> str:
    row = conn.execute("SELECT value FROM items WHERE id = ?", (key,)).fetchone()
    await asyncio.sleep(0)  # the connection is held across an await, as real handlers do
    return str(row[0])


class Database(sqlite3.Connection):
    """The request's connection (a type of its own, to bind it)."""


def handwritten_app(db_path: str) -> Any:
    async def item(request: Request) -> PlainTextResponse:
        conn = sqlite3.connect(db_path, check_same_thread=False)
        Counter.live += 1
        try:
            if request.query_params.get("slow"):
                await asyncio.sleep(0.005)
            return PlainTextResponse(await _read_row(conn, int(request.path_params["key"])))
        finally:
            conn.close()
            Counter.live -= 1

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(_proc_stats(db_path, Counter.live))

    return Starlette(routes=[Route("/item/{key}", item), Route("/stats", stats)])


def connection(db_path: str) -> Iterator[Database]:
    """The request's connection, opened and closed as every container's generator does
    (web_instructions.py serves it from dishka and wireup too)."""
    conn = sqlite3.connect(db_path, check_same_thread=False, factory=Database)
    Counter.live += 1
    try:
        yield conn
    finally:
        conn.close()
        Counter.live -= 1


def request_container(db_path: str) -> InjectQ:
    """A container with the request's connection bound request-scoped (a ``@resource``
    generator): what injectq's variants share."""

    @resource()
    def database() -> Iterator[Database]:
        yield from connection(db_path)

    container = InjectQ()
    container.bind(Database, database, scope="request")
    return container


def injectq_app(db_path: str) -> Any:
    container = request_container(db_path)

    @inject
    async def item(request: Request, conn: Database = Inject[Database]) -> PlainTextResponse:
        if request.query_params.get("slow"):
            await asyncio.sleep(0.005)
        return PlainTextResponse(await _read_row(conn, int(request.path_params["key"])))

    async def stats(request: Request) -> JSONResponse:
        body = _proc_stats(db_path, Counter.live)
        body["resources"] = container.resource_metrics()
        return JSONResponse(body)

    app = Starlette(routes=[Route("/item/{key}", item), Route("/stats", stats)])
    setup_starlette(container, app)
    return app


APPS = {"handwritten": handwritten_app, "injectq": injectq_app}


def serve(app: Any, port: int) -> None:  # pragma: no cover - subprocess
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` until interrupted."""
    import uvicorn

    _pin(0)  # the servers share core 0 (one is loaded at a time), the load generator core 1
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http="auto",  # httptools when installed (the bench group), else h11
        loop="asyncio",
    )


# --------------------------------------------------------------------------- load side
class Server:
    """A server subprocess: ``script --serve variant db_path port``, run under the
    ``wrapper`` command when there is one (``valgrind …``: see web_instructions.py)."""

    def __init__(
        self,
        variant: str,
        db_path: str,
        *,
        script: str = __file__,
        wrapper: tuple[str, ...] = (),
        startup_seconds: float = 30,
    ) -> None:
        self.variant = variant
        self.startup_seconds = startup_seconds
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.process = subprocess.Popen(
            [*wrapper, sys.executable, script, "--serve", variant, db_path, str(self.port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stderr=subprocess.PIPE if wrapper else None,
            text=True,
        )

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_seconds
        while True:
            try:
                await self.stats()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {self.variant} server did not start") from None
                await asyncio.sleep(0.05)

    async def stats(self) -> dict[str, Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(b"GET /stats HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            raw = await reader.read()
        finally:
            writer.close()
        return json.loads(raw.split(b"\r\n\r\n", 1)[1])  # type: ignore[no-any-return]

    def stop(self) -> str:
        """Stop the server (uvicorn shuts down on SIGTERM); the wrapper's stderr, if any."""
        self.process.terminate()
        _out, err = self.process.communicate(timeout=120)
        return err or ""


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    status = head[9:12]
    await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"unexpected status {status!r}")


async def _cancelling_request(port: int, key: int) -> None:
    """A client that goes away mid-request: it sends a slow request, waits until the
    handler holds its connection, and aborts."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /item/{key}?slow=1 HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.002)  # the handler sleeps 5 ms holding its connection
    writer.transport.abort()


async def load(
    port: int, requests: int, concurrency: int, cancel_share: float, seed: int
) -> tuple[float, list[float], int]:
    """``requests`` requests over ``concurrency`` keep-alive connections; returns
    (elapsed seconds, latencies of the completed requests, cancelled count)."""
    rng = random.Random(seed)
    plan = [rng.random() < cancel_share for _ in range(requests)]
    next_index = 0
    latencies: list[float] = []
    cancelled = 0

    async def client() -> None:
        nonlocal next_index, cancelled
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < requests:
                index = next_index
                next_index += 1
                key = index % DB_ROWS + 1
                if plan[index]:
                    await _cancelling_request(port, key)
                    cancelled += 1
                    continue
                start = time.perf_counter()
                writer.write(f"GET /item/{key} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                await _read_response(reader)
                latencies.append(time.perf_counter() - start)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, cancelled


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def drained(server: Server, baseline: dict[str, Any]) -> dict[str, Any]:
    """The server's stats once the load has drained (sockets closed, handlers done)."""
    deadline = time.monotonic() + 10
    while True:
        stats = await server.stats()
        if stats["sqlite_open"] == 0 and stats["fds"] <= baseline["fds"]:
            return stats
        if time.monotonic() > deadline:
            return stats  # reported as is: not back to the baseline
        await asyncio.sleep(0.05)


def create_database(prefix: str) -> str:
    """A new SQLite file in a temporary folder with the ``items`` table the apps read."""
    db_path = os.path.join(tempfile.mkdtemp(prefix=prefix), "bench.sqlite3")
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)")
        raw.executemany(
            "INSERT INTO items (id, value) VALUES (?, ?)",
            [(n, f"item-{n}") for n in range(1, DB_ROWS + 1)],
        )
    raw.close()
    return db_path


def _pin(core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:
        os.sched_setaffinity(0, {cores[core]})


async def main_async(args: argparse.Namespace) -> None:
    _pin(1)
    db_path = create_database("injectq-web-load-")
    servers = {name: Server(name, db_path) for name in ("handwritten", "injectq")}
    try:
        for server in servers.values():
            await server.wait_ready()
        for server in servers.values():  # warm-up
            await load(server.port, 2000, args.concurrency, args.cancel_share, seed=0)
        baselines = {}
        for name, server in servers.items():
            baselines[name] = await drained(server, {"fds": 10**9})
        results: dict[str, dict[str, Any]] = {}
        per_round = args.requests // args.rounds
        for phase, share in (("steady", 0.0), ("cancel", args.cancel_share)):
            totals = {name: {"elapsed": 0.0, "lat": [], "cancelled": 0} for name in servers}
            pairs: list[tuple[float, float]] = []  # per round: (req/s ratio, p99 ratio)
            cpu = dict.fromkeys(servers, 0.0)  # server CPU seconds spent on the load
            for round_ in range(args.rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                measured = {}
                for name in order:
                    cpu_before = (await servers[name].stats())["cpu"]
                    elapsed, lat, cancelled = await load(
                        servers[name].port, per_round, args.concurrency, share, seed=round_ + 1
                    )
                    cpu[name] += (await servers[name].stats())["cpu"] - cpu_before
                    totals[name]["elapsed"] += elapsed
                    totals[name]["lat"] += lat
                    totals[name]["cancelled"] += cancelled
                    measured[name] = ((per_round - cancelled) / elapsed, p99(lat))
                pairs.append(
                    (
                        measured["injectq"][0] / measured["handwritten"][0],
                        measured["injectq"][1] / measured["handwritten"][1],
                    )
                )
            after = {
                name: await drained(server, baselines[name]) for name, server in servers.items()
            }
            results[phase] = {"totals": totals, "after": after, "pairs": pairs, "cpu": cpu}
        report(args, baselines, results)
    finally:
        for server in servers.values():
            server.stop()


def report(
    args: argparse.Namespace, baselines: dict[str, Any], results: dict[str, dict[str, Any]]
) -> None:
    print(
        f"uvicorn + Starlette, {args.requests} requests per variant and phase, "
        f"concurrency {args.concurrency}, {args.rounds} alternating rounds; "
        f"cancel phase: {args.cancel_share:.0%} of clients abort mid-request\n"
    )
    print(
        "| phase | hand-written req/s | injectq req/s | req/s ratio (median of rounds) "
        "| hand-written p99 ms | injectq p99 ms | p99 ratio (median of rounds) "
        "| server CPU µs/request, hand-written → injectq (ratio) | cancelled per variant |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for phase, result in results.items():
        totals = result["totals"]
        rps = {n: (args.requests - t["cancelled"]) / t["elapsed"] for n, t in totals.items()}
        tail = {n: p99(t["lat"]) * 1000 for n, t in totals.items()}
        rps_ratio = statistics.median(pair[0] for pair in result["pairs"])
        p99_ratio = statistics.median(pair[1] for pair in result["pairs"])
        # every request, the cancelled ones too, costs the server CPU time
        cpu_us = {n: result["cpu"][n] / args.requests * 1e6 for n in totals}
        print(
            f"| {phase} | {rps['handwritten']:.0f} | {rps['injectq']:.0f} | "
            f"{rps_ratio:.3f} | {tail['handwritten']:.2f} | {tail['injectq']:.2f} | "
            f"{p99_ratio:.3f} | {cpu_us['handwritten']:.0f} → {cpu_us['injectq']:.0f} "
            f"({cpu_us['injectq'] / cpu_us['handwritten']:.3f}) | {totals['injectq']['cancelled']} |"
        )
    print()
    print("per-round ratios (req/s, p99):")
    for phase, result in results.items():
        print(f"  {phase}: " + ", ".join(f"({a:.2f}, {b:.2f})" for a, b in result["pairs"]))
    print()
    print(
        "| server | phase | fds (baseline → after) | SQLite connections open (count / fds on "
        "the file) | RSS MiB (baseline → after) | resources created / disposed |"
    )
    print("|---|---|---|---|---|---|")
    for phase, result in results.items():
        for name, after in result["after"].items():
            base = baselines[name]
            resources = "n/a (hand-written)"
            if "resources" in after:
                metrics = after["resources"].get("Database", {})
                resources = f"{metrics.get('created')} / {metrics.get('disposed')}"
            print(
                f"| {name} | {phase} | {base['fds']} → {after['fds']} | "
                f"{after['sqlite_open']} / {after['db_fds']} | "
                f"{base['rss_kib'] / 1024:.1f} → {after['rss_kib'] / 1024:.1f} | {resources} |"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(APPS[sys.argv[2]](sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cancel-share", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
