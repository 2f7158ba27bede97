"""S3/S4 with the resources written as generator factories, as dishka and wireup write them.

    uv run --group bench python benchmarks/generators.py [--repeats 9]

``benchmarks/run.py`` times each library in its own way of writing a resource: injectq's
S3/S4 adapter binds resource *classes* (``initialize()``/``dispose()``, the InjectQ
page's way), dishka's and wireup's provide them with generator functions (``yield``,
cleanup after it). Both are idiomatic, so the harness keeps them; this script adds the
like-for-like comparison: injectq with the same generator functions
(``@resource()``-decorated), next to its class resources and the peers.

Every callable passes ``benchmarks/checks.py`` first (each resource initialized and
disposed once per scope, in reverse order). Variants run interleaved, median of the
repeats, the collector on (as ``run.py`` times S3/S4).
"""

import argparse
import asyncio
import importlib
import os
import platform
import statistics
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import checks, model  # noqa: E402
from benchmarks.adapters import floor, injectq_adapter  # noqa: E402
from benchmarks.run import Bench, _time_async, _time_sync, interleaved_samples  # noqa: E402
from injectq import InjectQ, resource  # noqa: E402


def injectq_s3_generators(m: SimpleNamespace) -> Callable[[], object]:
    """S3 with ``@resource()`` generator factories (dishka's/wireup's adapters' shape)."""

    @resource()
    def res1(config: m.Config) -> Iterator[m.Res1]:
        r = m.Res1(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    @resource()
    def res2(config: m.Config) -> Iterator[m.Res2]:
        r = m.Res2(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    c = InjectQ()
    c.bind(m.Config, m.Config)
    c.bind(m.Res1, res1, scope="request")
    c.bind(m.Res2, res2, scope="request")
    for cls in (m.Svc1, m.Svc2, m.Svc3, m.Handler):
        c.bind(cls, cls, scope="request")
    Handler = m.Handler

    def request() -> object:
        with c.scope("request"):
            return c.get(Handler)

    return request


def injectq_s4_generators(m: SimpleNamespace) -> Callable[[], Any]:
    """S4 with ``@resource()`` async generator factories."""

    @resource()
    async def res1(config: m.Config) -> AsyncIterator[m.ARes1]:
        r = m.ARes1(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    @resource()
    async def res2(config: m.Config) -> AsyncIterator[m.ARes2]:
        r = m.ARes2(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    c = InjectQ()
    c.bind(m.Config, m.Config)
    c.bind(m.ARes1, res1, scope="request")
    c.bind(m.ARes2, res2, scope="request")
    for cls in (m.ASvc1, m.ASvc2, m.ASvc3, m.AHandler):
        c.bind(cls, cls, scope="request")
    AHandler = m.AHandler

    async def request() -> object:
        async with c.scope("request"):
            return await c.aget(AHandler)

    return request


def setups() -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """Name -> (S3 setup, S4 setup); peers only when the bench group is installed."""
    out: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "floor": (floor.s3, floor.s4),
        "injectq, resource classes": (injectq_adapter.s3, injectq_adapter.s4),
        "injectq, generator factories": (injectq_s3_generators, injectq_s4_generators),
    }
    for peer in ("dishka", "wireup"):
        try:
            adapter = importlib.import_module(f"benchmarks.adapters.{peer}_adapter")
        except ImportError:
            print(f"# {peer}: not installed (uv run --group bench ...), left out")
            continue
        out[f"{peer}, generator factories"] = (adapter.s3, adapter.s4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.05)
    args = parser.parse_args(argv)

    loop = asyncio.new_event_loop()
    benches: list[tuple[str, str, Bench]] = []
    for name, (s3, s4) in setups().items():
        for reverse in (False, True):  # both parameter orders: disposal order is checked
            checks.check_s3(mr := model.make_model(reverse=reverse), s3(mr))
            checks.check_s4(mr := model.make_model(reverse=reverse), s4(mr), loop)
        fn3, fn4 = s3(model.make_model()), s4(model.make_model())
        benches.append(("S3", name, Bench(lambda n, fn=fn3: _time_sync(fn, n), True)))
        benches.append(("S4", name, Bench(lambda n, fn=fn4: _time_async(fn, n, loop), True)))
    samples = interleaved_samples([b for _, _, b in benches], args.repeats, args.min_time)
    loop.close()

    print(
        f"# python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"median of {args.repeats} interleaved repeats, collector on"
    )
    print()
    print("| scenario | variant | per request | ratio to floor |")
    print("|---|---|---|---|")
    med = {
        (scenario, name): statistics.median(sample)
        for (scenario, name, _), sample in zip(benches, samples, strict=True)
    }
    for scenario, name, _ in sorted(benches, key=lambda item: item[0]):  # stable: S3, then S4
        base = med[scenario, "floor"]
        per = med[scenario, name]
        print(f"| {scenario} | {name} | {per * 1e6:.2f} µs | ×{per / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
