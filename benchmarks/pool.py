"""ResourcePool acquire+release against a bare queue floor (issue 4, "Benchmarks").

    uv run --group bench python benchmarks/pool.py [--repeats 9] [--items object,sqlite]

What is timed, per acquisition (lower is better), pool pre-filled with min_size=max_size=10
items, no validate / max_idle_time / recycle_after:

- async, 1 task: ``async with pool.acquire() as item: pass`` in one task's loop, against
  ``item = await q.get(); q.put_nowait(item)`` on an ``asyncio.Queue`` holding the same items.
- async, 100 tasks / 10 items: 100 tasks each loop acquire -> ``await asyncio.sleep(0)``
  (hold the item across a suspension, so 90 tasks really wait) -> release; the floor does
  the same with the queue. Time per acquisition = wall time / total acquisitions.
- sync, 1 thread: ``with pool.acquire() as item: pass`` against ``queue.SimpleQueue``
  get+put (thread-safe, like the pool) and ``collections.deque`` pop+append (not).

Items are either plain objects or sqlite3 connections opened once (``:memory:``); the pool's
factory hands out those same objects, so both sides lend identical items. Libraries run
interleaved (each repeat times every case once, starting at a rotating position), the
figure is the median over the repeats, each repeat a loop calibrated to >= 0.05 s; gc is
collected then disabled while a repeat runs (as in benchmarks/run.py).
"""

import argparse
import asyncio
import collections
import gc
import itertools
import os
import platform
import queue
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from injectq import ResourcePool  # noqa: E402

SIZE = 10
TASKS = 100
TARGET = 2.0


class Item:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


def make_items(kind: str) -> list[Any]:
    if kind == "sqlite":
        return [sqlite3.connect(":memory:", check_same_thread=False) for _ in range(SIZE)]
    return [Item(i) for i in range(SIZE)]


def _factory(items: list[Any]) -> Callable[[], Any]:
    it: Iterator[Any] = iter(items)

    def factory() -> Any:
        return next(it)  # the same pre-made items, each handed out once

    return factory


def _afactory(items: list[Any]) -> Callable[[], Any]:
    it: Iterator[Any] = iter(items)

    async def factory() -> Any:
        return next(it)

    return factory


# --- timed bodies: each returns the seconds n acquisitions took ---------------------------


def async_single_pool(pool: ResourcePool[Any]) -> Callable[[int], Any]:
    async def run(n: int) -> float:
        acquire = pool.acquire
        t0 = time.perf_counter()
        for _ in itertools.repeat(None, n):
            async with acquire() as _item:
                pass
        return time.perf_counter() - t0

    return run


def async_single_queue(q: "asyncio.Queue[Any]") -> Callable[[int], Any]:
    async def run(n: int) -> float:
        get, put = q.get, q.put_nowait
        t0 = time.perf_counter()
        for _ in itertools.repeat(None, n):
            item = await get()
            put(item)
        return time.perf_counter() - t0

    return run


