"""Core: concurrency — threads and asyncio tasks, per-key locking, no false cycles.

Every wait here is bounded (events with timeouts) and nothing asserts wall-clock times:
ordering is proved with events.
"""

import asyncio
import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from injectq import CircularDependencyError, InjectQ

WAIT = 10.0  # generous bound for every event wait: a deadlock fails, it never hangs


class Slow:
    built = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        time.sleep(0.02)
        with Slow.lock:
            Slow.built += 1


class Dep:
    pass


class Top:
    def __init__(self, dep: Dep, slow: Slow) -> None:
        self.dep = dep
        self.slow = slow


# ------------------------------------------------- singleton once, threads + tasks
def test_singleton_built_once_under_32_threads_and_1000_tasks() -> None:
    built = 0
    counter_lock = threading.Lock()

    class Shared:
        def __init__(self) -> None:
            nonlocal built
            time.sleep(0.05)  # slow: everyone piles up on the first construction
            with counter_lock:
                built += 1

    c = InjectQ()
    c.bind(Shared, Shared, scope="singleton")
    start = threading.Barrier(33)
    results: list[object] = []
    results_lock = threading.Lock()

    def in_thread() -> None:
        start.wait(WAIT)
        value = c.get(Shared)
        with results_lock:
            results.append(value)

    async def tasks() -> list[object]:
        async def one(i: int) -> object:
            if i % 2:
                return await c.aget(Shared)
            await asyncio.sleep(0)
            return c.get(Shared)

        start.wait(WAIT)
        return list(await asyncio.gather(*(one(i) for i in range(1000))))

    threads = [threading.Thread(target=in_thread) for _ in range(32)]
    for t in threads:
        t.start()
    task_results = asyncio.run(tasks())
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert built == 1
    everything = results + task_results
    assert len(everything) == 1032
    assert all(x is everything[0] for x in everything)


def test_async_singleton_built_once_under_1000_tasks_and_32_threads() -> None:
    built = 0

    class Shared:
        pass

    async def make() -> Shared:
        nonlocal built
        built += 1
        await asyncio.sleep(0.02)
        return Shared()

    c = InjectQ()
    c.bind(Shared, make, scope="singleton")

    async def many() -> list[Shared]:
        return list(await asyncio.gather(*(c.aget(Shared) for _ in range(1000))))

    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(asyncio.run, many()) for _ in range(32)]
        lists = [f.result(WAIT) for f in futures]
    flat = [x for lst in lists for x in lst]
    assert built == 1
    assert len(flat) == 32_000
    assert all(x is flat[0] for x in flat)


async def test_singleton_with_dependencies_built_once_under_tasks() -> None:
    c = InjectQ()
    c.bind(Dep, Dep, scope="singleton")
    c.bind(Top, Top, scope="singleton")
    Slow.built = 0
    c.bind(Slow, Slow, scope="singleton")
    tops = await asyncio.gather(*(c.aget(Top) for _ in range(200)))
    assert all(t is tops[0] for t in tops)
    assert Slow.built == 1


def test_scoped_instance_shared_by_threads_in_one_scope() -> None:
    c = InjectQ()
    built = 0
    counter_lock = threading.Lock()

    class Req:
        def __init__(self) -> None:
            nonlocal built
            time.sleep(0.02)
            with counter_lock:
                built += 1

    c.bind(Req, Req, scope="request")
    with c.scope("request"):
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(lambda _: ctx.copy().run(c.get, Req), range(64)))
    assert built == 1
    assert all(x is got[0] for x in got)


