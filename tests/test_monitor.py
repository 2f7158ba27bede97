"""ResourceMonitor through the public API, with real SQLite connections and pools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceEvent,
    ResourceInitializationError,
    ResourceMonitor,
    ResourcePool,
    logging_subscriber,
    resource,
)
from support.page_helpers import open_fds_on

DB: Path  # set by the ``db`` fixture: the resource classes below open this file


@pytest.fixture(autouse=True)
def db(tmp_path: Path) -> Iterator[Path]:
    global DB
    DB = tmp_path / "monitor.sqlite3"
    with sqlite3.connect(DB) as conn:
        conn.execute("CREATE TABLE hits (n INTEGER)")
    conn.close()
    yield DB
    assert open_fds_on(DB) == 0, "a test left a SQLite connection open"


@resource(scope="request")
class Connection:
    """A request-scoped SQLite connection."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)

    def dispose(self) -> None:
        self.conn.close()


@resource(scope="request")
class BrokenInit:
    """Fails to initialize: the database path is a directory."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB.parent / "no" / "such" / "dir.sqlite3")


@resource(scope="request")
class BrokenDispose:
    """Opens a connection, then fails while disposing (after closing it)."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)

    def dispose(self) -> None:
        self.conn.close()
        self.conn.execute("SELECT 1")  # ProgrammingError: closed database


@resource(scope="request")
class AsyncConnection:
    """Async initialize/dispose around a real connection (work done in a thread)."""

    async def initialize(self) -> None:
        self.conn = await asyncio.to_thread(sqlite3.connect, DB, check_same_thread=False)

    async def dispose(self) -> None:
        await asyncio.to_thread(self.conn.close)


def make_container() -> InjectQ:
    c = InjectQ()
    for cls in (Connection, BrokenInit, BrokenDispose, AsyncConnection):
        c.bind(cls, cls)
    return c


def run_request(c: InjectQ, *, fail_init: bool, fail_dispose: bool) -> None:
    with c.scope("request"):
        c.get(Connection).conn.execute("INSERT INTO hits VALUES (1)")
        if fail_dispose:
            c.get(BrokenDispose)
        if fail_init:
            with pytest.raises(ResourceInitializationError):
                c.get(BrokenInit)


def test_counts_after_scopes_with_failing_init_and_dispose() -> None:
    c = make_container()
    for i in range(6):
        fail_dispose = i % 3 == 0  # requests 0 and 3
        try:
            run_request(c, fail_init=i % 2 == 0, fail_dispose=fail_dispose)
        except ResourceDisposalError as exc:
            assert fail_dispose
            # only some rounds of the loop raise: no pytest.raises
            assert isinstance(exc.exceptions[0], sqlite3.ProgrammingError)  # noqa: PT017
        else:
            assert not fail_dispose

    metrics = c.resource_metrics()
    assert metrics is not c.resource_metrics()  # a snapshot, not live state
    conn = metrics["Connection"]
    assert (conn["created"], conn["initialized"], conn["disposed"], conn["active"]) == (6, 6, 6, 0)
    assert (conn["init_errors"], conn["dispose_errors"]) == (0, 0)

    broken_init = metrics["BrokenInit"]
    assert broken_init["created"] == 3
    assert broken_init["init_errors"] == 3
    assert broken_init["initialized"] == broken_init["disposed"] == broken_init["active"] == 0

    broken_dispose = metrics["BrokenDispose"]
    assert broken_dispose["created"] == broken_dispose["initialized"] == 2
    assert broken_dispose["disposed"] == 2  # a failed disposal still ends the activation
    assert broken_dispose["dispose_errors"] == 2
    assert broken_dispose["active"] == 0
    assert "AsyncConnection" not in metrics  # never used
    c.close()


def test_active_counts_live_instances_until_their_scope_exits() -> None:
    c = make_container()
    with c.scope("request"):
        c.get(Connection)
        assert c.resource_metrics()["Connection"]["active"] == 1
        assert c.resource_monitor.active_counts() == {"Connection": 1}
        with c.scope("request"):
            c.get(Connection)
            assert c.resource_metrics()["Connection"]["active"] == 2
        assert c.resource_metrics()["Connection"]["active"] == 1
    assert c.resource_metrics()["Connection"]["active"] == 0
    assert c.resource_monitor.stats_for(Connection)["disposed"] == 2


