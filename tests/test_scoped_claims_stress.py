"""Scoped creation under contention: threads and tasks sharing one scope race for the
same keys; every key must be built exactly once per scope, whoever wins the claim."""

import asyncio
import contextvars
import threading

from injectq import InjectQ, resource


def test_threads_racing_for_scoped_keys_build_each_once_per_scope() -> None:
    inits: list[int] = []
    lock = threading.Lock()

    @resource
    class Conn:
        def initialize(self) -> None:
            with lock:
                inits.append(id(self))

    class Repo:
        def __init__(self, conn: Conn) -> None:
            self.conn = conn

    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    c.bind(Repo, Repo, scope="request")
    for _ in range(200):  # bounded; the race window is tiny, so try it many times
        inits.clear()
        seen: list[object] = []
        with c.scope("request"):
            ctx = contextvars.copy_context()
            barrier = threading.Barrier(8)

            def work(barrier: threading.Barrier, seen: list[object]) -> None:
                barrier.wait()
                repo = c.get(Repo)
                with lock:
                    seen.append(repo)

            threads = [
                threading.Thread(target=ctx.copy().run, args=(work, barrier, seen))
                for _ in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
        assert len(seen) == 8
        assert all(repo is seen[0] for repo in seen)
        assert len(inits) == 1


async def test_tasks_racing_for_scoped_keys_build_each_once_per_scope() -> None:
    built: list[object] = []

    @resource
    class Conn:
        async def initialize(self) -> None:
            await asyncio.sleep(0)
            built.append(self)

    class Repo:
        def __init__(self, conn: Conn) -> None:
            self.conn = conn

    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    c.bind(Repo, Repo, scope="request")
    for _ in range(100):
        built.clear()
        async with c.scope("request"):
            repos = await asyncio.gather(*(c.aget(Repo) for _ in range(20)))
        assert all(repo is repos[0] for repo in repos)
        assert built == [repos[0].conn]