def async_contended_pool(pool: ResourcePool[Any]) -> Callable[[int], Any]:
    async def worker(k: int) -> None:
        acquire, sleep = pool.acquire, asyncio.sleep
        for _ in itertools.repeat(None, k):
            async with acquire() as _item:
                await sleep(0)

    async def run(n: int) -> float:
        k = max(1, n // TASKS)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for _ in range(TASKS)))
        return (time.perf_counter() - t0) * n / (k * TASKS)

    return run


def async_contended_queue(q: "asyncio.Queue[Any]") -> Callable[[int], Any]:
    async def worker(k: int) -> None:
        get, put, sleep = q.get, q.put_nowait, asyncio.sleep
        for _ in itertools.repeat(None, k):
            item = await get()
            await sleep(0)
            put(item)

    async def run(n: int) -> float:
        k = max(1, n // TASKS)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for _ in range(TASKS)))
        return (time.perf_counter() - t0) * n / (k * TASKS)

    return run


def sync_pool(pool: ResourcePool[Any]) -> Callable[[int], float]:
    def run(n: int) -> float:
        acquire = pool.acquire
        t0 = time.perf_counter()
        for _ in itertools.repeat(None, n):
            with acquire() as _item:
                pass
        return time.perf_counter() - t0

    return run


def sync_simplequeue(q: "queue.SimpleQueue[Any]") -> Callable[[int], float]:
    def run(n: int) -> float:
        get, put = q.get, q.put
        t0 = time.perf_counter()
        for _ in itertools.repeat(None, n):
            item = get()
            put(item)
        return time.perf_counter() - t0

    return run


def sync_deque(d: "collections.deque[Any]") -> Callable[[int], float]:
    def run(n: int) -> float:
        pop, append = d.pop, d.append
        t0 = time.perf_counter()
        for _ in itertools.repeat(None, n):
            item = pop()
            append(item)
        return time.perf_counter() - t0

    return run


# --- harness -------------------------------------------------------------------------------


class Case:
    def __init__(self, group: str, name: str, body: Callable[[int], Any], floor: bool) -> None:
        self.group, self.name, self.body, self.floor = group, name, body, floor
        self.number = 0
        self.samples: list[float] = []

    def measure(self, n: int, loop: asyncio.AbstractEventLoop) -> float:
        gc.collect()
        gc.disable()
        try:
            out = self.body(n)
            if asyncio.iscoroutine(out):
                out = loop.run_until_complete(out)
            return float(out)
        finally:
            gc.enable()

    def calibrate(self, min_time: float, loop: asyncio.AbstractEventLoop) -> None:
        n = TASKS  # the contended cases split n over the tasks
        while True:
            for k in (1, 2, 5):
                if self.measure(n * k, loop) >= min_time:
                    self.number = n * k
                    return
            n *= 10


def build_cases(kind: str, loop: asyncio.AbstractEventLoop, pools: list[Any]) -> list[Case]:
    items = make_items(kind)
    g1 = f"{kind}: async, 1 task"
    g2 = f"{kind}: async, {TASKS} tasks / {SIZE} items"
    g3 = f"{kind}: sync, 1 thread"
    cases: list[Case] = []

    async def make_async_pool() -> ResourcePool[Any]:
        pool: ResourcePool[Any] = ResourcePool(_afactory(items), min_size=SIZE, max_size=SIZE)
        await pool.initialize()
        return pool

    async def make_queue() -> "asyncio.Queue[Any]":
        q: asyncio.Queue[Any] = asyncio.Queue()
        for item in items:
            q.put_nowait(item)
        return q

    apool = loop.run_until_complete(make_async_pool())
    assert apool.stats().idle == SIZE, apool
    aq = loop.run_until_complete(make_queue())
    cases.append(Case(g1, "ResourcePool", async_single_pool(apool), False))
    cases.append(Case(g1, "asyncio.Queue (floor)", async_single_queue(aq), True))
    cases.append(Case(g2, "ResourcePool", async_contended_pool(apool), False))
    cases.append(Case(g2, "asyncio.Queue (floor)", async_contended_queue(aq), True))

    spool: ResourcePool[Any] = ResourcePool(_factory(items), min_size=SIZE, max_size=SIZE)
    spool.initialize_sync()
    assert spool.stats().idle == SIZE, spool
    sq: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for item in items:
        sq.put(item)
    dq: collections.deque[Any] = collections.deque(items)
    cases.append(Case(g3, "ResourcePool (sync)", sync_pool(spool), False))
    cases.append(Case(g3, "queue.SimpleQueue (floor)", sync_simplequeue(sq), True))
    cases.append(Case(g3, "collections.deque (floor, not thread-safe)", sync_deque(dq), False))
    pools.extend((apool, aq, spool, sq, dq))
    return cases


def check(cases: list[Case], loop: asyncio.AbstractEventLoop, pools: list[Any]) -> None:
    """Run every case once, then every pool/queue holds all its items again, idle."""
    for case in cases:
        case.measure(TASKS * 10, loop)
    for p in pools:
        if isinstance(p, ResourcePool):
            s = p.stats()
            ok = s.idle == SIZE and s.in_use == 0 and s.created == SIZE and s.waiting == 0
        else:
            ok = (p.qsize() if hasattr(p, "qsize") else len(p)) == SIZE
        if not ok:
            raise SystemExit(f"check failed: {p!r} does not hold its {SIZE} items after a run")


def fmt(seconds: float) -> str:
    return f"{seconds * 1e9:.0f} ns" if seconds < 1e-6 else f"{seconds * 1e6:.2f} µs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--items", default="object,sqlite", help="object,sqlite")
    args = parser.parse_args(argv)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    cases: list[Case] = []
    pools: list[Any] = []
    for kind in [k.strip() for k in args.items.split(",") if k.strip()]:
        cases.extend(build_cases(kind, loop, pools))
    check(cases, loop, pools)
    for case in cases:
        case.calibrate(args.min_time, loop)
    for r in range(args.repeats):
        k = r % len(cases)
        for case in cases[k:] + cases[:k]:
            case.samples.append(case.measure(case.number, loop) / case.number)

    print(
        f"# python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"median of {args.repeats} interleaved repeats; pool min_size=max_size={SIZE}"
    )
    print()
    print("| case | implementation | per acquire+release | ratio to floor | target |")
    print("|---|---|---|---|---|")
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    for group, members in groups.items():
        floor = statistics.median(next(c for c in members if c.floor).samples)
        for case in members:
            t = statistics.median(case.samples)
            x = t / floor
            target = ""
            if case.name == "ResourcePool":  # the target is for the async pool
                target = f"≤ ×{TARGET:g} " + ("met" if x <= TARGET else "**missed**")
            elif case.name.startswith("ResourcePool"):
                target = "(none in the issue)"
            print(f"| {group} | {case.name} | {fmt(t)} | ×{x:.2f} | {target} |")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