def test_lifetimes_and_durations_are_summarised() -> None:
    c = make_container()
    for _ in range(5):
        with c.scope("request"):
            c.get(Connection)
    stats = c.resource_metrics()["Connection"]
    for name in ("lifetime", "init_duration", "dispose_duration"):
        summary = stats[name]
        assert set(summary) == {"count", "mean", "median", "p95", "max"}
        assert summary["count"] == 5
        assert 0 < summary["median"] <= summary["p95"] <= summary["max"]
        assert 0 < summary["mean"] <= summary["max"]
    # a type nobody used reports zeros rather than failing
    assert c.resource_monitor.stats_for("Unused")["lifetime"]["count"] == 0


def test_container_exposes_its_monitor() -> None:
    c = InjectQ()
    assert isinstance(c.resource_monitor, ResourceMonitor)
    assert c.get(ResourceMonitor) is c.resource_monitor
    shared = ResourceMonitor()
    assert InjectQ(monitor=shared).resource_monitor is shared


def test_subscriber_receives_frozen_events_in_order() -> None:
    c = make_container()
    events: list[ResourceEvent] = []
    unsubscribe = c.resource_monitor.subscribe(events.append)
    with pytest.raises(ResourceDisposalError):
        with c.scope("request"):
            c.get(Connection)
            c.get(BrokenDispose)
            with pytest.raises(ResourceInitializationError):
                c.get(BrokenInit)

    kinds = [(e.kind, e.key) for e in events]
    assert kinds == [
        ("created", "Connection"),
        ("initialized", "Connection"),
        ("created", "BrokenDispose"),
        ("initialized", "BrokenDispose"),
        ("created", "BrokenInit"),
        ("init_failed", "BrokenInit"),
        ("dispose_failed", "BrokenDispose"),  # reverse order of initialization
        ("disposed", "Connection"),
    ]
    assert all(e.scope == "request" for e in events)
    assert all(e.resource_type == e.key for e in events)
    by_kind = {e.kind: e for e in events}
    assert by_kind["created"].duration is None
    assert by_kind["initialized"].duration is not None and by_kind["initialized"].duration > 0
    assert by_kind["init_failed"].duration is not None
    assert isinstance(by_kind["init_failed"].error, sqlite3.OperationalError)
    assert isinstance(by_kind["dispose_failed"].error, sqlite3.ProgrammingError)
    disposed = by_kind["disposed"]
    assert disposed.error is None
    assert disposed.duration is not None and disposed.lifetime is not None
    assert disposed.lifetime > 0
    with pytest.raises(AttributeError):
        disposed.kind = "created"  # type: ignore[misc]

    unsubscribe()
    unsubscribe()  # idempotent
    with c.scope("request"):
        c.get(Connection)
    assert len(events) == 8


def test_singletons_report_the_root_scope() -> None:
    @resource
    class Shared:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(DB)

        def dispose(self) -> None:
            self.conn.close()

    c = InjectQ()
    c.bind(Shared, Shared)
    events: list[ResourceEvent] = []
    c.resource_monitor.subscribe(events.append)
    with c.scope("request"):
        c.get(Shared)
    assert c.resource_metrics()["Shared"]["active"] == 1  # the container owns it
    c.close()
    assert [(e.kind, e.scope) for e in events] == [
        ("created", "root"),
        ("initialized", "root"),
        ("disposed", "root"),
    ]
    assert c.resource_metrics()["Shared"]["active"] == 0


def test_resource_without_initialize_never_goes_negative() -> None:
    @resource(scope="request")
    class OnlyDispose:
        def __init__(self) -> None:
            self.conn = sqlite3.connect(DB)

        def dispose(self) -> None:
            self.conn.close()

    c = InjectQ()
    c.bind(OnlyDispose, OnlyDispose)
    for _ in range(3):
        with c.scope("request"):
            c.get(OnlyDispose)
            assert c.resource_metrics()["OnlyDispose"]["active"] == 1
    stats = c.resource_metrics()["OnlyDispose"]
    assert (stats["created"], stats["initialized"], stats["disposed"], stats["active"]) == (
        3,
        3,
        3,
        0,
    )


def test_generator_resources_are_monitored_under_their_key() -> None:
    c = InjectQ()

    @resource()
    def connection() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(DB)
        try:
            yield conn
        finally:
            conn.close()

    c.bind_factory(sqlite3.Connection, connection, scope="request")
    for _ in range(2):
        with c.scope("request"):
            c.get(sqlite3.Connection).execute("SELECT 1")
    stats = c.resource_metrics()["Connection"]
    assert (stats["created"], stats["initialized"], stats["disposed"], stats["active"]) == (
        2,
        2,
        2,
        0,
    )