# ------------------------------------------------- no false CircularDependencyError
async def test_concurrent_aget_never_raises_false_cycle() -> None:
    class A:
        pass

    class B:
        def __init__(self, a: A) -> None:
            self.a = a

    async def make_a() -> A:
        await asyncio.sleep(0.01)
        return A()

    c = InjectQ()
    c.bind(A, make_a, scope="singleton")
    c.bind(B, B, scope="singleton")
    results = await asyncio.gather(
        *(c.aget(B if i % 2 else A) for i in range(500)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert all(r.a is results[1].a for r in results[1::2])  # type: ignore[union-attr]


def test_concurrent_get_from_threads_never_raises_false_cycle() -> None:
    class A:
        def __init__(self) -> None:
            time.sleep(0.01)

    class B:
        def __init__(self, a: A) -> None:
            self.a = a

    class C:
        def __init__(self, a: A, b: B) -> None:
            self.a, self.b = a, b

    c = InjectQ()
    for cls in (A, B, C):
        c.bind(cls, cls, scope="singleton")
    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(lambda i: c.get((A, B, C)[i % 3]), range(300)))
    assert isinstance(got[2], C) and got[2].a is got[0] and got[2].b is got[1]


async def test_mixed_get_and_aget_never_raise_false_cycle() -> None:
    class A:
        def __init__(self) -> None:
            time.sleep(0.005)

    c = InjectQ()
    c.bind(A, A, scope="singleton")
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(8) as pool:
        thread_futs = [loop.run_in_executor(pool, c.get, A) for _ in range(32)]
        task_res = await asyncio.gather(*(c.aget(A) for _ in range(100)))
        thread_res = await asyncio.gather(*thread_futs)
    assert all(x is task_res[0] for x in [*task_res, *thread_res])


class CycleA:
    def __init__(self, b: "CycleB") -> None:
        self.b = b


class CycleB:
    def __init__(self, c: "CycleC") -> None:
        self.c = c


class CycleC:
    def __init__(self, a: CycleA) -> None:
        self.a = a


def test_real_cycle_raises_with_whole_path() -> None:
    c = InjectQ()
    with pytest.raises(CircularDependencyError) as info:
        c.get(CycleA)
    assert info.value.path == ("CycleA", "CycleB", "CycleC", "CycleA")
    assert "CycleA -> CycleB -> CycleC -> CycleA" in str(info.value)


async def test_real_cycle_raises_with_whole_path_async_and_concurrently() -> None:
    c = InjectQ()
    results = await asyncio.gather(*(c.aget(CycleB) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, CircularDependencyError) for r in results)
    assert results[0].path == ("CycleB", "CycleC", "CycleA", "CycleB")  # type: ignore[union-attr]


def test_real_cycle_through_singletons_raises() -> None:
    c = InjectQ()
    for cls in (CycleA, CycleB, CycleC):
        c.bind(cls, cls, scope="singleton")
    with pytest.raises(CircularDependencyError) as info:
        c.get(CycleC)
    assert info.value.path == ("CycleC", "CycleA", "CycleB", "CycleC")


def test_runtime_cycle_through_factory_calling_get_raises() -> None:
    c = InjectQ()

    def make() -> Dep:
        c.get(Dep)  # a factory resolving its own key: a real cycle, found at run time
        return Dep()

    c.bind(Dep, make, scope="singleton")
    with pytest.raises(CircularDependencyError, match="Dep"):
        c.get(Dep)


# ------------------------------------------------- per-key locking
def test_unrelated_get_does_not_wait_behind_slow_constructor() -> None:
    entered = threading.Event()
    release = threading.Event()

    class Blocking:
        def __init__(self) -> None:
            entered.set()
            assert release.wait(WAIT)

    c = InjectQ()
    c.bind(Blocking, Blocking, scope="singleton")
    c.bind(Dep, Dep, scope="singleton")
    c.bind(Thing := type("Thing", (), {}), scope="transient")
    worker = threading.Thread(target=c.get, args=(Blocking,))
    worker.start()
    try:
        assert entered.wait(WAIT)
        # Blocking's constructor is running (and will not return until we say so): if
        # resolution held a container-wide lock, these calls would block forever.
        done = threading.Event()

        def unrelated() -> None:
            c.get(Dep)
            c.get(Thing)
            c.get(Top)  # Top needs a new Slow + Dep, all unrelated to Blocking
            done.set()

        other = threading.Thread(target=unrelated)
        other.start()
        assert done.wait(WAIT), "an unrelated get waited behind a slow constructor"
        assert not release.is_set()  # proof: the slow constructor was still running
        other.join(WAIT)
    finally:
        release.set()
        worker.join(WAIT)
    assert not worker.is_alive()


async def test_unrelated_aget_does_not_wait_behind_slow_async_factory() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    class Blocking:
        pass

    async def make() -> Blocking:
        entered.set()
        await release.wait()
        return Blocking()

    c = InjectQ()
    c.bind(Blocking, make, scope="singleton")
    c.bind(Dep, Dep, scope="singleton")
    slow_task = asyncio.create_task(c.aget(Blocking))
    await asyncio.wait_for(entered.wait(), WAIT)
    assert isinstance(await asyncio.wait_for(c.aget(Dep), WAIT), Dep)
    assert not slow_task.done()
    release.set()
    assert isinstance(await asyncio.wait_for(slow_task, WAIT), Blocking)


def test_unrelated_scoped_get_does_not_wait_behind_slow_scoped_constructor() -> None:
    entered = threading.Event()
    release = threading.Event()

    class BlockingReq:
        def __init__(self) -> None:
            entered.set()
            assert release.wait(WAIT)

    class OtherReq:
        pass

    c = InjectQ()
    c.bind(BlockingReq, BlockingReq, scope="request")
    c.bind(OtherReq, OtherReq, scope="request")
    with c.scope("request"):
        ctx = contextvars.copy_context()
        worker = threading.Thread(target=ctx.copy().run, args=(c.get, BlockingReq))
        worker.start()
        try:
            assert entered.wait(WAIT)
            done = threading.Event()
            got: list[object] = []

            def unrelated() -> None:
                got.append(c.get(OtherReq))
                done.set()

            other = threading.Thread(target=ctx.copy().run, args=(unrelated,))
            other.start()
            assert done.wait(WAIT), "an unrelated scoped get waited behind a slow constructor"
            assert not release.is_set()
            other.join(WAIT)
        finally:
            release.set()
            worker.join(WAIT)
        assert c.get(OtherReq) is got[0]


def test_singleton_factory_resolving_on_another_thread_does_not_deadlock() -> None:
    class Inner:
        pass

    class Outer:
        def __init__(self, inner: Inner) -> None:
            self.inner = inner

    c = InjectQ()
    c.bind(Inner, Inner, scope="singleton")

    def make_outer() -> Outer:
        box: list[Inner] = []
        t = threading.Thread(target=lambda: box.append(c.get(Inner)))
        t.start()
        t.join(WAIT)
        assert not t.is_alive(), "deadlock: the other thread's get never returned"
        return Outer(box[0])

    c.bind(Outer, make_outer, scope="singleton")
    result: list[Outer] = []
    runner = threading.Thread(target=lambda: result.append(c.get(Outer)))
    runner.start()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert result[0].inner is c.get(Inner)


def test_scoped_factory_resolving_on_another_thread_does_not_deadlock() -> None:
    class InnerReq:
        pass

    class OuterReq:
        def __init__(self, inner: InnerReq) -> None:
            self.inner = inner

    c = InjectQ()
    c.bind(InnerReq, InnerReq, scope="request")

    def make_outer() -> OuterReq:
        ctx = contextvars.copy_context()
        box: list[InnerReq] = []
        t = threading.Thread(target=lambda: box.append(ctx.run(c.get, InnerReq)))
        t.start()
        t.join(WAIT)
        assert not t.is_alive(), "deadlock: the other thread's scoped get never returned"
        return OuterReq(box[0])

    c.bind(OuterReq, make_outer, scope="request")
    with c.scope("request"):
        ctx = contextvars.copy_context()
        result: list[OuterReq] = []
        runner = threading.Thread(target=lambda: result.append(ctx.run(c.get, OuterReq)))
        runner.start()
        runner.join(WAIT)
        assert not runner.is_alive()
        assert result[0].inner is c.get(InnerReq)


def test_failed_singleton_construction_is_retried_and_waiters_get_the_error() -> None:
    attempts = 0
    entered = threading.Event()
    release = threading.Event()

    class Flaky:
        def __init__(self) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                entered.set()
                assert release.wait(WAIT)
                raise RuntimeError("boom")

    c = InjectQ()
    c.bind(Flaky, Flaky, scope="singleton")
    errors: list[BaseException] = []

    def first() -> None:
        try:
            c.get(Flaky)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(WAIT)
    release.set()
    t.join(WAIT)
    assert len(errors) == 1
    assert isinstance(c.get(Flaky), Flaky)  # next access tries again
    assert attempts == 2


# ------------------------------------------------- active container per task / thread
async def test_active_container_is_per_task() -> None:
    c1, c2 = InjectQ(), InjectQ()
    barrier = asyncio.Event()
    seen: dict[str, InjectQ] = {}

    async def use(name: str, c: InjectQ) -> None:
        with c.context():
            await barrier.wait()
            seen[name] = InjectQ.get_instance()

    t1 = asyncio.create_task(use("one", c1))
    t2 = asyncio.create_task(use("two", c2))
    await asyncio.sleep(0)
    barrier.set()
    await asyncio.gather(t1, t2)
    assert seen == {"one": c1, "two": c2}
    assert InjectQ.get_instance() not in (c1, c2)


def test_active_container_is_per_thread() -> None:
    c = InjectQ()
    inside = threading.Event()
    leave = threading.Event()
    seen: list[InjectQ] = []

    def worker() -> None:
        with c.context():
            inside.set()
            assert leave.wait(WAIT)

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(WAIT)
    seen.append(InjectQ.get_instance())  # main thread: not the worker's container
    leave.set()
    t.join(WAIT)
    assert seen[0] is not c


def test_activate_sets_and_restores() -> None:
    c = InjectQ()
    before = InjectQ.get_instance()
    with c.activate():
        assert InjectQ.get_instance() is c
    assert InjectQ.get_instance() is before


def test_get_instance_is_thread_safe() -> None:
    InjectQ.reset_instance()
    barrier = threading.Barrier(32)

    def grab(_: int) -> InjectQ:
        barrier.wait(WAIT)
        return InjectQ.get_instance()

    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(grab, range(32)))
    assert all(x is got[0] for x in got)
    InjectQ.reset_instance()
    assert InjectQ.get_instance() is not got[0]
    InjectQ.reset_instance()


def test_activate_without_with_lasts_for_the_context() -> None:
    c = InjectQ()

    def body() -> InjectQ:
        c.activate()
        return InjectQ.get_instance()

    assert contextvars.copy_context().run(body) is c
    assert InjectQ.get_instance() is not c  # the caller's context was not touched
