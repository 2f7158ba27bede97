"""Names InjectQ's documentation uses that injectq also provides: bare ``@scoped``,
``injectq.logger``, ``InjectQ(use_async_scopes=...)``, the ``Provider`` protocols,
``get_resource_manager``, ``async_managed_resource`` and ``container.install(module)``
(see docs/migrating.md and scripts/injectq_docs_examples.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

import injectq
from injectq import (
    AsyncProvider,
    BindingError,
    InjectQ,
    Module,
    Provider,
    ResourceDisposalError,
    ScopeError,
    async_managed_resource,
    get_resource_manager,
    resource,
    scoped,
)
from injectq.utils.logging import logger as utils_logger


# ------------------------------------------------------------------ bare @scoped
def test_bare_scoped_registers_the_class_in_the_request_scope() -> None:
    c = InjectQ()
    with c.context():

        @scoped
        class RequestState:
            pass

    assert isinstance(RequestState, type)
    with c.scope("request"):
        first = c.get(RequestState)
        assert c.get(RequestState) is first
    with c.scope("request"):
        assert c.get(RequestState) is not first
    with pytest.raises(ScopeError):
        c.get(RequestState)


def test_scoped_with_empty_parentheses_means_request() -> None:
    c = InjectQ()

    @scoped(container=c)
    class RequestState:
        pass

    with pytest.raises(ScopeError):
        c.get(RequestState)
    with c.scope("request"):
        assert c.get(RequestState) is c.get(RequestState)


def test_bare_scoped_on_a_function_is_refused() -> None:
    c = InjectQ()
    with c.context(), pytest.raises(BindingError, match="@scoped can only be applied to classes"):
        scoped(lambda: None)  # type: ignore[call-overload]


# ------------------------------------------------------------------ logger
def test_logger_is_the_injectq_library_logger_with_a_null_handler() -> None:
    assert injectq.logger is utils_logger is logging.getLogger("injectq")
    assert any(isinstance(h, logging.NullHandler) for h in injectq.logger.handlers)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_handler_on_injectq_logger_sees_the_library_records() -> None:
    @resource
    class Cache:
        def initialize(self) -> None:
            self.ready = True

    def broken_subscriber(event: object) -> None:
        raise RuntimeError("subscriber bug")

    c = InjectQ()
    c.bind(Cache, Cache)
    c.resource_monitor.subscribe(broken_subscriber)
    handler = _Collect()
    injectq.logger.addHandler(handler)
    try:
        assert c.get(Cache).ready
    finally:
        injectq.logger.removeHandler(handler)
        c.close()
    failures = [r for r in handler.records if "broken_subscriber" in r.getMessage()]
    assert failures and failures[0].name.startswith("injectq.")


# ------------------------------------------------------------------ use_async_scopes
@pytest.mark.parametrize("use_async_scopes", [True, False])
def test_use_async_scopes_is_accepted_and_scopes_stay_per_thread(use_async_scopes: bool) -> None:
    class Session:
        pass

    c = InjectQ(use_async_scopes=use_async_scopes)
    c.bind(Session, Session, scope="request")
    assert c.use_async_scopes is use_async_scopes
    seen: list[Session] = []
    both_inside = threading.Barrier(2, timeout=10)

    def request() -> None:
        with c.scope("request"):
            session = c.get(Session)
            both_inside.wait()  # two scopes open at the same time, one per thread
            assert c.get(Session) is session
            seen.append(session)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 2 and seen[0] is not seen[1]


@pytest.mark.parametrize("use_async_scopes", [True, False])
async def test_use_async_scopes_is_accepted_and_scopes_stay_per_task(
    use_async_scopes: bool,
) -> None:
    class Session:
        pass

    c = InjectQ(use_async_scopes=use_async_scopes)
    c.bind(Session, Session, scope="request")
    both_inside = asyncio.Event()
    entered = 0

    async def request() -> Session:
        nonlocal entered
        async with c.scope("request"):
            session = await c.aget(Session)
            entered += 1
            if entered == 2:
                both_inside.set()
            await both_inside.wait()
            assert await c.aget(Session) is session
            return session

    first, second = await asyncio.gather(request(), request())
    assert first is not second


# ------------------------------------------------------------------ Provider protocols
class Settings:
    def __init__(self, url: str) -> None:
        self.url = url


def test_provider_protocol_objects_feed_factories() -> None:
    class SettingsProvider:
        def provide(self, container: InjectQ) -> Settings:
            return Settings(container["db_url"])

    provider = SettingsProvider()
    assert isinstance(provider, Provider)
    assert not isinstance(object(), Provider)
    c = InjectQ()
    c["db_url"] = "sqlite://"
    c.bind_factory(Settings, lambda: provider.provide(c))
    assert c.get(Settings).url == "sqlite://"


async def test_async_provider_protocol_objects_feed_async_factories() -> None:
    class SettingsProvider:
        async def provide(self, container: InjectQ) -> Settings:
            await asyncio.sleep(0)
            return Settings(container["db_url"])

    provider = SettingsProvider()
    assert isinstance(provider, AsyncProvider)

    async def make_settings() -> Settings:
        return await provider.provide(c)

    c = InjectQ()
    c["db_url"] = "sqlite://"
    c.bind_factory(Settings, make_settings)
    assert (await c.aget(Settings)).url == "sqlite://"


# ------------------------------------------------------------------ get_resource_manager
@resource
class Database:
    path: Path

    def __init__(self, db_path: str) -> None:
        self.path = Path(db_path)

    def initialize(self) -> None:
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("create table if not exists t (x)")

    def dispose(self) -> None:
        self.conn.close()


def _assert_closed(conn: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("select 1")


def test_get_resource_manager_views_the_active_containers_resources(tmp_path: Path) -> None:
    c = InjectQ()
    c["db_path"] = str(tmp_path / "app.db")
    c.bind(Database, Database)
    db = c.get(Database)
    with c.context():
        manager = get_resource_manager()
    assert manager.container is c
    assert list(manager.get_all_resources().values()) == [db]
    manager.shutdown_all()
    _assert_closed(db.conn)
    assert manager.get_all_resources() == {}
    assert c.get(Database) is not db  # a closed container starts afresh
    c.close()


async def test_resource_manager_shutdown_all_async_awaits_async_disposal(tmp_path: Path) -> None:
    @resource
    class AsyncDatabase:
        def __init__(self, db_path: str) -> None:
            self.db_path = db_path

        async def initialize(self) -> None:
            self.conn = await aiosqlite.connect(self.db_path)

        async def dispose(self) -> None:
            await self.conn.close()

    c = InjectQ()
    c["db_path"] = str(tmp_path / "app.db")
    c.bind(AsyncDatabase, AsyncDatabase)
    db = await c.aget(AsyncDatabase)
    await (await db.conn.execute("select 1")).close()
    manager = get_resource_manager(c)
    await manager.shutdown_all_async()
    with pytest.raises(ValueError, match="no active connection"):
        await db.conn.execute("select 1")


def test_resource_manager_shutdown_all_raises_disposal_errors() -> None:
    @resource
    class Flaky:
        def dispose(self) -> None:
            raise OSError("disk gone")

    c = InjectQ()
    c.bind(Flaky, Flaky)
    c.get(Flaky)
    with pytest.raises(ResourceDisposalError) as caught:
        get_resource_manager(c).shutdown_all()
    assert [str(e) for e in caught.value.exceptions] == ["disk gone"]


# ------------------------------------------------------------------ async_managed_resource
async def test_async_managed_resource_with_async_factory_and_cleanup(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    async with async_managed_resource(
        lambda: aiosqlite.connect(path), lambda conn: conn.close()
    ) as conn:
        await conn.execute("create table t (x)")
        await conn.commit()
    with pytest.raises(ValueError, match="no active connection"):
        await conn.execute("select 1")


async def test_async_managed_resource_cleans_up_on_error_and_cancellation(
    tmp_path: Path,
) -> None:
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "app.db")
        opened.append(conn)
        return conn

    with pytest.raises(RuntimeError, match="handler failed"):
        async with async_managed_resource(connect, sqlite3.Connection.close):
            raise RuntimeError("handler failed")
    _assert_closed(opened[-1])

    started = asyncio.Event()

    async def handler() -> None:
        async with async_managed_resource(connect, sqlite3.Connection.close):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _assert_closed(opened[-1])
    assert len(opened) == 2


async def test_async_managed_resource_without_cleanup_yields_the_factorys_result() -> None:
    async def make() -> dict[str, int]:
        return {"answer": 42}

    async with async_managed_resource(make) as value:
        assert value == {"answer": 42}


# ------------------------------------------------------------------ container.install
class Greeting:
    def __init__(self, text: str) -> None:
        self.text = text


class GreetingModule(Module):
    def configure(self, binder: InjectQ) -> None:
        binder["text"] = "hello"
        binder.bind(Greeting, Greeting)


class BrokenModule(Module):
    def configure(self, binder: InjectQ) -> None:
        binder["text"] = "overwritten"
        raise RuntimeError("configuration failed")


def test_install_applies_a_module_like_install_module() -> None:
    c = InjectQ()
    c.install(GreetingModule())
    assert c.get(Greeting).text == "hello"


def test_install_of_a_failing_module_changes_nothing() -> None:
    c = InjectQ()
    c.install(GreetingModule())
    with pytest.raises(RuntimeError, match="configuration failed"):
        c.install(BrokenModule())
    assert c["text"] == "hello"


def test_clear_scope_forgets_the_scopes_cached_instances_and_keeps_their_disposal(
    tmp_path: Path,
) -> None:
    # InjectQ's clear_scope / clear_all_scopes: the next resolution builds anew; nothing
    # live is dropped (a scope's resources are still disposed at its exit, singletons
    # are disposed before they are forgotten)
    import sqlite3

    from injectq import ScopeError, resource

    closed: list[str] = []

    @resource
    class Session:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")

        def dispose(self) -> None:
            self.conn.close()
            closed.append("session")

    @resource
    class Pool:
        def dispose(self) -> None:
            closed.append("pool")

    c = InjectQ()
    c.bind(Session, Session, scope="request")
    c.bind(Pool, Pool)
    first_pool = c.get(Pool)
    with pytest.raises(ScopeError, match="request"):
        c.clear_scope("request")
    with c.scope("request"):
        first = c.get(Session)
        c.clear_scope("request")
        second = c.get(Session)
        assert second is not first and c.get(Session) is second
        assert closed == []  # both still the scope's, disposed at its exit
        c.clear_scope("transient")  # nothing cached: nothing to do
        c.clear_all_scopes()
        assert closed == ["pool"]  # the singleton was disposed before it was forgotten
        assert c.get(Session) is not second
        assert c.get(Pool) is not first_pool
    assert sorted(closed) == ["pool", "session", "session", "session"]
    c.clear_scope("singleton")
    assert closed.count("pool") == 2
