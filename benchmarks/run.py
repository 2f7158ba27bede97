"""Benchmark driver: injectq against the hand-written floor and its peers (DESIGN §5).

    uv run --group bench python benchmarks/run.py [--quick] [--only S1,S3] [--json out.json]

Every adapter is checked (``benchmarks/checks.py``) before it is timed. Libraries run
interleaved: for each repeat, every library is timed once (round-robin, starting at a
rotating position), and the reported figure is the median over the repeats. A repeat is a
timeit-style loop of N calls, N calibrated so that one repeat takes ~0.05 s or more.

The garbage collector stays on while timing the request scopes (S3, S4), as it is in a
server, so a library that leaves reference cycles behind on every request pays for
collecting them, as it would in production. The other scenarios keep timeit's default,
the collector off: S1, S2 and S5 leave no cyclic garbage in any library (the probe below
shows it), and S6's fresh classes per iteration are the harness's own cyclic garbage,
which would be collected on whichever library's time a collection happened to start.
``--gc on`` / ``--gc off`` times every scenario one way. Each library's cyclic garbage
per call is measured and listed under the table.
"""

import argparse
import asyncio
import compileall
import gc
import importlib
import importlib.metadata
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/ first, not the root
    sys.path.insert(0, str(ROOT))

from benchmarks import checks, model  # noqa: E402
from benchmarks.adapters import ADAPTERS, NotApplicable  # noqa: E402

SCENARIOS: dict[str, str] = {
    "S1": "get of a created singleton",
    "S2": "transient graph A(B(C), D), autowired",
    "S3": "sync request scope: 5 scoped services, 2 resources, teardown",
    "S4": "async request scope: the same, async resources",
    "S5": "call an injected function needing 2 singletons",
    "S6": "build a container of 200 classes, resolve each once (in-process)",
    "S6p": "S6 as a whole process: startup + imports + build + resolve",
}
# DESIGN §5: injectq's ratio to the floor must not exceed these.
TARGETS: dict[str, float] = {"S1": 2.5, "S2": 1.4, "S3": 2.5, "S4": 3.0, "S5": 4.0, "S6": 20.0}
DISPLAY = {
    "floor": "floor",
    "injectq": "injectq",
    "dishka": "dishka",
    "wireup": "wireup",
    "dependency_injector": "dependency-injector",
    "that_depends": "that-depends",
    "svcs": "svcs",
}
PACKAGES = {
    "injectq": "injectq",
    "dishka": "dishka",
    "wireup": "wireup",
    "dependency_injector": "dependency-injector",
    "that_depends": "that-depends",
    "svcs": "svcs",
}


