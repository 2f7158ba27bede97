"""DESIGN §3.4 (order) and §3.2 (dependencies first), plus start()/start_sync()."""

import asyncio
import itertools
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, ResourceDisposalError, ResourceInitializationError, resource

_ids = itertools.count()


class Log:
    def __init__(self) -> None:
        self.inits: list[str] = []
        self.disposals: list[str] = []


def build(kind: str, log: Log, db: Path) -> dict[str, type]:
    """A small graph of sqlite-backed resources; ``kind`` is "sync" or "async"."""

    class Base:
        name = "?"

        def __init__(self, *deps: Any) -> None:
            self.tag = f"{self.name}#{next(_ids)}"
            self.deps = deps
            self.conn: sqlite3.Connection | None = None

        def _open(self) -> None:
            for dep in self.deps:  # dependencies first
                assert dep.conn is not None, f"{dep.tag} not live before {self.tag}"
            self.conn = sqlite3.connect(db)
            log.inits.append(self.tag)

        def _close(self) -> None:
            for dep in self.deps:  # dependents go first, so deps are still live
                assert dep.conn is not None, f"{dep.tag} disposed before {self.tag}"
            assert self.conn is not None
            self.conn.close()
            self.conn = None
            log.disposals.append(self.tag)

    if kind == "sync":

        class Res(Base):
            def initialize(self) -> None:
                self._open()

            def dispose(self) -> None:
                self._close()

    else:

        class Res(Base):  # type: ignore[no-redef]
            async def initialize(self) -> None:
                await asyncio.sleep(0)
                self._open()

            async def dispose(self) -> None:
                await asyncio.sleep(0)
                self._close()

    @resource
    class A(Res):
        name = "A"

        def __init__(self) -> None:
            super().__init__()

    @resource
    class B(Res):
        name = "B"

        def __init__(self, a: A) -> None:
            super().__init__(a)

    @resource
    class C(Res):
        name = "C"

        def __init__(self) -> None:
            super().__init__()

    @resource
    class D(Res):
        name = "D"

        def __init__(self, c: C, b: B) -> None:
            super().__init__(c, b)

    @resource
    class E(Res):
        name = "E"

        def __init__(self) -> None:
            super().__init__()

    @resource
    class F(Res):
        name = "F"

        def __init__(self, e: E, a: A) -> None:
            super().__init__(e, a)

    return {"A": A, "B": B, "C": C, "D": D, "E": E, "F": F}


def wire(c: InjectQ, t: dict[str, type], lifetimes: dict[str, str]) -> None:
    for name, cls in t.items():
        c.bind(cls, cls, scope=lifetimes[name])


SCOPED = {
    "A": "request",
    "B": "request",
    "C": "transient",
    "D": "transient",
    "E": "request",
    "F": "transient",
}
SINGLETONS = dict.fromkeys("ABCDEF", "singleton")


def test_sync_scope_disposes_in_reverse_init_order_200_runs(tmp_path: Path) -> None:
    rng = random.Random(1234)
    log = Log()
    t = build("sync", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SCOPED)
    for _ in range(200):
        log.inits.clear()
        log.disposals.clear()
        names = rng.sample(list(t), rng.randint(1, len(t)))
        names += rng.choices(list(t), k=rng.randint(0, 3))  # repeats: transients again
        with c.scope("request"):
            for name in names:
                c.get(t[name])
        assert log.inits, names
        assert log.disposals == log.inits[::-1], names


async def test_async_scope_disposes_in_reverse_init_order_200_runs(tmp_path: Path) -> None:
    rng = random.Random(4321)
    log = Log()
    t = build("async", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SCOPED)
    for _ in range(200):
        log.inits.clear()
        log.disposals.clear()
        names = rng.sample(list(t), rng.randint(1, len(t)))
        names += rng.choices(list(t), k=rng.randint(0, 3))
        async with c.scope("request"):
            for name in names:
                await c.aget(t[name])
        assert log.inits, names
        assert log.disposals == log.inits[::-1], names


def test_container_close_disposes_singletons_in_reverse_order_200_runs(tmp_path: Path) -> None:
    rng = random.Random(99)
    log = Log()
    t = build("sync", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SINGLETONS)
    for _ in range(200):
        log.inits.clear()
        log.disposals.clear()
        for name in rng.sample(list(t), rng.randint(1, len(t))):
            c.get(t[name])
        c.close()  # a closed container can be used again: next run activates afresh
        assert log.disposals == log.inits[::-1]
        assert len(set(log.inits)) == len(log.inits)


async def test_async_container_aclose_reverse_order_200_runs(tmp_path: Path) -> None:
    rng = random.Random(7)
    log = Log()
    t = build("async", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SINGLETONS)
    for _ in range(200):
        log.inits.clear()
        log.disposals.clear()
        for name in rng.sample(list(t), rng.randint(1, len(t))):
            await c.aget(t[name])
        await c.aclose()
        assert log.disposals == log.inits[::-1]


def test_dependencies_initialized_before_dependents(tmp_path: Path) -> None:
    log = Log()
    t = build("sync", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SCOPED)
    with c.scope("request"):
        d = c.get(t["D"])
        tags = [x.tag for x in (d.deps[0], d.deps[1].deps[0], d.deps[1])]
        # C, A, B (argument order, each dependency before its dependent), then D
        assert log.inits == [*tags, d.tag]