def test_failing_subscriber_is_logged_and_never_breaks_a_lifecycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = make_container()
    seen: list[str] = []

    def broken(event: ResourceEvent) -> None:
        raise RuntimeError(f"subscriber broke on {event.kind}")

    c.resource_monitor.subscribe(broken)
    c.resource_monitor.subscribe(lambda e: seen.append(e.kind))  # later subscribers still run
    with caplog.at_level(logging.ERROR, logger="injectq.resources"):
        with c.scope("request"):
            conn = c.get(Connection)
            conn.conn.execute("SELECT 1")
    assert seen == ["created", "initialized", "disposed"]
    failures = [r for r in caplog.records if "subscriber" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.exc_info is not None for r in failures)
    assert "subscriber broke on created" in str(failures[0].exc_info[1])  # type: ignore[index]
    assert c.resource_metrics()["Connection"]["disposed"] == 1


def test_logging_subscriber_writes_one_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    c = make_container()
    logger = logging.getLogger("test.monitor.lifecycle")
    c.resource_monitor.subscribe(logging_subscriber(logger))
    with caplog.at_level(logging.INFO, logger="test.monitor.lifecycle"):
        with pytest.raises(ResourceDisposalError), c.scope("request"):
            c.get(BrokenDispose)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger.name]
    assert [level for level, _ in lines] == [logging.INFO, logging.INFO, logging.WARNING]
    assert lines[0][1].startswith("created BrokenDispose [BrokenDispose] scope=request")
    assert " ms" in lines[1][1]
    assert lines[2][1].startswith("dispose_failed BrokenDispose")
    assert "ProgrammingError" in lines[2][1]


async def test_async_scopes_concurrently() -> None:
    c = make_container()
    events: list[ResourceEvent] = []
    c.resource_monitor.subscribe(events.append)

    async def request() -> None:
        async with c.scope("request"):
            conn = await c.aget(AsyncConnection)
            await asyncio.to_thread(conn.conn.execute, "SELECT 1")

    await asyncio.gather(*(request() for _ in range(50)))
    stats = c.resource_metrics()["AsyncConnection"]
    assert (stats["created"], stats["initialized"], stats["disposed"], stats["active"]) == (
        50,
        50,
        50,
        0,
    )
    assert stats["init_duration"]["count"] == 50
    assert sorted(e.kind for e in events) == sorted(
        ["created"] * 50 + ["initialized"] * 50 + ["disposed"] * 50
    )


