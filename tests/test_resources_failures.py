"""DESIGN §3.5: failures are never lost; timeouts; sync scope vs async dispose."""

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceInitializationError,
    ResourceTimeoutError,
    ScopeError,
    resource,
)


# ------------------------------------------------------------------ initialization
def _graph(db: Path, events: list[str], fail: list[bool]) -> tuple[type, type, type]:
    @resource
    class Db:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)
            events.append("init Db")

        def dispose(self) -> None:
            self.conn.close()
            events.append("dispose Db")

    @resource
    class Flaky:
        attempts = 0

        def initialize(self) -> None:
            type(self).attempts += 1
            events.append("init Flaky")
            if fail[0]:
                raise ConnectionRefusedError("service down")

        def dispose(self) -> None:
            events.append("dispose Flaky")

    class Service:
        def __init__(self, db: Db, flaky: Flaky) -> None:
            self.db = db
            self.flaky = flaky

    return Db, Flaky, Service


def test_init_failure_wraps_once_disposes_earlier_and_retries(tmp_path: Path) -> None:
    events: list[str] = []
    fail = [True]
    Db, Flaky, Service = _graph(tmp_path / "db.sqlite3", events, fail)
    c = InjectQ()
    c.bind(Db, Db, scope="request")
    c.bind(Flaky, Flaky, scope="request")
    c.bind(Service, Service, scope="transient")
    with pytest.raises(ResourceInitializationError) as info:
        with c.scope("request"):
            c.get(Service)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert not isinstance(info.value.__cause__, ResourceInitializationError)
    # Db (initialized before) was disposed at scope exit; Flaky never was
    assert events == ["init Db", "init Flaky", "dispose Db"]
    metrics = c.resource_metrics()
    assert metrics["Flaky"]["init_errors"] == 1
    assert metrics["Flaky"]["disposed"] == 0

    events.clear()
    with c.scope("request"):
        with pytest.raises(ResourceInitializationError):
            c.get(Flaky)
        fail[0] = False
        service = c.get(Service)  # next access retries
        assert service.flaky is c.get(Flaky)
    assert Flaky.attempts == 3
    assert events == ["init Flaky", "init Db", "init Flaky", "dispose Flaky", "dispose Db"]


def test_init_error_raised_by_user_is_not_wrapped_twice() -> None:
    original = ResourceInitializationError("my own wording")

    @resource
    class Strict:
        def initialize(self) -> None:
            raise original

    class Dependent:
        def __init__(self, strict: Strict) -> None:
            self.strict = strict

    c = InjectQ()
    c.bind(Strict, Strict, scope="transient")
    with c.resource_scope():
        with pytest.raises(ResourceInitializationError) as info:
            c.get(Dependent)
    assert info.value is original
    assert info.value.__cause__ is None  # never its own cause


async def test_nested_dependency_failure_is_not_double_wrapped() -> None:
    @resource
    class Leaf:
        async def initialize(self) -> None:
            raise ValueError("bad config")

    @resource
    class Middle:
        def __init__(self, leaf: Leaf) -> None:
            self.leaf = leaf

        async def initialize(self) -> None:  # pragma: no cover - never reached
            pass

    c = InjectQ()
    c.bind(Leaf, Leaf)
    c.bind(Middle, Middle)
    with pytest.raises(ResourceInitializationError) as info:
        await c.aget(Middle)
    assert type(info.value.__cause__) is ValueError


async def test_concurrent_waiters_all_get_the_same_error_then_retry_succeeds() -> None:
    gate = asyncio.Event()
    fail = [True]

    @resource
    class Remote:
        attempts = 0

        async def initialize(self) -> None:
            type(self).attempts += 1
            await gate.wait()
            if fail[0]:
                raise ConnectionResetError("reset by peer")

    c = InjectQ()
    c.bind(Remote, Remote)
    tasks = [asyncio.create_task(c.aget(Remote)) for _ in range(50)]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ResourceInitializationError) for r in results)
    assert len({id(r) for r in results}) == 1  # the very same error object
    assert isinstance(results[0].__cause__, ConnectionResetError)  # type: ignore[union-attr]
    assert Remote.attempts == 1
    fail[0] = False
    remote = await c.aget(Remote)
    assert Remote.attempts == 2
    assert c.get_all_resources() == {Remote: remote}
    await c.aclose()


