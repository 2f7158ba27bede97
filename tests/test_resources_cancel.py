"""DESIGN §3.5: cancellation and KeyboardInterrupt, in the body and during disposal."""

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest

from injectq import InjectQ, resource


class Tracker:
    def __init__(self) -> None:
        self.inits: list[str] = []
        self.disposals: list[str] = []
        self.in_dispose: dict[str, asyncio.Event] = {}


def make_chain(db: Path, tracker: Tracker, n: int = 5, dispose_steps: int = 3) -> list[type]:
    classes: list[type] = []
    for i in range(n):
        name = f"R{i}"
        tracker.in_dispose[name] = asyncio.Event()

        async def initialize(self: object, _name: str = name) -> None:
            await asyncio.sleep(0)
            self.conn = sqlite3.connect(db)  # type: ignore[attr-defined]
            tracker.inits.append(_name)

        async def dispose(self: object, _name: str = name) -> None:
            tracker.disposals.append(_name)
            tracker.in_dispose[_name].set()
            try:
                for _ in range(dispose_steps):
                    await asyncio.sleep(0)
            finally:
                self.conn.close()  # type: ignore[attr-defined]

        classes.append(resource(type(name, (), {"initialize": initialize, "dispose": dispose})))
    return classes


def container_for(classes: list[type], scope: str = "transient") -> InjectQ:
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope=scope)
    return c


async def test_cancel_in_body_disposes_everything_then_reraises(tmp_path: Path) -> None:
    tracker = Tracker()
    classes = make_chain(tmp_path / "db.sqlite3", tracker)
    c = container_for(classes)
    ready = asyncio.Event()

    async def request() -> None:
        async with c.resource_scope():
            for cls in classes:
                await c.aget(cls)
            ready.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(request())
    await ready.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tracker.disposals == tracker.inits[::-1] == ["R4", "R3", "R2", "R1", "R0"]


@pytest.mark.parametrize("index", range(5))
async def test_cancel_while_awaiting_inside_a_dispose(tmp_path: Path, index: int) -> None:
    tracker = Tracker()
    classes = make_chain(tmp_path / "db.sqlite3", tracker)
    c = container_for(classes)

    async def request() -> None:
        async with c.resource_scope():
            for cls in classes:
                await c.aget(cls)

    task = asyncio.create_task(request())
    await tracker.in_dispose[f"R{index}"].wait()  # that dispose is now awaiting inside
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tracker.disposals == ["R4", "R3", "R2", "R1", "R0"]
    assert c.get_all_resources() == {}


async def test_cancel_repeatedly_with_varied_timing(tmp_path: Path) -> None:
    rng = random.Random(2024)
    tracker = Tracker()
    classes = make_chain(tmp_path / "db.sqlite3", tracker, n=6, dispose_steps=4)
    c = container_for(classes)
    outcomes = {"cancelled": 0, "finished": 0, "mid_disposal": 0}
    for _ in range(300):
        tracker.inits.clear()
        tracker.disposals.clear()

        async def request() -> None:
            async with c.resource_scope():
                for cls in rng.sample(classes, len(classes)):
                    await c.aget(cls)
                for _ in range(3):
                    await asyncio.sleep(0)

        task = asyncio.create_task(request())
        for _ in range(rng.randint(0, 45)):
            await asyncio.sleep(0)
        if 0 < len(tracker.disposals) < len(classes) and not task.done():
            outcomes["mid_disposal"] += 1
        for _ in range(rng.randint(1, 3)):  # sometimes cancel again during the drain
            task.cancel()
            for _ in range(rng.randint(0, 4)):
                await asyncio.sleep(0)
        try:
            await task
            outcomes["finished"] += 1
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1
        # every activation that was initialized was disposed, in reverse order
        assert tracker.disposals == tracker.inits[::-1]
    assert outcomes["cancelled"] > 100
    assert outcomes["mid_disposal"] > 30, outcomes
    assert c.resource_metrics()["R0"]["active"] == 0


