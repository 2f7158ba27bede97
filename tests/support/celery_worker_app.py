"""A Celery app served by injectq on a real Redis broker, run by ``celery worker``.

Configured by ``INJECTQ_REDIS_URL`` and ``INJECTQ_QUEUE``; counts go to Redis as in
``taskiq_worker_app``: a hash per worker process pid (``<queue>:worker:<pid>``) and sets
of the task numbers that succeeded or failed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import redis
from celery import Celery

from injectq import Inject, InjectQ, inject, resource
from injectq.integrations.celery import setup_celery

REDIS_URL = os.environ["INJECTQ_REDIS_URL"]
QUEUE = os.environ["INJECTQ_QUEUE"]
FAIL_EVERY = 20  # 5 % of the tasks raise


class TaskFailed(Exception):
    """What a failing task raises."""


def worker_key() -> str:
    return f"{QUEUE}:worker:{os.getpid()}"


@resource
class AppRedis:
    """One client per worker process: started at its init, closed at its shutdown."""

    def initialize(self) -> None:
        self.client = redis.Redis.from_url(REDIS_URL)
        self.client.hincrby(worker_key(), "app_started", 1)

    def dispose(self) -> None:
        self.client.hincrby(worker_key(), "app_disposed", 1)
        self.client.close()


class Ledger:
    number: int | None = None


@resource()
def ledger(app: AppRedis) -> Iterator[Ledger]:
    key = worker_key()
    app.client.hincrby(key, "created", 1)
    entry = Ledger()
    outcome = "ok"
    try:
        yield entry
    except TaskFailed:
        outcome = "failed"  # the task's exception reached its disposal
        raise
    finally:
        pipe = app.client.pipeline(transaction=False)
        pipe.hincrby(key, "disposed", 1)
        pipe.hincrby(key, outcome, 1)
        if entry.number is not None:
            pipe.sadd(f"{QUEUE}:{outcome}", entry.number)
        pipe.execute()


container = InjectQ()
container.bind(AppRedis, AppRedis)
container.bind(Ledger, ledger, scope="request")

app = Celery("injectq_celery_test", broker=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
setup_celery(container, app)


@app.task(name="injectq_celery_work")
@inject
def work(number: int, entry: Ledger = Inject[Ledger]) -> int:
    entry.number = number
    if number % FAIL_EVERY == 0:
        raise TaskFailed(number)
    return number


# the same task written by hand, no injectq (benchmarks/workers_throughput.py)
_plain_app: AppRedis | None = None


@app.task(name="plain_celery_work")
def plain_work(number: int) -> int:
    global _plain_app
    if _plain_app is None:
        _plain_app = AppRedis()
        _plain_app.initialize()
    with contextlib.contextmanager(ledger)(_plain_app) as entry:
        entry.number = number
        if number % FAIL_EVERY == 0:
            raise TaskFailed(number)
        return number