def test_concurrent_thread_waiters_all_get_the_same_error() -> None:
    started = threading.Event()
    release = threading.Event()

    @resource
    class Remote:
        attempts = 0

        def initialize(self) -> None:
            type(self).attempts += 1
            started.set()
            release.wait(5)
            raise ConnectionResetError("reset by peer")

    c = InjectQ()
    remote = Remote()
    c.bind_instance(Remote, remote)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        with c.resource_scope():
            try:
                c.get(Remote)
            except BaseException as exc:
                with lock:
                    errors.append(exc)

    first = threading.Thread(target=worker)
    first.start()
    assert started.wait(5)
    others = [threading.Thread(target=worker) for _ in range(15)]
    for t in others:
        t.start()
    # bounded wait until the others are blocked on the same initialization
    for _ in range(200):
        if threading.active_count() >= 16:
            break
        threading.Event().wait(0.005)
    threading.Event().wait(0.02)
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert len(errors) == 16
    assert all(isinstance(e, ResourceInitializationError) for e in errors)
    # threads that arrived while the first call ran share its error
    assert Remote.attempts < 16
    shared = [e for e in errors if e is errors[0]]
    assert len(shared) >= 2


# ------------------------------------------------------------------ disposal
def _disposers(events: list[str], failing: set[str]) -> dict[str, type]:
    made: dict[str, type] = {}
    for name in ("One", "Two", "Three", "Four"):

        def dispose(self: object, _name: str = name) -> None:
            events.append(f"dispose {_name}")
            if _name in failing:
                raise RuntimeError(f"{_name} refused to close")

        def initialize(self: object, _name: str = name) -> None:
            events.append(f"init {_name}")

        made[name] = resource(type(name, (), {"initialize": initialize, "dispose": dispose}))
    return made


def test_failing_dispose_others_still_run_and_group_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    t = _disposers(events, {"Two", "Four"})
    c = InjectQ()
    for cls in t.values():
        c.bind(cls, cls, scope="request")
    with caplog.at_level(logging.ERROR, logger="injectq.resources"):
        with pytest.raises(ResourceDisposalError) as info:
            with c.scope("request"):
                for cls in t.values():
                    c.get(cls)
    assert events[4:] == ["dispose Four", "dispose Three", "dispose Two", "dispose One"]
    group = info.value
    assert isinstance(group, ExceptionGroup)
    assert [str(e) for e in group.exceptions] == ["Four refused to close", "Two refused to close"]
    for exc, name in zip(group.exceptions, ("Four", "Two"), strict=True):
        assert any(name in note for note in exc.__notes__)
    records = [r for r in caplog.records if r.name == "injectq.resources"]
    assert len(records) == 2
    assert all(r.exc_info is not None and r.exc_info[2] is not None for r in records)
    assert {r.exc_info[1] for r in records} == set(group.exceptions)  # type: ignore[index]
    metrics = c.resource_metrics()
    assert metrics["Two"]["dispose_errors"] == 1
    assert metrics["Four"]["dispose_errors"] == 1
    assert metrics["One"]["dispose_errors"] == 0
    assert metrics["One"]["disposed"] == 1


async def test_failing_dispose_with_body_error_attaches_notes() -> None:
    events: list[str] = []
    t = _disposers(events, {"Three"})
    c = InjectQ()
    for cls in t.values():
        c.bind(cls, cls, scope="transient")
    body = KeyError("body failed")
    with pytest.raises(KeyError) as info:
        async with c.resource_scope():
            for cls in t.values():
                await c.aget(cls)
            raise body
    assert info.value is body  # unchanged, not wrapped
    assert any("Three refused to close" in note for note in body.__notes__)
    assert any("Three" in note for note in body.__notes__)
    assert events[4:] == ["dispose Four", "dispose Three", "dispose Two", "dispose One"]


def test_container_close_reports_disposal_failures() -> None:
    events: list[str] = []
    t = _disposers(events, {"One"})
    c = InjectQ()
    for cls in t.values():
        c.bind(cls, cls)
        c.get(cls)
    with pytest.raises(ResourceDisposalError) as info:
        c.close()
    assert len(info.value.exceptions) == 1
    assert events[4:] == ["dispose Four", "dispose Three", "dispose Two", "dispose One"]
    assert c.get_all_resources() == {}


# ------------------------------------------------------------------ timeouts
async def test_async_init_timeout_from_decorator() -> None:
    never = asyncio.Event()

    @resource(init_timeout=0.05)
    class Hangs:
        async def initialize(self) -> None:
            await never.wait()

    @resource
    class Fine:
        async def initialize(self) -> None:
            pass

    c = InjectQ()
    c.bind(Hangs, Hangs, scope="transient")
    c.bind(Fine, Fine, scope="transient")
    async with c.resource_scope():
        with pytest.raises(ResourceInitializationError) as info:
            await c.aget(Hangs)
        assert isinstance(info.value.__cause__, ResourceTimeoutError)
        assert isinstance(info.value.__cause__, TimeoutError)
        fine = await c.aget(Fine)  # the rest continue
        assert c.get_all_resources() == {Fine: fine}
    assert c.resource_metrics()["Hangs"]["init_errors"] == 1