def test_threads_count_exactly() -> None:
    c = make_container()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                with c.scope("request"):
                    c.get(Connection).conn.execute("SELECT 1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = c.resource_metrics()["Connection"]
    assert (stats["created"], stats["disposed"], stats["active"]) == (160, 160, 0)


async def test_async_subscriber_is_scheduled_on_the_loop() -> None:
    c = make_container()
    received: list[str] = []
    done = asyncio.Event()

    async def forward(event: ResourceEvent) -> None:
        await asyncio.sleep(0)
        received.append(event.kind)
        if event.kind == "disposed":
            done.set()

    c.resource_monitor.subscribe(forward)
    async with c.scope("request"):
        await c.aget(AsyncConnection)
    await asyncio.wait_for(done.wait(), 5)
    assert received == ["created", "initialized", "disposed"]


def test_async_subscriber_without_loop_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = make_container()

    async def forward(event: ResourceEvent) -> None:  # pragma: no cover - never awaited
        raise AssertionError

    c.resource_monitor.subscribe(forward)
    with caplog.at_level(logging.WARNING, logger="injectq.resources"):
        with c.scope("request"):
            c.get(Connection)
    dropped = [r for r in caplog.records if "no running event loop" in r.getMessage()]
    assert len(dropped) == 3


def test_disabled_monitor_records_nothing() -> None:
    c = InjectQ(monitor=ResourceMonitor(enabled=False))
    c.bind(Connection, Connection)
    events: list[ResourceEvent] = []
    c.resource_monitor.subscribe(events.append)
    with c.scope("request"):
        c.get(Connection)
    assert c.resource_metrics() == {}
    assert events == []


def test_reset_clears_the_counters() -> None:
    c = make_container()
    with c.scope("request"):
        c.get(Connection)
    c.resource_monitor.reset()
    assert c.resource_metrics() == {}


def test_counting_goes_on_after_a_reset_mid_scope() -> None:
    # the scope's resolvers hold the type's counters: reset() must zero those, not
    # replace them, or counting would silently stop
    c = make_container()
    with c.scope("request"):
        c.get(Connection)
        c.resource_monitor.reset()
        assert c.resource_metrics() == {}
    after_reset = c.resource_metrics()["Connection"]
    assert (after_reset["created"], after_reset["disposed"], after_reset["active"]) == (0, 1, -1)
    with c.scope("request"):
        c.get(Connection)
    again = c.resource_metrics()["Connection"]
    assert (again["created"], again["initialized"], again["disposed"]) == (1, 1, 2)
    assert again["init_duration"]["count"] == 1
    assert again["lifetime"]["count"] == 2


def test_a_type_compiled_but_never_activated_is_not_listed() -> None:
    c = make_container()
    c.resource_monitor.reset()
    with c.scope("request"):
        pass
    assert c.resource_metrics() == {}
    assert c.resource_monitor.active_counts() == {}
    assert c.resource_monitor.stats_for("Connection")["created"] == 0


@pytest.mark.parametrize("is_async", [False, True])
def test_fresh_and_general_activations_report_the_same_events(is_async: bool) -> None:
    # a class the container constructs takes the fresh path (counts held by its state
    # class, counted inline); what a factory returns takes the general one (the record_*
    # methods): every counter, every sample and every event must come out the same
    events: dict[str, list[tuple[str, str, str, str, bool]]] = {}
    metrics: dict[str, dict[str, object]] = {}

    class FailsSecond:
        """Its second disposal fails: a dispose error counted both ways too."""

        disposals = 0

        def initialize(self) -> None:
            pass

        def dispose(self) -> None:
            type(self).disposals += 1
            if type(self).disposals % 3 == 2:
                raise OSError("disk gone")

    class AsyncFailsSecond:
        disposals = 0

        async def initialize(self) -> None:
            await asyncio.sleep(0)

        async def dispose(self) -> None:
            type(self).disposals += 1
            if type(self).disposals % 3 == 2:
                raise OSError("disk gone")
            if type(self).disposals % 3 == 0:
                await asyncio.sleep(0)  # one disposal suspends: the rest runs later

    cls = resource(AsyncFailsSecond if is_async else FailsSecond)
    for how in ("fresh", "general"):
        cls.disposals = 0
        c = InjectQ()
        if how == "fresh":
            c.bind(cls, cls, scope="request")
        else:
            c.bind_factory(cls, lambda: cls(), scope="request")  # noqa: PLW0108  (a factory, not a class)
        seen: list[ResourceEvent] = []
        c.resource_monitor.subscribe(seen.append)

        async def run_async(c: InjectQ = c) -> None:
            async with c.scope("request"):
                await c.aget(cls)

        for _ in range(3):
            with contextlib.suppress(ResourceDisposalError):
                if is_async:
                    asyncio.run(run_async())
                else:
                    with c.scope("request"):
                        c.get(cls)
        events[how] = [(e.kind, e.key, e.resource_type, e.scope, e.error is None) for e in seen]
        snapshot = c.resource_metrics()[cls.__name__]
        metrics[how] = {k: (v if isinstance(v, int) else v["count"]) for k, v in snapshot.items()}
    assert events["fresh"] == events["general"]
    kinds = [kind for kind, *_ in events["fresh"]]
    cycle = ["created", "initialized"]
    assert kinds == [*cycle, "disposed", *cycle, "dispose_failed", *cycle, "disposed"]
    assert metrics["fresh"] == metrics["general"]
    assert metrics["fresh"]["dispose_errors"] == 1
    assert metrics["fresh"]["lifetime"] == metrics["fresh"]["disposed"] == 3


async def test_watched_pool_events_and_metrics() -> None:
    c = InjectQ()
    closed: list[int] = []

    def close(conn: sqlite3.Connection) -> None:
        conn.close()
        closed.append(1)

    pool: ResourcePool[sqlite3.Connection] = ResourcePool(
        lambda: sqlite3.connect(DB, check_same_thread=False), max_size=3, close=close
    )
    c.bind(ResourcePool, pool)
    events: list[ResourceEvent] = []
    c.resource_monitor.subscribe(events.append)
    unwatch = c.resource_monitor.watch_pool(pool, "sqlite")

    async def use() -> None:
        async with pool.acquire() as conn:
            conn.execute("SELECT count(*) FROM hits").fetchone()
            await asyncio.sleep(0)

    await asyncio.gather(*(use() for _ in range(20)))
    pool_events = [e for e in events if e.kind.startswith("pool_")]
    assert all(e.key == "sqlite" and e.resource_type == "ResourcePool" for e in pool_events)
    acquired = [e for e in pool_events if e.kind == "pool_acquired"]
    assert len(acquired) == 20
    assert all(e.duration is not None and e.duration >= 0 for e in acquired)
    assert sum(e.kind == "pool_released" for e in pool_events) == 20
    assert 1 <= sum(e.kind == "pool_created" for e in pool_events) <= 3

    metrics = c.resource_monitor.pool_metrics()
    assert metrics["sqlite"]["acquired"] == 20
    assert metrics["sqlite"]["in_use"] == 0

    unwatch()
    assert c.resource_monitor.pool_metrics() == {}
    async with pool.acquire():
        pass
    assert sum(e.kind == "pool_acquired" for e in events) == 20
    await pool.dispose()
    assert len(closed) == metrics["sqlite"]["created"]


def test_pool_events_are_debug_level_in_the_logging_subscriber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = ResourceMonitor()
    pool: ResourcePool[sqlite3.Connection] = ResourcePool(lambda: sqlite3.connect(DB), max_size=1)
    monitor.watch_pool(pool, "db")
    logger = logging.getLogger("test.monitor.pool")
    monitor.subscribe(logging_subscriber(logger))
    with caplog.at_level(logging.INFO, logger=logger.name):
        with pool.acquire():
            pass
    assert [r for r in caplog.records if r.name == logger.name] == []
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        with pool.acquire():
            pass
    messages = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert messages[0].startswith("pool_acquired ResourcePool [db]")
    pool.dispose_sync()


def test_every_event_of_an_instance_counts_under_its_bound_class(tmp_path: Path) -> None:
    # A resource class whose __new__ hands back an instance of a subclass: created,
    # failed, initialized and disposed all count under the class the container builds
    # (one row of metrics), not some under the subclass's name.
    fail_next = [True]

    @resource
    class Storage:
        def __new__(cls) -> Storage:  # noqa: PYI034  (returns the subclass on purpose)
            return super().__new__(SqliteStorage if cls is Storage else cls)

        def initialize(self) -> None:
            if fail_next[0]:
                fail_next[0] = False
                raise OSError("disk not mounted yet")
            self.conn = sqlite3.connect(tmp_path / "s.db")

        def dispose(self) -> None:
            self.conn.close()

    class SqliteStorage(Storage):
        pass

    c = InjectQ()
    c.bind(Storage, Storage, scope="request")
    with c.scope("request"), pytest.raises(ResourceInitializationError):
        c.get(Storage)
    with c.scope("request"):
        assert type(c.get(Storage)) is SqliteStorage
    metrics = c.resource_metrics()
    assert list(metrics) == ["Storage"]
    m = metrics["Storage"]
    assert (m["created"], m["init_errors"], m["initialized"], m["disposed"]) == (2, 1, 1, 1)


@pytest.mark.parametrize("enabled", [True, False], ids=["monitor on", "monitor off"])
def test_a_bound_instance_activated_per_scope_counts_each_activation(enabled: bool) -> None:
    # the page's per-request connection: one instance, connected and closed per scope;
    # created once, initialized and disposed once per scope, with its events in order
    c = InjectQ(monitor=ResourceMonitor(enabled=enabled))
    conn = Connection()
    c.bind_instance(Connection, conn)
    events: list[ResourceEvent] = []
    c.resource_monitor.subscribe(events.append)
    for n in range(3):
        with c.scope("request"):
            got = c.get(Connection)
            assert got is conn
            got.conn.execute("INSERT INTO hits VALUES (?)", (n,))
            if enabled:
                assert c.resource_metrics()["Connection"]["active"] == 1
        if enabled:
            assert c.resource_metrics()["Connection"]["active"] == 0
    if not enabled:
        assert c.resource_metrics() == {} and events == []
        return
    stats = c.resource_metrics()["Connection"]
    assert (stats["created"], stats["initialized"], stats["disposed"]) == (1, 3, 3)
    assert stats["init_duration"]["count"] == stats["lifetime"]["count"] == 3
    kinds = [(e.kind, e.scope) for e in events]
    assert (
        kinds
        == [("created", "request")]
        + [
            ("initialized", "request"),
            ("disposed", "request"),
        ]
        * 3
    )