@dataclass
class Cell:
    status: str = "ok"  # ok | fail | n/a | error | skipped
    reason: str = ""
    number: int = 0  # calls per repeat
    garbage: float | None = None  # objects of cyclic garbage per call
    samples: list[float] = field(default_factory=list)  # seconds per call, one per repeat

    @property
    def per_op(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass
class Config:
    repeats: int
    min_time: float  # seconds one repeat must at least take
    proc_repeats: int


def _short(exc: BaseException, limit: int = 90) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- timing primitives -----------------------------------------------------------------


def _time_sync(fn: Callable[[], object], n: int) -> float:
    it = itertools.repeat(None, n)
    t0 = time.perf_counter()
    for _ in it:
        fn()
    return time.perf_counter() - t0


def _time_async(fn: Callable[[], Any], n: int, loop: asyncio.AbstractEventLoop) -> float:
    async def body() -> float:
        it = itertools.repeat(None, n)
        t0 = time.perf_counter()
        for _ in it:
            await fn()
        return time.perf_counter() - t0

    return loop.run_until_complete(body())


def _time_s6(adapter: ModuleType, n: int, shared: list[type]) -> float:
    """Build+resolve timed per iteration; fresh classes each time so no per-class cache from
    an earlier iteration can help (the floor has no cache and reuses one set)."""
    fresh = getattr(adapter, "S6_FRESH_CLASSES", True)
    total = 0.0
    for _ in range(n):
        classes = model.make_s6_classes() if fresh else shared
        fn = adapter.s6(classes)
        t0 = time.perf_counter()
        fn()
        total += time.perf_counter() - t0
    return total


class Bench:
    """One scenario's timed callable for one library."""

    def __init__(self, run: Callable[[int], float], gc_on: bool) -> None:
        self.run = run
        self.gc_on = gc_on  # False: the collector is off while timing (timeit's way)

    def measure(self, n: int) -> float:
        gc.collect()  # every repeat starts from the same heap
        if self.gc_on:
            return self.run(n)
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self.run(n)
        finally:
            if enabled:
                gc.enable()

    def cyclic_garbage(self, n: int = 200) -> float:
        """Objects per call that only the cycle collector frees (reference cycles)."""
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            self.run(n)
            return gc.collect() / n
        finally:
            if enabled:
                gc.enable()

    def calibrate(self, min_time: float) -> int:
        n = 1
        while True:
            for k in (1, 2, 5):
                t = self.measure(n * k)
                if t >= min_time:
                    return n * k
            n *= 10


def interleaved_samples(benches: list[Bench], repeats: int, min_time: float) -> list[list[float]]:
    """For each of ``benches``, in order: seconds per call, one sample per repeat. Each is
    calibrated to ``min_time`` a repeat first; each repeat then times them all, round
    robin from a rotating start (what the standalone scripts share)."""
    numbers = [b.calibrate(min_time) for b in benches]
    samples: list[list[float]] = [[] for _ in benches]
    order = list(range(len(benches)))
    for r in range(repeats):
        k = r % len(order) if order else 0
        for i in order[k:] + order[:k]:
            samples[i].append(benches[i].measure(numbers[i]) / numbers[i])
    return samples


# --- per-scenario setup (+ check) --------------------------------------------------------


def _check_scopes(
    scenario: str,
    adapter: ModuleType,
    m: Any,
    fn: Callable[[], Any],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Check the timed setup, then fresh setups with both resource init orders: disposal
    that follows registration, dict or set order instead of reverse initialization order
    fails one of them (set order only with high probability, hence several setups)."""
    setups: list[tuple[Any, Callable[[], Any]]] = [(m, fn)]
    for reverse in (True, False, True, False, True):
        m2 = model.make_model(reverse=reverse)
        setups.append((m2, getattr(adapter, scenario.lower())(m2)))
    for mk, fk in setups:
        if scenario == "S4":
            checks.check_s4(mk, fk, loop)
        else:
            checks.check_s3(mk, fk)


#: "auto": the collector on while timing S3 and S4 only (see the module docstring)
GC_MODE = "auto"


def _gc_on(scenario: str) -> bool:
    return GC_MODE == "on" or (GC_MODE == "auto" and scenario in ("S3", "S4"))


def setup(
    scenario: str, adapter: ModuleType, loop: asyncio.AbstractEventLoop, shared: list[type]
) -> tuple[Cell, Bench | None]:
    cell = Cell()
    gc_on = _gc_on(scenario)
    try:
        if scenario == "S6":
            classes = model.make_s6_classes()
            fn6 = adapter.s6(classes)
            bench = Bench(lambda n: _time_s6(adapter, n, shared), gc_on)
            check: Callable[[], None] = lambda: checks.check_s6(classes, fn6)
        else:
            m = model.make_model()
            fn = getattr(adapter, scenario.lower())(m)
            if scenario in ("S3", "S4"):
                if scenario == "S4":
                    bench = Bench(lambda n: _time_async(fn, n, loop), gc_on)
                else:
                    bench = Bench(lambda n: _time_sync(fn, n), gc_on)
                check = lambda: _check_scopes(scenario, adapter, m, fn, loop)
            else:
                bench = Bench(lambda n: _time_sync(fn, n), gc_on)
                check = lambda: getattr(checks, f"check_{scenario.lower()}")(m, fn)
    except NotApplicable as exc:
        return Cell(status="n/a", reason=str(exc)), None
    except Exception as exc:
        traceback.print_exc()
        return Cell(status="error", reason=_short(exc)), None
    try:
        check()
    except checks.CheckFailed as exc:
        cell.status, cell.reason = "fail", str(exc)
    except Exception as exc:
        cell.status, cell.reason = "fail", _short(exc)
        return cell, None  # raised while running: nothing meaningful to time
    return cell, bench


def run_inprocess(
    scenario: str, adapters: dict[str, ModuleType], cfg: Config, loop: asyncio.AbstractEventLoop
) -> dict[str, Cell]:
    shared = model.make_s6_classes()
    cells: dict[str, Cell] = {}
    benches: dict[str, Bench] = {}
    for name, adapter in adapters.items():
        cell, bench = setup(scenario, adapter, loop, shared)
        cells[name] = cell
        if bench is not None:
            try:
                cell.number = bench.calibrate(cfg.min_time)
                if scenario != "S6":  # S6 builds containers: what it keeps is no garbage
                    cell.garbage = bench.cyclic_garbage()
                benches[name] = bench
            except Exception as exc:
                cells[name] = Cell(status="error", reason=_short(exc))
    names = list(benches)
    for r in range(cfg.repeats):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:  # round-robin, rotating the starting library
            cell = cells[name]
            try:
                cell.samples.append(benches[name].measure(cell.number) / cell.number)
            except Exception as exc:
                cells[name] = Cell(status="error", reason=_short(exc))
                names.remove(name)
    return cells


def run_wholeprocess(
    adapters: dict[str, ModuleType], s6: dict[str, Cell] | None, cfg: Config
) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for name in adapters:
        base = s6.get(name) if s6 else None
        if base is not None and base.status in ("n/a", "error"):
            cells[name] = Cell(status=base.status, reason=base.reason)
        else:
            cells[name] = Cell(
                status=base.status if base else "ok", reason=base.reason if base else ""
            )
    names = [n for n, c in cells.items() if c.status in ("ok", "fail")]
    # Peers are installed from wheels, with their bytecode compiled; injectq runs from
    # the checkout, so compile it the same way first (any PYTHONDONTWRITEBYTECODE value,
    # even "0", would keep children from caching it and make them compile it each time).
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for folder in (ROOT / "src", ROOT / "benchmarks"):
        compileall.compile_dir(folder, quiet=1)
    for r in range(cfg.proc_repeats):
        k = r % len(names) if names else 0
        for name in names[k:] + names[:k]:
            code = f"from benchmarks.wholeproc import main; main({name!r})"
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
            )
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                cells[name] = Cell(status="error", reason=last[:90])
                names.remove(name)
                continue
            cells[name].number = 1
            cells[name].samples.append(elapsed)
    return cells


# --- reporting ---------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def ratio(cell: Cell, floor: Cell | None) -> float | None:
    if cell.per_op is None or floor is None or not floor.per_op:
        return None
    return cell.per_op / floor.per_op


def fmt_cell(name: str, cell: Cell, floor: Cell | None) -> str:
    if cell.status == "n/a":
        return "n/a"
    if cell.status == "skipped":
        return "skipped (import failed)"
    if cell.status == "error":
        return f"ERROR({cell.reason})"
    t = cell.per_op
    timing = fmt_time(t) if t is not None else "—"
    x = ratio(cell, floor)
    if x is not None and name != "floor":
        timing += f" ×{x:.1f}"
    if cell.status == "fail":
        return f"FAIL({cell.reason}); unchecked {timing}"
    return timing


def target_cell(scenario: str, results: dict[str, dict[str, Cell]]) -> str:
    target = TARGETS.get(scenario)
    if target is None:
        return "—"
    text = f"≤ ×{target:g}"
    cells = results[scenario]
    inj = cells.get("injectq")
    x = ratio(inj, cells.get("floor")) if inj is not None else None
    if inj is not None and inj.status == "ok" and x is not None:
        text += " met" if x <= target else " **missed**"
    return text


def table(results: dict[str, dict[str, Cell]], names: list[str]) -> str:
    head = ["scenario", *(DISPLAY[n] for n in names), "injectq target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, cells in results.items():
        floor = cells.get("floor")
        row = [scenario]
        for name in names:
            cell = cells.get(name)
            row.append(fmt_cell(name, cell, floor) if cell else "—")
        row.append(target_cell(scenario, results))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def notes(results: dict[str, dict[str, Cell]], names: list[str]) -> str:
    out = []
    for scenario, cells in results.items():
        for name in names:
            cell = cells.get(name)
            if cell is not None and cell.status == "n/a":
                out.append(f"- {scenario} {DISPLAY[name]}: n/a — {cell.reason}")
    for scenario, cells in results.items():
        leaky = [
            f"{DISPLAY[name]} {cell.garbage:.1f}"
            for name in names
            if (cell := cells.get(name)) is not None and cell.garbage
        ]
        if leaky:
            out.append(f"- {scenario} cyclic garbage per call (objects): " + ", ".join(leaky))
    skipped = {
        name: cell.reason
        for cells in results.values()
        for name, cell in cells.items()
        if cell.status == "skipped"
    }
    out.extend(f"- {DISPLAY[name]} skipped: {reason}" for name, reason in skipped.items())
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod, dist in PACKAGES.items():
        try:
            versions[mod] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[mod] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu": cpu,
        "platform": platform.platform(),
        "versions": versions,
    }


def load_adapters(wanted: list[str]) -> tuple[dict[str, ModuleType], dict[str, str]]:
    loaded: dict[str, ModuleType] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        module = "floor" if name == "floor" else f"{name}_adapter"
        try:
            loaded[name] = importlib.import_module(f"benchmarks.adapters.{module}")
        except Exception as exc:
            skipped[name] = _short(exc)
            print(f"[skip] {name}: cannot import ({skipped[name]})", file=sys.stderr)
    return loaded, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fast smoke run (3 repeats)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. S1,S3,S6p")
    parser.add_argument("--libs", default="", help="comma-separated libraries (floor always)")
    parser.add_argument("--json", dest="json_path", help="also write the results as JSON")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument(
        "--gc",
        choices=("auto", "on", "off"),
        default="auto",
        help="the garbage collector while timing: on for S3/S4 only (auto), or everywhere on/off",
    )
    args = parser.parse_args(argv)
    global GC_MODE
    GC_MODE = args.gc

    cfg = (
        Config(repeats=3, min_time=0.01, proc_repeats=1)
        if args.quick
        else Config(repeats=7, min_time=0.05, proc_repeats=5)
    )
    if args.repeats:
        cfg.repeats = args.repeats
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    wanted = list(ADAPTERS)
    if args.libs:
        keep = {s.strip() for s in args.libs.split(",")} | {"floor"}
        wanted = [n for n in wanted if n in keep]

    info = machine()
    print(
        f"# python {info['python']} on {info['cpu']} ({info['nproc']} CPUs); "
        f"repeats={cfg.repeats}, min {cfg.min_time}s per repeat, "
        f"gc while timing: {GC_MODE} (auto: on for S3/S4 only)",
        file=sys.stderr,
    )
    adapters, skipped = load_adapters(wanted)
    loop = asyncio.new_event_loop()
    results: dict[str, dict[str, Cell]] = {}
    started = time.perf_counter()
    try:
        for scenario in only:
            t0 = time.perf_counter()
            if scenario == "S6p":
                cells = run_wholeprocess(adapters, results.get("S6"), cfg)
            else:
                cells = run_inprocess(scenario, adapters, cfg, loop)
            for name, reason in skipped.items():
                cells[name] = Cell(status="skipped", reason=f"import: {reason}")
            results[scenario] = {n: cells[n] for n in wanted if n in cells}
            print(f"# {scenario} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    finally:
        loop.close()

    print()
    print(table(results, wanted))
    extra = notes(results, wanted)
    if extra:
        print()
        print(extra)
    print(f"\n(total {time.perf_counter() - started:.0f}s)")
    if args.json_path:
        payload = {
            "machine": info,
            "config": {**asdict(cfg), "gc": GC_MODE},
            "scenarios": {s: SCENARIOS[s] for s in only},
            "targets": TARGETS,
            "results": {
                s: {n: {**asdict(c), "per_op": c.per_op} for n, c in cells.items()}
                for s, cells in results.items()
            },
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