def test_container_default_timeouts_leave_sync_calls_in_their_thread(tmp_path) -> None:
    # Bounding a sync call means running it in a helper thread, which breaks thread-bound
    # objects such as sqlite3 connections: container defaults therefore bound async calls
    # only, and a sync resource opts in with its own @resource(init_timeout=...).
    threads: list[int] = []

    @resource
    class Db:
        def initialize(self) -> None:
            threads.append(threading.get_ident())
            self.conn = sqlite3.connect(tmp_path / "t.db")  # check_same_thread=True

        def dispose(self) -> None:
            threads.append(threading.get_ident())
            self.conn.close()

    c = InjectQ(default_init_timeout=0.05, default_dispose_timeout=0.05)
    c.bind(Db, Db, scope="request")
    with c.scope("request"):
        db = c.get(Db)
        assert db.conn.execute("SELECT 1").fetchone() == (1,)  # same thread: usable
    assert threads == [threading.get_ident()] * 2


def test_sync_init_timeout_from_the_resource_itself() -> None:
    never = threading.Event()

    @resource(init_timeout=0.05)
    class Hangs:
        def initialize(self) -> None:
            never.wait(10)

    c = InjectQ()
    c.bind(Hangs, Hangs)
    try:
        with pytest.raises(ResourceInitializationError) as info:
            c.get(Hangs)
        assert isinstance(info.value.__cause__, ResourceTimeoutError)
    finally:
        never.set()  # release the helper thread


async def test_dispose_timeout_is_a_failure_among_others() -> None:
    never = asyncio.Event()
    events: list[str] = []

    @resource(dispose_timeout=0.05)
    class Stuck:
        async def dispose(self) -> None:
            events.append("dispose Stuck")
            await never.wait()

    @resource
    class Before:
        async def dispose(self) -> None:
            events.append("dispose Before")

    @resource
    class After:
        async def dispose(self) -> None:
            events.append("dispose After")

    c = InjectQ()
    for cls in (Before, Stuck, After):
        c.bind(cls, cls, scope="transient")
    with pytest.raises(ResourceDisposalError) as info:
        async with c.resource_scope():
            for cls in (Before, Stuck, After):
                await c.aget(cls)
    assert events == ["dispose After", "dispose Stuck", "dispose Before"]
    (error,) = info.value.exceptions
    assert isinstance(error, ResourceTimeoutError)
    assert any("Stuck" in note for note in error.__notes__)
    assert c.resource_metrics()["Stuck"]["dispose_errors"] == 1


async def test_container_default_dispose_timeout() -> None:
    never = asyncio.Event()

    @resource
    class Stuck:
        async def dispose(self) -> None:
            await never.wait()

    c = InjectQ(default_dispose_timeout=0.05)
    c.bind(Stuck, Stuck)
    await c.aget(Stuck)
    with pytest.raises(ResourceDisposalError) as info:
        await c.aclose()
    assert isinstance(info.value.exceptions[0], ResourceTimeoutError)


async def test_decorator_timeout_wins_over_container_default() -> None:
    never = asyncio.Event()

    @resource(init_timeout=0.05)
    class Hangs:
        async def initialize(self) -> None:
            await never.wait()

    c = InjectQ(default_init_timeout=60)
    c.bind(Hangs, Hangs)
    with pytest.raises(ResourceInitializationError) as info:
        await c.aget(Hangs)
    assert isinstance(info.value.__cause__, ResourceTimeoutError)


# ------------------------------------------------------------------ sync scope, async dispose
def test_sync_scope_meeting_async_dispose_fails_at_activation() -> None:
    events: list[str] = []

    @resource
    class AsyncOnly:
        def initialize(self) -> None:  # pragma: no cover - must not run
            events.append("init")

        async def dispose(self) -> None:  # pragma: no cover
            events.append("dispose")

    c = InjectQ()
    c.bind(AsyncOnly, AsyncOnly, scope="request")
    reached_after = False
    with c.scope("request"):
        with pytest.raises(ScopeError, match="async with") as info:
            c.get(AsyncOnly)
        assert "async" in str(info.value)
        reached_after = True
    assert reached_after
    assert events == []  # failed before initialize: nothing to dispose at exit