async def test_cancel_while_scope_exit_joins_a_scheduled_init(tmp_path: Path) -> None:
    gate = asyncio.Event()
    events: list[str] = []

    @resource
    class Slow:
        async def initialize(self) -> None:
            await gate.wait()
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")
            events.append("init")

        async def dispose(self) -> None:
            self.conn.close()
            events.append("dispose")

    c = InjectQ()
    c.bind(Slow, Slow, scope="transient")
    exiting = asyncio.Event()

    async def request() -> None:
        async with c.resource_scope():
            c.get(Slow)  # schedules initialize
            exiting.set()

    task = asyncio.create_task(request())
    await exiting.wait()
    await asyncio.sleep(0)
    task.cancel()  # lands while the exit waits for the scheduled init
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["init", "dispose"]


async def test_cancelled_init_is_retried_by_next_access() -> None:
    gate = asyncio.Event()
    attempts: list[int] = []

    @resource
    class Slow:
        async def initialize(self) -> None:
            attempts.append(1)
            await gate.wait()

    c = InjectQ()
    c.bind(Slow, Slow)
    first = asyncio.create_task(c.aget(Slow))
    for _ in range(3):
        await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    slow = await c.aget(Slow)
    assert len(attempts) == 2
    assert c.get_all_resources() == {Slow: slow}
    await c.aclose()


def test_keyboard_interrupt_in_body_disposes_everything(tmp_path: Path) -> None:
    events: list[str] = []
    classes = []
    for name in ("A", "B", "C"):

        def dispose(self: object, _name: str = name) -> None:
            events.append(_name)
            self.conn.close()  # type: ignore[attr-defined]

        def initialize(self: object) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")  # type: ignore[attr-defined]

        classes.append(resource(type(name, (), {"initialize": initialize, "dispose": dispose})))
    c = container_for(classes)
    with pytest.raises(KeyboardInterrupt):
        with c.resource_scope():
            for cls in classes:
                c.get(cls)
            raise KeyboardInterrupt
    assert events == ["C", "B", "A"]


def test_keyboard_interrupt_during_disposal_still_disposes_the_rest(tmp_path: Path) -> None:
    events: list[str] = []
    classes = []
    for name in ("A", "B", "C", "D"):

        def dispose(self: object, _name: str = name) -> None:
            events.append(_name)
            self.conn.close()  # type: ignore[attr-defined]
            if _name == "C":
                raise KeyboardInterrupt

        def initialize(self: object) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")  # type: ignore[attr-defined]

        classes.append(resource(type(name, (), {"initialize": initialize, "dispose": dispose})))
    c = container_for(classes, scope="request")
    with pytest.raises(KeyboardInterrupt):
        with c.scope("request"):
            for cls in classes:
                c.get(cls)
    assert events == ["D", "C", "B", "A"]


async def test_keyboard_interrupt_during_async_disposal_still_disposes_the_rest() -> None:
    events: list[str] = []
    classes = []
    for name in ("A", "B", "C"):

        async def dispose(self: object, _name: str = name) -> None:
            await asyncio.sleep(0)
            events.append(_name)
            if _name == "B":
                raise KeyboardInterrupt

        classes.append(resource(type(name, (), {"dispose": dispose})))
    c = container_for(classes)
    with pytest.raises(KeyboardInterrupt):
        async with c.resource_scope():
            for cls in classes:
                await c.aget(cls)
    assert events == ["C", "B", "A"]


def test_keyboard_interrupt_in_initialize_is_not_wrapped(tmp_path: Path) -> None:
    events: list[str] = []

    @resource
    class Before:
        def dispose(self) -> None:
            events.append("dispose Before")

    @resource
    class Interrupted:
        def initialize(self) -> None:
            raise KeyboardInterrupt

        def dispose(self) -> None:  # pragma: no cover - never initialized
            events.append("dispose Interrupted")

    c = InjectQ()
    c.bind(Before, Before, scope="transient")
    c.bind(Interrupted, Interrupted, scope="transient")
    with pytest.raises(KeyboardInterrupt):
        with c.resource_scope():
            c.get(Before)
            c.get(Interrupted)
    assert events == ["dispose Before"]


