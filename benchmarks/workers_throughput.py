"""Tasks/s through real workers on a real Redis: injectq vs the same task by hand.

    uv run --group bench python benchmarks/workers_throughput.py [--tasks 10000]

One run: a redis-server on a free loopback port; Taskiq (``RedisStreamBroker``, two
``taskiq worker`` processes) and Celery (one prefork worker, two children) each run
``--tasks`` tasks (5 % raising) twice, with injectq (``InjectTask[Ledger]`` /
``@inject`` + ``Inject[Ledger]``, a request-scoped generator resource) and written by hand
(the same generator driven in the task). The clock runs from the first kick to the last
task recorded. The Taskiq injectq run is the 10 000-task check of issue 16: it prints
the counts per worker (created/disposed/ok/failed, app resources started/disposed) after
a graceful SIGTERM. Then ``benchmarks/taskiq_overhead.py`` measures injectq's per-task
overhead against dishka's taskiq integration in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from celery import Celery  # noqa: E402

from support.processes import wait_until, workers  # noqa: E402
from support.redis_server import redis_server  # noqa: E402
from test_celery_redis_worker import start_celery_worker  # noqa: E402
from test_taskiq_redis_workers import (  # noqa: E402
    Counts,
    assert_balanced,
    kick,
    report,
    start_worker,
)

_queues = itertools.count()


def taskiq_run(redis, tmp: Path, task: str, tasks: int) -> tuple[float, dict]:
    queue = f"bench-taskiq-{next(_queues)}"
    counts = Counts(redis, queue)
    with workers() as fleet:
        fleet += [start_worker(redis, queue, tmp / f"{queue}-{i}.log") for i in (1, 2)]
        wait_until(lambda: counts.workers_started() == 2, 60, "taskiq workers")
        start = time.perf_counter()
        asyncio.run(kick(redis, queue, task, range(tasks)))
        wait_until(lambda: counts.done() == tasks, 600, "taskiq tasks", every=0.01)
        elapsed = time.perf_counter() - start
        for worker in fleet:
            assert worker.stop(signal.SIGTERM) == 0, worker.output()
    return elapsed, counts.per_worker()


def celery_run(redis, tmp: Path, task: str, tasks: int) -> tuple[float, dict]:
    queue = f"bench-celery-{next(_queues)}"
    counts = Counts(redis, queue)
    sender = Celery("sender", broker=redis.url)
    sender.conf.broker_connection_retry_on_startup = True
    with workers() as fleet:
        fleet.append(start_celery_worker(redis, queue, tmp / f"{queue}.log"))
        # warm up: the pool children start their app resources on their first task
        sender.send_task(task, args=(1,), queue=queue)
        wait_until(lambda: counts.done() == 1, 60, "celery warm-up")
        counts.client.delete(f"{queue}:ok")
        start = time.perf_counter()
        for number in range(tasks):
            sender.send_task(task, args=(number,), queue=queue)
        wait_until(lambda: counts.done() == tasks, 600, "celery tasks", every=0.01)
        elapsed = time.perf_counter() - start
        assert fleet[0].stop(signal.SIGTERM) == 0, fleet[0].output()
    return elapsed, counts.per_worker()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name, redis_server(Path(tmp_name) / "r") as redis:
        tmp = Path(tmp_name)
        for framework, run, names in (
            ("Taskiq", taskiq_run, ("injectq_work", "plain_work")),
            ("Celery", celery_run, ("injectq_celery_work", "plain_celery_work")),
        ):
            elapsed_injectq, per_worker = run(redis, tmp, names[0], args.tasks)
            report(f"{framework} with injectq", per_worker, args.tasks)
            if framework == "Taskiq":
                assert_balanced(per_worker)
                assert sum(c["created"] for c in per_worker.values()) == args.tasks
            elapsed_plain, _ = run(redis, tmp, names[1], args.tasks)
            rows.append((framework, args.tasks / elapsed_injectq, args.tasks / elapsed_plain))
    print(f"\n{'framework':<10}{'injectq tasks/s':>17}{'by hand tasks/s':>17}{'ratio':>8}")
    for framework, with_injectq, by_hand in rows:
        print(f"{framework:<10}{with_injectq:>17.0f}{by_hand:>17.0f}{with_injectq / by_hand:>8.2f}")
    print("\ninjectq vs dishka, per task (benchmarks/taskiq_overhead.py):", flush=True)
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "taskiq_overhead.py"), "--repeats", "5"],
        check=True,
        timeout=600,
    )


if __name__ == "__main__":
    main()
