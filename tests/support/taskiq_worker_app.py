"""A Taskiq app served by injectq on a real Redis stream, run by ``taskiq worker``.

Configured by the environment: ``INJECTQ_REDIS_URL``, ``INJECTQ_QUEUE`` (the stream; one
per test) and ``INJECTQ_IDLE_MS`` (how long an unacknowledged message waits before another
worker claims it). Every count goes to Redis under ``<queue>:worker:<pid>`` (a hash) and
``<queue>:ok`` / ``<queue>:failed`` (sets of task numbers), so the test sums the workers.

- ``AppRedis`` is the app-lifetime resource: one client per worker process, started at
  worker startup (``container.start()``) and closed at its graceful shutdown
  (``broker.shutdown()`` -> ``container.aclose()``);
- ``Ledger`` is the per-task resource (a generator factory bound in the ``request``
  scope): created when a task asks for it, disposed when the task's scope ends; the
  task's exception is thrown into it, so it records whether the task failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from taskiq import TaskiqEvents, TaskiqState
from taskiq_redis import RedisStreamBroker

from injectq import InjectQ, resource
from injectq.integrations.taskiq import InjectTask, setup_taskiq

REDIS_URL = os.environ["INJECTQ_REDIS_URL"]
QUEUE = os.environ["INJECTQ_QUEUE"]
FAIL_EVERY = 20  # task n raises when n % 20 == 0: 5 %


class TaskFailed(Exception):
    """What a failing task raises."""


def worker_key() -> str:
    return f"{QUEUE}:worker:{os.getpid()}"


@resource
class AppRedis:
    """The worker's Redis client: started once per worker process, closed at shutdown."""

    async def initialize(self) -> None:
        self.client = aioredis.Redis.from_url(REDIS_URL)
        await self.client.hincrby(worker_key(), "app_started", 1)

    async def dispose(self) -> None:
        await self.client.hincrby(worker_key(), "app_disposed", 1)
        await self.client.aclose()


class Ledger:
    """What one task writes: its number, set by the task."""

    number: int | None = None


@resource()
async def ledger(app: AppRedis) -> AsyncIterator[Ledger]:
    key = worker_key()
    await app.client.hincrby(key, "created", 1)
    entry = Ledger()
    outcome = "ok"
    try:
        yield entry
    except TaskFailed:
        outcome = "failed"  # the task's exception reached its disposal
        raise
    finally:
        async with app.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, "disposed", 1)
            pipe.hincrby(key, outcome, 1)
            if entry.number is not None:
                pipe.sadd(f"{QUEUE}:{outcome}", entry.number)
            await pipe.execute()


container = InjectQ()
container.bind(AppRedis, AppRedis)  # singleton: the container owns it
container.bind(Ledger, ledger, scope="request")

broker = RedisStreamBroker(
    REDIS_URL,
    queue_name=QUEUE,
    consumer_group_name=f"{QUEUE}-group",
    idle_timeout=int(os.environ.get("INJECTQ_IDLE_MS", "600000")),
    xread_block=200,
    xread_count=int(os.environ.get("INJECTQ_XREAD_COUNT", "100")),
)
setup_taskiq(container, broker)


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def start_app_resources(state: TaskiqState) -> None:
    await container.start(AppRedis)


@broker.task("injectq_work")
async def work(number: int, entry: InjectTask[Ledger]) -> int:
    entry.number = number
    if number % FAIL_EVERY == 0:
        raise TaskFailed(number)
    return number


@broker.task("injectq_held_work")
async def held_work(number: int, entry: InjectTask[Ledger], app: InjectTask[AppRedis]) -> int:
    """``work``, except that in the worker process named by ``<queue>:hold_pid`` it waits
    (at most 60 s) for ``<queue>:release``: that worker's tasks stay running, so what it
    fetched beyond them stays unacknowledged when it is stopped."""
    hold_pid = await app.client.get(f"{QUEUE}:hold_pid")
    if hold_pid is not None and int(hold_pid) == os.getpid():
        await app.client.hincrby(worker_key(), "held", 1)
        for _ in range(6000):
            if await app.client.exists(f"{QUEUE}:release"):
                break
            await asyncio.sleep(0.01)
    return await work(number, entry)


# the same task written by hand, no injectq (benchmarks/workers_throughput.py)
_plain_app: AppRedis | None = None


@broker.task("plain_work")
async def plain_work(number: int) -> int:
    global _plain_app
    if _plain_app is None:
        _plain_app = AppRedis()
        await _plain_app.initialize()
    factory = ledger(_plain_app)  # the generator, driven by hand
    entry = await anext(factory)
    entry.number = number
    try:
        if number % FAIL_EVERY == 0:
            raise TaskFailed(number)
    except TaskFailed as exc:
        with contextlib.suppress(StopAsyncIteration):
            await factory.athrow(exc)
        raise
    with contextlib.suppress(StopAsyncIteration):
        await anext(factory)
    return number


@broker.task("injectq_tick")
async def tick() -> None:
    """Keeps a stream's readers looping (taskiq-redis claims idle messages only then)."""