async def test_start_initializes_all_singleton_resources_in_dependency_order(
    tmp_path: Path,
) -> None:
    log = Log()
    t = build("async", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SINGLETONS)
    await c.start()
    assert sorted(tag.split("#")[0] for tag in log.inits) == list("ABCDEF")
    for tag_index, tag in enumerate(log.inits):
        name = tag.split("#")[0]
        inst = c.get(t[name])
        for dep in inst.deps:
            assert log.inits.index(dep.tag) < tag_index
    assert set(c.get_all_resources()) == set(t.values())
    await c.aclose()
    assert log.disposals == log.inits[::-1]


async def test_start_chosen_keys_only(tmp_path: Path) -> None:
    log = Log()
    t = build("async", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SINGLETONS)
    await c.start(t["B"])
    assert [tag.split("#")[0] for tag in log.inits] == ["A", "B"]
    await c.aclose()
    assert [tag.split("#")[0] for tag in log.disposals] == ["B", "A"]


def _failing_graph(log: list[str], kind: str) -> tuple[type, type, type]:
    @resource
    class First:
        def initialize(self) -> None:
            log.append("init First")

        def dispose(self) -> None:
            log.append("dispose First")

    @resource
    class Second:
        def __init__(self, first: First) -> None:
            self.first = first

        def initialize(self) -> None:
            log.append("init Second")

        def dispose(self) -> None:
            log.append("dispose Second")

    @resource
    class Broken:
        def __init__(self, second: Second) -> None:
            self.second = second

        def initialize(self) -> None:
            log.append("init Broken")
            raise OSError("cannot connect")

        def dispose(self) -> None:  # pragma: no cover - must never run
            log.append("dispose Broken")

    return First, Second, Broken


async def test_start_rolls_back_in_reverse_on_failure() -> None:
    log: list[str] = []
    First, Second, Broken = _failing_graph(log, "async")
    c = InjectQ()
    for cls in (First, Second, Broken):
        c.bind(cls, cls)
    with pytest.raises(ResourceInitializationError) as info:
        await c.start(First, Second, Broken)
    assert isinstance(info.value.__cause__, OSError)
    assert log == ["init First", "init Second", "init Broken", "dispose Second", "dispose First"]
    assert c.get_all_resources() == {}
    # the container can be started again once the cause is gone
    log.clear()
    await c.start(First, Second)
    assert log == ["init First", "init Second"]
    await c.aclose()


def test_start_sync_rolls_back_in_reverse_on_failure() -> None:
    log: list[str] = []
    First, Second, Broken = _failing_graph(log, "sync")
    c = InjectQ()
    for cls in (First, Second, Broken):
        c.bind(cls, cls)
    with pytest.raises(ResourceInitializationError) as info:
        c.start_sync()
    assert isinstance(info.value.__cause__, OSError)
    assert "dispose Broken" not in log
    assert log[-2:] == ["dispose Second", "dispose First"]
    assert c.get_all_resources() == {}


def test_start_sync_all_singletons(tmp_path: Path) -> None:
    log = Log()
    t = build("sync", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SINGLETONS)
    c.start_sync()
    assert len(log.inits) == 6
    c.close()
    assert log.disposals == log.inits[::-1]


async def test_concurrent_resolution_in_one_scope_still_disposes_in_reverse(
    tmp_path: Path,
) -> None:
    rng = random.Random(5)
    log = Log()
    t = build("async", log, tmp_path / "db.sqlite3")
    c = InjectQ()
    wire(c, t, SCOPED)
    for _ in range(200):
        log.inits.clear()
        log.disposals.clear()
        names = rng.choices(list(t), k=rng.randint(1, 8))
        async with c.scope("request"):
            await asyncio.gather(*(c.aget(t[name]) for name in names))
        assert log.inits
        assert log.disposals == log.inits[::-1], names


def _sync_on_async(events: list[str], fail: bool = False) -> tuple[type, type]:
    @resource
    class Backend:
        async def initialize(self) -> None:
            await asyncio.sleep(0)
            events.append("init Backend")
            if fail:
                raise OSError("backend down")

        async def dispose(self) -> None:
            events.append("dispose Backend")

    @resource
    class Frontend:
        def __init__(self, backend: Backend) -> None:
            self.backend = backend

        def initialize(self) -> None:
            events.append("init Frontend")

        def dispose(self) -> None:
            events.append("dispose Frontend")

    return Backend, Frontend


async def test_sync_dependent_waits_for_scheduled_async_dependency() -> None:
    events: list[str] = []
    Backend, Frontend = _sync_on_async(events)
    c = InjectQ()
    c.bind(Backend, Backend, scope="transient")
    c.bind(Frontend, Frontend, scope="transient")
    async with c.resource_scope():
        front = c.get(Frontend)  # get() in a running loop: both initializations scheduled
        assert events == []
        await front.initialize()  # joins the scheduled one
        assert events == ["init Backend", "init Frontend"]
    assert events[2:] == ["dispose Frontend", "dispose Backend"]


async def test_failed_scheduled_dependency_fails_dependent_reported_once() -> None:
    events: list[str] = []
    Backend, Frontend = _sync_on_async(events, fail=True)
    c = InjectQ()
    c.bind(Backend, Backend, scope="transient")
    c.bind(Frontend, Frontend, scope="transient")
    with pytest.raises(ResourceDisposalError) as info:
        async with c.resource_scope():
            c.get(Frontend)
    (error,) = info.value.exceptions
    assert isinstance(error, ResourceInitializationError)
    assert isinstance(error.__cause__, OSError)
    assert events == ["init Backend"]  # neither initialized, so nothing disposed