async def test_cancellation_and_disposal_failure_both_reported() -> None:
    events: list[str] = []

    @resource
    class Bad:
        async def dispose(self) -> None:
            events.append("Bad")
            raise OSError("disk gone")

    @resource
    class Good:
        async def dispose(self) -> None:
            events.append("Good")

    c = InjectQ()
    c.bind(Good, Good, scope="transient")
    c.bind(Bad, Bad, scope="transient")
    ready = asyncio.Event()

    async def request() -> None:
        async with c.resource_scope():
            await c.aget(Good)
            await c.aget(Bad)
            ready.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(request())
    await ready.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    assert events == ["Bad", "Good"]
    assert any("disk gone" in note for note in info.value.__notes__)


async def test_cancelled_waiter_does_not_cancel_shared_initialization() -> None:
    gate = asyncio.Event()

    @resource
    class Slow:
        async def initialize(self) -> None:
            await gate.wait()

    c = InjectQ()
    slow = Slow()
    c.bind_instance(Slow, slow)
    async with c.resource_scope():
        owner = asyncio.create_task(c.aget(Slow))
        for _ in range(3):
            await asyncio.sleep(0)
        waiter = asyncio.create_task(c.aget(Slow))
        for _ in range(3):
            await asyncio.sleep(0)
        waiter.cancel()  # a cancelled waiter does not cancel the shared initialization
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.set()
        assert await owner is slow
        assert c.get_all_resources() == {Slow: slow}


async def test_the_dispose_running_when_cancelled_sees_it_and_is_counted(tmp_path: Path) -> None:
    # DESIGN §3.5: a raw task.cancel() reaches the dispose in progress, as in any asyncio
    # code (its own `finally` closes the connection); the disposal is counted as cut
    # short, and the cancellation propagates. (Under anyio the teardown is shielded
    # instead: test_resources_task_affinity.)
    steps: list[str] = []
    started = asyncio.Event()

    @resource
    class Session:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")

        async def dispose(self) -> None:
            steps.append("begin")
            started.set()
            try:
                for _ in range(5):
                    await asyncio.sleep(0.001)
                steps.append("end")
            finally:
                self.conn.close()
                steps.append("closed")

    c = InjectQ()
    c.bind(Session, Session, scope="request")

    async def request() -> None:
        async with c.scope("request"):
            await c.aget(Session)

    for _ in range(20):
        steps.clear()
        started.clear()
        task = asyncio.create_task(request())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert steps == ["begin", "closed"]
    metrics = c.resource_metrics()["Session"]
    assert metrics["dispose_errors"] == 20
    assert metrics["disposed"] == metrics["initialized"] == 20
    assert metrics["active"] == 0


async def test_a_dispose_cancelling_itself_is_a_failure_not_a_hang() -> None:
    @resource
    class Quits:
        async def dispose(self) -> None:
            await asyncio.sleep(0)
            raise asyncio.CancelledError

    @resource
    class Other:
        async def dispose(self) -> None:
            await asyncio.sleep(0)

    c = InjectQ()
    c.bind(Quits, Quits, scope="transient")
    c.bind(Other, Other, scope="transient")
    with pytest.raises(asyncio.CancelledError):
        async with c.resource_scope():
            await c.aget(Other)
            await c.aget(Quits)
    assert c.resource_metrics()["Other"]["disposed"] == 1


async def test_waiters_take_over_when_the_initializer_is_cancelled() -> None:
    # a cancelled initializer is not a failed resource: the waiters retry it instead of
    # all receiving an error that is not theirs
    started = asyncio.Event()
    calls: list[str] = []

    @resource
    class Slow:
        async def initialize(self) -> None:
            calls.append("init")
            started.set()
            await asyncio.sleep(0.01)

    shared = Slow()
    first = asyncio.create_task(shared.initialize())
    await started.wait()
    waiters = [asyncio.create_task(shared.initialize()) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.gather(*waiters)  # no error: one of them initialized it
    assert calls == ["init", "init"]
