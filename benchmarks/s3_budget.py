"""Where S3's time goes: the request cut down piece by piece, timed in one run.

    uv run --group bench python benchmarks/s3_budget.py [--repeats 9]

DESIGN §5 asks S3 (enter a request scope, resolve a handler needing five scoped services,
two of them resources, exit) to cost at most 2.5 times the hand-written floor. This script
shows how much of injectq's S3 each part takes, so the gap to that target can be read off
a fresh run instead of taken on trust. Every variant is the same ``benchmarks.model``
request, cut down:

- ``floor``: the hand-written request (``benchmarks/adapters/floor.py``).
- ``floor, no lifecycle calls``: the same objects, no ``initialize()``/``dispose()``
  calls; ``floor`` minus this is what the four lifecycle calls themselves cost.
- ``injectq, empty scope``: ``with c.scope("request"): pass``.
- ``injectq, resources bound as plain classes``: the S3 graph with ``Res1``/``Res2``
  bound without ``resource()``; nothing is initialized, disposed or recorded.
- ``injectq, monitor off``: S3 with ``ResourceMonitor(enabled=False)``.
- ``injectq``: S3 as ``benchmarks/run.py`` times it.
- ``dishka``, ``wireup``: their S3 adapters, when the ``bench`` group is installed.

The variants run interleaved (rotating start), median of the repeats, the garbage
collector on as in ``run.py``'s S3. The derived lines under the table subtract medians.
"""

import argparse
import importlib
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import checks, model  # noqa: E402
from benchmarks.adapters import floor, injectq_adapter  # noqa: E402
from benchmarks.run import TARGETS, Bench, _time_sync, interleaved_samples  # noqa: E402
from injectq import InjectQ, ResourceMonitor, resource  # noqa: E402


def floor_without_lifecycle(m: SimpleNamespace) -> Callable[[], object]:
    """The floor's request with the four lifecycle calls taken out."""
    config = m.Config()
    Res1, Res2, Svc1, Svc2, Svc3, Handler = m.Res1, m.Res2, m.Svc1, m.Svc2, m.Svc3, m.Handler

    def request() -> object:
        r1 = Res1(config)
        try:
            r2 = Res2(config)
            try:
                handler = Handler(Svc1(r1), Svc2(r2), Svc3(config), r1, r2)
            finally:
                pass
        finally:
            pass
        return handler

    return request


def injectq_s3(
    m: SimpleNamespace, *, resources: bool = True, monitor: bool = True, empty: bool = False
) -> Callable[[], object]:
    """The injectq adapter's S3, with the given part taken out."""
    c = InjectQ(monitor=ResourceMonitor(enabled=monitor))
    c.bind(m.Config, m.Config)
    c.bind(m.Res1, resource(m.Res1) if resources else m.Res1, scope="request")
    c.bind(m.Res2, resource(m.Res2) if resources else m.Res2, scope="request")
    for cls in (m.Svc1, m.Svc2, m.Svc3, m.Handler):
        c.bind(cls, cls, scope="request")
    Handler = m.Handler

    if empty:

        def enter_and_exit() -> object:
            with c.scope("request"):
                return None

        return enter_and_exit

    def request() -> object:
        with c.scope("request"):
            return c.get(Handler)

    return request


def variants() -> list[tuple[str, Callable[[], object]]]:
    out: list[tuple[str, Callable[[], object]]] = []

    def add(name: str, make: Callable[[SimpleNamespace], Callable[[], object]]) -> None:
        m = model.make_model()
        out.append((name, make(m)))

    add("floor", floor.s3)
    add("floor, no lifecycle calls", floor_without_lifecycle)
    add("injectq, empty scope", lambda m: injectq_s3(m, empty=True))
    add("injectq, resources bound as plain classes", lambda m: injectq_s3(m, resources=False))
    add("injectq, monitor off", lambda m: injectq_s3(m, monitor=False))
    add("injectq", injectq_adapter.s3)
    for peer in ("dishka", "wireup"):
        try:
            adapter = importlib.import_module(f"benchmarks.adapters.{peer}_adapter")
            add(peer, adapter.s3)
        except ImportError:
            print(f"# {peer}: not installed (uv run --group bench ...), left out")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.05)
    args = parser.parse_args(argv)

    found = variants()
    # the full requests must still do what S3 asks: one init and one dispose per resource
    # per scope, in reverse order (the cut-down variants do less on purpose)
    for name, _ in found:
        if name in ("injectq", "injectq, monitor off", "dishka", "wireup"):
            checks.check_s3(*_checked(name))
    benches = [(name, Bench(lambda n, fn=fn: _time_sync(fn, n), True)) for name, fn in found]
    samples = interleaved_samples([b for _, b in benches], args.repeats, args.min_time)
    med = {name: statistics.median(s) for (name, _), s in zip(benches, samples, strict=True)}

    print(
        f"# python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"median of {args.repeats} interleaved repeats, collector on"
    )
    print()
    print("| variant | per request | ratio to floor |")
    print("|---|---|---|")
    base = med["floor"]
    for name, _ in benches:
        print(f"| {name} | {_fmt(med[name])} | ×{med[name] / base:.2f} |")
    lifecycle_calls = base - med["floor, no lifecycle calls"]
    plain = med["injectq, resources bound as plain classes"]
    bare = plain + lifecycle_calls
    full, monitor_off = med["injectq"], med["injectq, monitor off"]
    target = TARGETS["S3"] * base
    print()
    print(f"- S3 target (×{TARGETS['S3']:g} the floor): {_fmt(target)}")
    print(f"- the four initialize()/dispose() calls themselves: {_fmt(lifecycle_calls)}")
    print(f"- entering and leaving an empty scope: {_fmt(med['injectq, empty scope'])}")
    print(
        f"- injectq's S3 with no resource bookkeeping (plain classes + those four calls): "
        f"{_fmt(bare)}, ×{bare / base:.2f} the floor"
    )
    print(
        f"- resource bookkeeping per resource (state, ownership, order, timings, counters): "
        f"{_fmt((full - bare) / 2)}, of which the monitor's counters and samples "
        f"{_fmt((full - monitor_off) / 2)}"
    )
    return 0


def _checked(name: str) -> tuple[SimpleNamespace, Callable[[], object]]:
    # check_s3 needs the model the callable was built from: rebuild both with the log on
    m = model.make_model()
    if name == "injectq":
        return m, injectq_adapter.s3(m)
    if name == "injectq, monitor off":
        return m, injectq_s3(m, monitor=False)
    adapter = importlib.import_module(f"benchmarks.adapters.{name}_adapter")
    return m, adapter.s3(m)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs" if seconds >= 1e-6 else f"{seconds * 1e9:.0f} ns"


if __name__ == "__main__":
    raise SystemExit(main())
