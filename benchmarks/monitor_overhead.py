"""S3/S4 with the resource monitor on (the default) vs off (issue 4, "Benchmarks").

    uv run --group bench python benchmarks/monitor_overhead.py [--repeats 9]

The callables are the injectq adapter's ``s3``/``s4`` (benchmarks/adapters/injectq_adapter.py)
over the same ``benchmarks.model`` classes. "off" is the very same callable shape with its
container's ``resource_monitor.enabled = False`` (equivalent to
``InjectQ(monitor=ResourceMonitor(enabled=False))``: the flag is read at every record call).
With the flag off the state machine still calls ``record_*`` (which returns at once) and
still takes its ``perf_counter`` readings: "off" is the monitor's bookkeeping removed, not
a build with the calls compiled out.

Both variants pass benchmarks/checks.py before timing, and the monitor's counters are
verified to move when on and stay empty when off. Variants run interleaved (rotating
start), median of the repeats, each repeat a loop calibrated to >= 0.05 s, gc collected
then disabled during a repeat (as in benchmarks/run.py).
"""

import argparse
import asyncio
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import checks, model  # noqa: E402
from benchmarks.adapters import injectq_adapter  # noqa: E402
from benchmarks.run import Bench, _gc_on, _time_async, _time_sync, interleaved_samples  # noqa: E402
from injectq import InjectQ  # noqa: E402

TARGET = 0.10


def container_of(fn: Callable[..., Any]) -> InjectQ:
    """The InjectQ the adapter's closure captured."""
    for cell in fn.__closure__ or ():
        if isinstance(cell.cell_contents, InjectQ):
            return cell.cell_contents
    raise RuntimeError(f"no InjectQ in the closure of {fn!r}")


def build(
    scenario: str, monitor_on: bool, loop: asyncio.AbstractEventLoop
) -> tuple[Bench, InjectQ]:
    m = model.make_model()
    fn = getattr(injectq_adapter, scenario.lower())(m)
    c = container_of(fn)
    c.resource_monitor.enabled = monitor_on
    if scenario == "S4":
        checks.check_s4(m, fn, loop)
        bench = Bench(lambda n: _time_async(fn, n, loop), _gc_on(scenario))
    else:
        checks.check_s3(m, fn)
        bench = Bench(lambda n: _time_sync(fn, n), _gc_on(scenario))
    counted = sum(s["initialized"] for s in c.resource_monitor.snapshot().values())
    if monitor_on != (counted > 0):
        raise SystemExit(f"{scenario}: monitor_on={monitor_on} but it counted {counted} inits")
    return bench, c


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.05)
    args = parser.parse_args(argv)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    variants: list[tuple[str, str, Bench]] = []
    for scenario in ("S3", "S4"):
        for on in (True, False):
            bench, _ = build(scenario, on, loop)
            variants.append((scenario, "on" if on else "off", bench))
    found = interleaved_samples([b for _, _, b in variants], args.repeats, args.min_time)
    samples = {(s, v): sample for (s, v, _), sample in zip(variants, found, strict=True)}
    loop.close()

    print(
        f"# python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"median of {args.repeats} interleaved repeats"
    )
    print()
    print("| scenario | monitor on | monitor off | on vs off | spread on / off | target |")
    print("|---|---|---|---|---|---|")
    med = {key: statistics.median(sample) for key, sample in samples.items()}
    spread = {key: (max(sample) - min(sample)) / med[key] for key, sample in samples.items()}
    for scenario in ("S3", "S4"):
        on, off = med[scenario, "on"], med[scenario, "off"]
        diff = on / off - 1
        verdict = "met" if abs(diff) < TARGET else "**missed**"
        print(
            f"| {scenario} | {on * 1e6:.2f} µs | {off * 1e6:.2f} µs | {diff * 100:+.1f}% | "
            f"±{spread[scenario, 'on'] * 50:.1f}% / ±{spread[scenario, 'off'] * 50:.1f}% | "
            f"< {TARGET * 100:g}% {verdict} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
