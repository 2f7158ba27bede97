"""override(): blocks on one key that overlap without nesting (issue 11, item 7).

Parallel tests sharing a container: task A enters override(K, a), task B enters
override(K, b), A exits, B exits. The overrides of a key are a stack whose top is in
effect and any element may leave; every exit order of three overlapping overrides is
driven, for every kind of original binding, from asyncio tasks and from threads.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from injectq import BindingError, InjectQ, resource

DB = Path()


@pytest.fixture(autouse=True)
def db(tmp_path: Path) -> Path:
    global DB
    DB = tmp_path / "store.sqlite3"
    with sqlite3.connect(DB) as conn:
        conn.execute("CREATE TABLE items (name TEXT)")
        conn.execute("INSERT INTO items VALUES ('real')")
    conn.close()
    return DB


@resource
class Store:
    """A real SQLite connection; ``label`` says which one a test got."""

    def __init__(self, label: str = "real") -> None:
        self.label = label

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)
        self.conn.execute("SELECT name FROM items").fetchall()

    def dispose(self) -> None:
        self.conn.close()


class Repo:
    def __init__(self, store: Store) -> None:
        self.store = store


LABELS = ("a", "b", "c")


class Case:
    """One kind of original binding: how to set it up, override it and read it."""

    def __init__(
        self,
        name: str,
        setup: Callable[[InjectQ], None],
        *,
        key: Any = Store,
        factories: bool = True,
        scoped: bool = False,
    ) -> None:
        self.name = name
        self.setup = setup
        self.key = key
        self.factories = factories  # may an override value be a factory function?
        self.scoped = scoped

    def value(self, index: int) -> Any:
        label = LABELS[index]
        if self.key is not Store:
            return label
        if self.factories and index == 1:

            def make_store() -> Store:  # a factory, built by the container
                return Store(label)

            return make_store
        return Store(label)

    def visible(self, c: InjectQ) -> str:
        if self.key is not Store:
            return str(c.get(self.key))
        if self.scoped:
            with c.scope("request"):
                return str(c.get(Store).label)
        return str(c.get(Store).label)


def bind_class(c: InjectQ) -> None:
    c.bind(Store, Store)


def bind_instance(c: InjectQ) -> None:
    c.bind_instance(Store, Store())


def bind_factory(c: InjectQ) -> None:
    c.bind_factory(Store, Store)  # a class as a transient factory


def bind_scoped(c: InjectQ) -> None:
    c.bind(Store, Store, scope="request")


def bind_nothing(c: InjectQ) -> None:
    pass


def bind_string(c: InjectQ) -> None:
    c.bind_instance("dsn", "real")


CASES = [
    Case("singleton class", bind_class),
    Case("bound instance", bind_instance, factories=False),
    Case("transient factory", bind_factory),
    Case("request scoped", bind_scoped, scoped=True),
    Case("unbound, autowired", bind_nothing),
    Case("string key", bind_string, key="dsn"),
]
EXIT_ORDERS = list(itertools.permutations(range(3)))
EXIT_IDS = ["exit-" + "".join(map(str, order)) for order in EXIT_ORDERS]


def expected_after(exited: list[int]) -> str:
    """The most recent override still active is in effect, else the original."""
    active = [i for i in range(3) if i not in exited]
    return LABELS[active[-1]] if active else "real"


def prepare(case: Case) -> tuple[InjectQ, Any, dict[Any, Any]]:
    c = InjectQ()
    case.setup(c)
    if not case.scoped and case.key is Store:
        c.bind(Repo, Repo)  # a singleton that depends on the key
    original = None if case.scoped else c.get(case.key)
    return c, original, c.bindings


def check_restored(case: Case, c: InjectQ, original: Any, bindings: dict[Any, Any]) -> None:
    assert c.bindings == bindings
    assert case.visible(c) == "real"
    if case.name in ("singleton class", "bound instance", "string key"):
        assert c.get(case.key) is original  # the very same object, not a rebuilt one
    if case.name in ("transient factory", "unbound, autowired"):
        assert c.get(Store) is not c.get(Store)  # transient again
    if not case.scoped and case.key is Store:
        assert c.get(Repo).store.label == "real"  # nothing built with an override stays


@pytest.mark.parametrize("exit_order", EXIT_ORDERS, ids=EXIT_IDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_overlapping_overrides_in_tasks(case: Case, exit_order: tuple[int, ...]) -> None:
    c, original, bindings = prepare(case)
    entered = [asyncio.Event() for _ in LABELS]
    leave = [asyncio.Event() for _ in LABELS]
    left = [asyncio.Event() for _ in LABELS]
    seen: dict[int, str] = {}

    async def parallel_test(index: int) -> None:
        try:
            with c.override(case.key, case.value(index)):
                seen[index] = case.visible(c)
                if not case.scoped and case.key is Store:
                    assert c.get(Repo).store.label in LABELS  # built with an override
                entered[index].set()
                await leave[index].wait()
        finally:  # a failure above must not leave the driver waiting
            entered[index].set()
            left[index].set()

    tasks = []
    for index in range(3):
        tasks.append(asyncio.create_task(parallel_test(index)))
        await entered[index].wait()
    assert seen == {0: "a", 1: "b", 2: "c"}
    exited: list[int] = []
    try:
        for index in exit_order:
            leave[index].set()
            await left[index].wait()
            exited.append(index)
            assert case.visible(c) == expected_after(exited), f"after {exited} exited"
    finally:
        for event in leave:
            event.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*tasks)
    check_restored(case, c, original, bindings)
    c.close()


@pytest.mark.parametrize("exit_order", EXIT_ORDERS, ids=EXIT_IDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_overlapping_overrides_in_threads(case: Case, exit_order: tuple[int, ...]) -> None:
    c, original, bindings = prepare(case)
    entered = [threading.Event() for _ in LABELS]
    leave = [threading.Event() for _ in LABELS]
    errors: list[BaseException] = []

    def parallel_test(index: int) -> None:
        try:
            with c.override(case.key, case.value(index)):
                assert case.visible(c) == LABELS[index]
                entered[index].set()
                assert leave[index].wait(10)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            entered[index].set()

    threads = []
    for index in range(3):
        thread = threading.Thread(target=parallel_test, args=(index,))
        threads.append(thread)
        thread.start()
        assert entered[index].wait(10)
    try:
        assert errors == []
        exited: list[int] = []
        for index in exit_order:
            leave[index].set()
            threads[index].join(10)
            exited.append(index)
            assert case.visible(c) == expected_after(exited), f"after {exited} exited"
    finally:
        for event in leave:
            event.set()
        for thread in threads:
            thread.join(10)
    assert errors == []
    check_restored(case, c, original, bindings)
    c.close()


def test_free_running_threads_leave_nothing_behind() -> None:
    """Many threads override one key over and over, overlapping as they happen to."""
    c = InjectQ()
    c.bind(Store, Store)
    c.bind(Repo, Repo)
    original = c.get(Store)
    bindings = c.bindings
    workers, rounds = 6, 40
    start = threading.Barrier(workers, timeout=30)
    errors: list[BaseException] = []

    def parallel_test(worker: int) -> None:
        try:
            start.wait()
            for round_ in range(rounds):
                mine = Store(f"{worker}-{round_}")
                with c.override(Store, mine):
                    got = c.get(Store).label
                    assert got != "real", "an override is active: the original is hidden"
                    c.get(Repo)
                    time.sleep(0.0002)  # let the other threads' overrides overlap this one
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=parallel_test, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert c.bindings == bindings
    assert c.get(Store) is original
    assert c.get(Repo).store is original
    c.close()


def test_a_refused_override_changes_nothing() -> None:
    c = InjectQ()
    c.bind(Store, Store)
    original = c.get(Store)
    with c.override(Store, Store("a")):
        with pytest.raises(BindingError, match="scope"), c.override(Store, Store("b"), scope=42):
            pass  # pragma: no cover - refused before the block
        assert c.get(Store).label == "a"
    assert c.get(Store) is original
    with pytest.raises(BindingError), c.override(Store, Store("c"), scope=42):
        pass  # pragma: no cover - refused before the block
    assert c.bindings[Store].provider is Store
    assert c.get(Store) is original
    c.close()
