"""Celery with injectq (``setup_celery``) on a real Redis broker and a real
``celery worker`` process (prefork, two children): a scope per task, the task's
exception passed to the disposals, the container started in each child and closed at
the worker's warm shutdown (SIGTERM)."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path

import pytest
from celery import Celery

from support.processes import Worker, wait_until, worker_env, workers
from support.redis_server import RedisServer
from test_taskiq_redis_workers import Counts, assert_balanced, report

TASKS = 400
FAIL_EVERY = 20
_queues = itertools.count()


def start_celery_worker(redis: RedisServer, queue: str, log: Path, pool: str = "prefork") -> Worker:
    return Worker(
        [
            "-m",
            "celery",
            "-A",
            "celery_worker_app",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            queue,
        ],
        log,
        worker_env(INJECTQ_REDIS_URL=redis.url, INJECTQ_QUEUE=queue),
    )


@pytest.mark.parametrize(("pool", "processes"), [("prefork", 2), ("solo", 1)])
def test_a_celery_worker_runs_every_task_in_its_own_scope(
    redis: RedisServer, tmp_path: Path, pool: str, processes: int
) -> None:
    queue = f"celery-{next(_queues)}"
    counts = Counts(redis, queue)
    sender = Celery("sender", broker=redis.url)
    sender.conf.broker_connection_retry_on_startup = True
    with workers() as fleet:
        fleet.append(start_celery_worker(redis, queue, tmp_path / "celery.log", pool))
        for number in range(TASKS):
            sender.send_task("injectq_celery_work", args=(number,), queue=queue)
        wait_until(lambda: counts.done() == TASKS, 120, f"{TASKS} Celery tasks to finish")
        assert fleet[0].stop(signal.SIGTERM) == 0, fleet[0].output()
    per_worker = counts.per_worker()
    report(f"celery {pool} worker", per_worker, TASKS)
    # prefork: the two pool processes (the parent started nothing); solo: the worker
    assert len(per_worker) == processes
    assert_balanced(per_worker)
    assert sum(c["created"] for c in per_worker.values()) == TASKS
    failed = counts.numbers("failed")
    assert failed == set(range(0, TASKS, FAIL_EVERY))
    assert counts.numbers("ok") == set(range(TASKS)) - failed
