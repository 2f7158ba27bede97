"""Per-task cost of the taskiq integrations: injectq vs dishka vs hand-written.

    uv run --group bench python benchmarks/taskiq_overhead.py [--repeats 9]
        [--background] [--plain] [--profile [--variant dishka] [--sort cumulative]]

The same task runs N times through taskiq's ``InMemoryBroker(await_inplace=True)`` (the
task executes inside ``kiq()``, middlewares and dependency resolution included), then
``wait_result()`` reads its result back; with ``--background`` N tasks are kicked (each an
asyncio task of the broker) and ``broker.wait_all()`` waits for them. The task needs a
request-scoped ``Mailer`` built from an app-lifetime ``Settings``, a resource whose async
``open()``/``close()`` must run around each task (``--plain``: a plain class instead);
each variant gets it its own way:

- hand-written: a plain taskiq task that builds, opens and closes the ``Mailer`` itself;
- injectq: ``setup_taskiq``, ``mailer: InjectTask[Mailer]``, a request-scoped
  ``@resource()`` generator binding;
- dishka: ``setup_dishka``, ``@inject`` with ``FromDishka[Mailer]``, a ``Scope.REQUEST``
  generator provider.

Variants run interleaved (rotating start), median of the repeats, each repeat calibrated
to >= 0.1 s, with the collector on (as in a worker). ``--profile`` prints the cProfile of
one variant instead.
"""

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from taskiq import InMemoryBroker  # noqa: E402

from benchmarks.run import Bench, _time_async, interleaved_samples  # noqa: E402

TARGET = 0.1


class Options:
    """How the variants are built (set from the command line before building them)."""

    inplace = True  # InMemoryBroker(await_inplace=...)
    resource = True  # Mailer is a resource (open/close per task) rather than a plain class


class Settings:
    def __init__(self) -> None:
        self.sender = "noreply@example.org"


class Mailer:
    """The task's request-scoped dependency; as a resource its async ``open()`` and
    ``close()`` run around each task."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_open = False

    async def open(self) -> None:
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False

    def send(self, to: str) -> str:
        assert self.is_open or not Options.resource
        return f"{self.settings.sender} -> {to}"


Variant = tuple[InMemoryBroker, Callable[[], Awaitable[Any]]]


def hand_written() -> Variant:
    broker = InMemoryBroker(await_inplace=Options.inplace)
    settings = Settings()

    if not Options.resource:

        @broker.task
        async def welcome(to: str) -> str:
            return Mailer(settings).send(to)

    else:

        @broker.task
        async def welcome(to: str) -> str:
            mailer = Mailer(settings)
            await mailer.open()
            try:
                return mailer.send(to)
            finally:
                await mailer.close()

    return broker, _runner(welcome)


def with_injectq() -> Variant:
    from injectq import InjectQ, resource
    from injectq.integrations.taskiq import InjectTask, setup_taskiq

    container = InjectQ()
    container.bind(Settings, Settings)
    if not Options.resource:
        container.bind(Mailer, Mailer, scope="request")
    else:

        @resource()
        async def open_mailer(settings: Settings) -> AsyncIterator[Mailer]:
            mailer = Mailer(settings)
            await mailer.open()
            try:
                yield mailer
            finally:
                await mailer.close()

        container.bind(Mailer, open_mailer, scope="request")
    broker = InMemoryBroker(await_inplace=Options.inplace)
    setup_taskiq(container, broker)

    @broker.task
    async def welcome(to: str, mailer: InjectTask[Mailer]) -> str:
        return mailer.send(to)

    return broker, _runner(welcome)


def with_dishka() -> Variant:
    from dishka import Provider, Scope, make_async_container
    from dishka.integrations.taskiq import FromDishka, inject, setup_dishka

    provider = Provider()
    provider.provide(Settings, scope=Scope.APP)
    if not Options.resource:
        provider.provide(Mailer, scope=Scope.REQUEST)
    else:

        async def open_mailer(settings: Settings) -> AsyncIterator[Mailer]:
            mailer = Mailer(settings)
            await mailer.open()
            try:
                yield mailer
            finally:
                await mailer.close()

        provider.provide(open_mailer, scope=Scope.REQUEST, provides=Mailer)
    container = make_async_container(provider)
    broker = InMemoryBroker(await_inplace=Options.inplace)
    setup_dishka(container, broker)

    @broker.task
    @inject(patch_module=True)
    async def welcome(to: str, mailer: FromDishka[Mailer]) -> str:
        return mailer.send(to)

    return broker, _runner(welcome)


def _runner(task: Any) -> Callable[[], Awaitable[Any]]:
    if not Options.inplace:

        async def kick_only() -> Any:
            return await task.kiq("ada@example.org")

        return kick_only

    async def run_once() -> Any:
        sent = await task.kiq("ada@example.org")
        result = await sent.wait_result(timeout=5)
        if result.is_err:
            raise result.error
        assert result.return_value == "noreply@example.org -> ada@example.org"
        return result.return_value

    return run_once


VARIANTS = {"hand-written": hand_written, "injectq": with_injectq, "dishka": with_dishka}


def _time_background(
    broker: InMemoryBroker,
    fn: Callable[[], Awaitable[Any]],
    n: int,
    loop: asyncio.AbstractEventLoop,
) -> float:
    async def body() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await fn()
        await broker.wait_all()
        return time.perf_counter() - t0

    return loop.run_until_complete(body())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--background", action="store_true", help="kick N, then wait_all()")
    parser.add_argument("--plain", action="store_true", help="a plain service, no resource")
    parser.add_argument("--profile", action="store_true", help="cProfile the injectq variant")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    parser.add_argument("--variant", default="injectq", choices=VARIANTS, help="for --profile")
    args = parser.parse_args()
    Options.inplace = not args.background
    Options.resource = not args.plain

    loop = asyncio.new_event_loop()
    built = {name: make() for name, make in VARIANTS.items()}
    for broker, run_once in built.values():
        loop.run_until_complete(broker.startup())
        loop.run_until_complete(run_once())  # checks the variant works before timing it

    if args.profile:
        _, run_once = built[args.variant]
        profiler = cProfile.Profile()
        profiler.enable()
        _time_async(run_once, 5000, loop)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)
    else:
        benches = [
            Bench(lambda n, fn=run_once: _time_async(fn, n, loop), gc_on=True)
            if Options.inplace
            else Bench(lambda n, b=broker, fn=run_once: _time_background(b, fn, n, loop), True)
            for broker, run_once in built.values()
        ]
        samples = interleaved_samples(benches, args.repeats, TARGET)
        medians = {name: statistics.median(s) * 1e6 for name, s in zip(built, samples, strict=True)}
        floor = medians["hand-written"]
        mode = "kiq+wait_result, await_inplace" if Options.inplace else "kiq x N, wait_all()"
        shape = "a resource" if Options.resource else "a plain service"
        print(f"taskiq InMemoryBroker, {mode}, {shape}, median of {args.repeats} repeats")
        print(f"{'variant':<14}{'µs/task':>10}{'x hand':>9}")
        for name, us in medians.items():
            print(f"{name:<14}{us:>10.1f}{us / floor:>9.2f}")
        print(f"injectq - dishka: {medians['injectq'] - medians['dishka']:+.1f} µs/task")

    for broker, _ in built.values():
        loop.run_until_complete(broker.shutdown())
    loop.close()


if __name__ == "__main__":
    main()
