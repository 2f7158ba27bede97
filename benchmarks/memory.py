"""A million S3 scope cycles under tracemalloc: memory stays flat (issue 5, "Memory").

    uv run --group bench python benchmarks/memory.py [--cycles 1000000] [--every 100000]

One cycle is the injectq adapter's S3 callable (benchmarks/adapters/injectq_adapter.py):
``with c.scope("request"): c.get(Handler)`` -- a sync request scope that creates 2
resources (initialize/dispose) + 4 scoped services, then disposes the resources on exit.
The monitor is on (the default), so its per-type counters and sample windows are included.

Method:
- tracemalloc starts first, then a warm-up of 10,000 cycles (first-call compilation, the
  monitor's bounded 1,024-sample windows filling up -- started after the warm-up instead,
  tracemalloc shows a ~147 KB climb that is only the untraced pre-start floats in those
  windows being replaced by traced ones: 2 types x 3 windows x 1,024 x 24 B), then the
  series is sampled every ``--every`` cycles: ``tracemalloc.get_traced_memory()[0]`` after a ``gc.collect()`` (what is still
  held), plus the live gc-tracked object count and the process RSS. Flat = the max-min
  spread of the series, which a leak of even 1 byte per cycle would push to ~1 MB.
- Per-scope allocation, three ways, each the median over 1,000 single cycles:
  * held at the scope's fullest: traced bytes with the scope open and the handler
    resolved, minus the bytes before entering (everything the scope keeps alive);
  * peak during one cycle: ``tracemalloc.reset_peak()`` before, peak minus the start after
    (the above plus transient allocations, e.g. frames and temporaries);
  * retained after the cycle: traced bytes after exit minus before (should be ~0).
  A snapshot diff taken with the scope open also gives the number of memory blocks, and
  ``gc.collect()`` after one cycle run with gc disabled counts the objects a scope leaves
  in reference cycles (freed by the cyclic gc, not by refcounting).
"""

import argparse
import gc
import itertools
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import checks, model  # noqa: E402
from benchmarks.adapters import injectq_adapter  # noqa: E402
from benchmarks.monitor_overhead import container_of  # noqa: E402

WARMUP = 10_000
PER_SCOPE_SAMPLES = 1_000


def rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=0, help="sample interval (cycles/10)")
    parser.add_argument(
        "--slotted",
        action="store_true",
        help="instead: request scopes of slotted resource classes (__slots__, "
        "@dataclass(slots=True)), whose state is kept aside rather than on the instance",
    )
    args = parser.parse_args(argv)
    if args.slotted:
        return slotted_series(args.cycles, args.every or max(1, args.cycles // 10))
    every = args.every or max(1, args.cycles // 10)

    m = model.make_model()
    fn = injectq_adapter.s3(m)
    checks.check_s3(m, fn)
    c = container_of(fn)
    Handler = m.Handler
    tracemalloc.start()
    for _ in itertools.repeat(None, WARMUP):
        fn()

    print(
        f"# python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"{args.cycles:,} S3 cycles after {WARMUP:,} warm-up, tracemalloc on"
    )
    print()
    print("| cycles | traced (current) | gc objects | RSS | elapsed |")
    print("|---:|---:|---:|---:|---:|")
    gc.collect()
    series: list[int] = []
    t0 = time.perf_counter()

    def sample(done: int) -> None:
        gc.collect()
        cur = tracemalloc.get_traced_memory()[0]
        series.append(cur)
        print(
            f"| {done:,} | {cur:,} B | {len(gc.get_objects()):,} | {rss_bytes() / 2**20:.1f} MiB"
            f" | {time.perf_counter() - t0:.1f} s |",
            flush=True,
        )

    sample(0)
    done = 0
    while done < args.cycles:
        step = min(every, args.cycles - done)
        for _ in itertools.repeat(None, step):
            fn()
        done += step
        sample(done)
    elapsed = time.perf_counter() - t0

    # per-scope allocation
    held: list[int] = []
    peak: list[int] = []
    retained: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(PER_SCOPE_SAMPLES):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            with c.scope("request"):
                c.get(Handler)
                held.append(tracemalloc.get_traced_memory()[0] - before)
            after, top = tracemalloc.get_traced_memory()
            peak.append(top - before)
            retained.append(after - before)
        snap0 = tracemalloc.take_snapshot()
        with c.scope("request"):
            c.get(Handler)
            snap1 = tracemalloc.take_snapshot()
        gc.collect()
        fn()
        cyclic = gc.collect()
    finally:
        gc.enable()
    diff = snap1.compare_to(snap0, "filename")
    blocks = sum(d.count_diff for d in diff if d.count_diff > 0)
    nbytes = sum(d.size_diff for d in diff if d.size_diff > 0)
    tracemalloc.stop()

    spread = max(series) - min(series)
    print()
    print(
        f"series: min {min(series):,} B, max {max(series):,} B, max-min spread {spread:,} B "
        f"({spread / args.cycles:.4f} B/cycle over {args.cycles:,} cycles); "
        f"last-first {series[-1] - series[0]:+,} B"
    )
    print(
        f"time: {elapsed:.1f} s for {args.cycles:,} cycles ({elapsed / args.cycles * 1e6:.2f} µs/cycle)"
    )
    print()
    print("| per scope (median of 1,000) | bytes |")
    print("|---|---:|")
    print(
        f"| held at the scope's fullest (open, handler resolved) | {statistics.median(held):,.0f} |"
    )
    print(f"| peak during one cycle (held + transient) | {statistics.median(peak):,.0f} |")
    print(f"| retained after the cycle | {statistics.median(retained):,.0f} |")
    print(f"| snapshot diff with the scope open: blocks / bytes | {blocks} / {nbytes:,} |")
    print(f"| objects left in reference cycles by one cycle (gc.collect()) | {cyclic} objects |")
    return 0


def slotted_series(cycles: int, every: int) -> int:
    """Issue 11 item 2: the state of an instance that cannot carry it is kept aside; that
    must not keep the activations alive. One cycle: a sync request scope activating a
    ``__slots__`` resource and a ``@dataclass(slots=True)`` one, both disposed at exit."""
    from dataclasses import dataclass

    from injectq import InjectQ, resource

    @resource
    class SlotsResource:
        __slots__ = ("opened",)

        def initialize(self) -> None:
            self.opened = True

        def dispose(self) -> None:
            self.opened = False

    @resource
    @dataclass(slots=True)
    class DataclassResource:
        opened: bool = False

        def initialize(self) -> None:
            self.opened = True

        def dispose(self) -> None:
            self.opened = False

    c = InjectQ()
    c.bind(SlotsResource, SlotsResource, scope="request")
    c.bind(DataclassResource, DataclassResource, scope="request")

    def cycle() -> None:
        with c.scope("request"):
            c.get(SlotsResource)
            c.get(DataclassResource)

    tracemalloc.start()
    for _ in itertools.repeat(None, WARMUP):
        cycle()
    print(f"# python {platform.python_version()}; {cycles:,} slotted cycles after {WARMUP:,}")
    print()
    print("| cycles | traced (current) | live SlotsResource | RSS |")
    print("|---:|---:|---:|---:|")
    series: list[int] = []
    done = 0
    while True:
        gc.collect()
        cur = tracemalloc.get_traced_memory()[0]
        series.append(cur)
        alive = sum(1 for obj in gc.get_objects() if type(obj) is SlotsResource)
        print(f"| {done:,} | {cur:,} B | {alive} | {rss_bytes() / 2**20:.1f} MiB |", flush=True)
        if done >= cycles:
            break
        step = min(every, cycles - done)
        for _ in itertools.repeat(None, step):
            cycle()
        done += step
    tracemalloc.stop()
    spread = max(series) - min(series)
    print()
    print(f"series: max-min spread {spread:,} B ({spread / cycles:.4f} B/cycle)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
