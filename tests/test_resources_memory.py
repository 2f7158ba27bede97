"""Issue 11 item 2: a resource's state never outlives its resource, whatever the class.

Instances that cannot carry the state attribute (``__slots__``, ``@dataclass(slots=True)``)
keep it aside; that must not keep every activation ever made alive."""

import asyncio
import gc
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, resource


def _make_classes(db: Path) -> dict[str, type]:
    @resource
    class SlotsConnection:
        __slots__ = ("conn",)

        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)

        def dispose(self) -> None:
            assert self.conn is not None
            self.conn.close()

    @resource
    @dataclass(slots=True)
    class DataclassConnection:
        conn: Any = field(default=None)

        async def initialize(self) -> None:
            self.conn = sqlite3.connect(db)

        async def dispose(self) -> None:
            self.conn.close()

    @resource
    @dataclass(slots=True)
    class FailingConnection:
        conn: Any = field(default=None)

        def initialize(self) -> None:
            raise OSError("database is down")

    return {
        "slots": SlotsConnection,
        "dataclass": DataclassConnection,
        "failing": FailingConnection,
    }


def _alive(cls: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is cls)


@pytest.mark.parametrize("lifetime", ["request", "transient"])
def test_slotted_resources_are_not_kept_alive_after_their_scope(
    tmp_path: Path, lifetime: str
) -> None:
    classes = _make_classes(tmp_path / "db.sqlite3")
    cls = classes["slots"]
    c = InjectQ()
    c.bind(cls, cls, scope=lifetime)
    for _ in range(2000):
        with c.scope("request"):
            assert c.get(cls).conn is not None
    assert _alive(cls) == 0
    assert c.resource_metrics()["SlotsConnection"]["active"] == 0


async def test_async_slotted_dataclass_resources_are_not_kept_alive(tmp_path: Path) -> None:
    cls = _make_classes(tmp_path / "db.sqlite3")["dataclass"]
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    for _ in range(2000):
        async with c.scope("request"):
            assert (await c.aget(cls)).conn is not None
    assert _alive(cls) == 0


def test_failed_initializations_of_slotted_resources_are_not_kept(tmp_path: Path) -> None:
    cls = _make_classes(tmp_path / "db.sqlite3")["failing"]
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    for _ in range(500):
        with c.scope("request"), pytest.raises(Exception, match="database is down"):
            c.get(cls)
    assert _alive(cls) == 0


def test_a_user_managed_slotted_resource_keeps_exactly_once_until_disposed(
    tmp_path: Path,
) -> None:
    # kept aside while live, even though only the user holds the instance
    calls: list[str] = []

    @resource
    class Slotted:
        __slots__ = ("conn",)

        def initialize(self) -> None:
            calls.append("init")
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3", check_same_thread=False)

        def dispose(self) -> None:
            calls.append("dispose")
            self.conn.close()

    for _ in range(200):
        inst = Slotted()
        threads = [threading.Thread(target=inst.initialize) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gc.collect()
        inst.initialize()  # joins: live already
        inst.dispose()
        inst.dispose()  # once only
    assert calls == ["init", "dispose"] * 200
    del inst
    assert _alive(Slotted) == 0


def test_a_slotted_bound_instance_is_activated_again_by_each_scope(tmp_path: Path) -> None:
    cls = _make_classes(tmp_path / "db.sqlite3")["slots"]
    c = InjectQ()
    shared = cls()
    c.bind_instance(cls, shared)
    for _ in range(50):
        with c.scope("request"):
            assert c.get(cls).conn is not None
        assert shared.conn is not None
        with pytest.raises(sqlite3.ProgrammingError):  # closed at the scope's exit
            shared.conn.execute("SELECT 1")
    metrics = c.resource_metrics()["SlotsConnection"]
    assert metrics["initialized"] == metrics["disposed"] == 50


async def test_the_memory_stays_flat_over_many_async_scopes(tmp_path: Path) -> None:
    import tracemalloc

    classes = _make_classes(tmp_path / "db.sqlite3")
    c = InjectQ()
    c.bind(classes["slots"], classes["slots"], scope="request")
    c.bind(classes["dataclass"], classes["dataclass"], scope="request")

    async def cycle() -> None:
        async with c.scope("request"):
            await c.aget(classes["slots"])
            await c.aget(classes["dataclass"])

    for _ in range(2000):  # warm-up: compiled resolvers, the monitor's sample windows
        await cycle()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3000):
            await cycle()
        await asyncio.sleep(0)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # a state kept per activation is ~1 KB: 3000 of them would be MBs
    assert grown < 100_000, grown
