"""Generator / context-manager factories, managed_resource, the _is_injectq_resource marker."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceInitializationError,
    managed_resource,
    resource,
)


# ------------------------------------------------------------------ generator factories
def test_generator_factory_before_yield_init_after_yield_dispose(tmp_path: Path) -> None:
    events: list[str] = []
    db = tmp_path / "db.sqlite3"

    @resource()
    def connection() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(db)
        events.append("open")
        try:
            yield conn
        finally:
            conn.close()
            events.append("close")

    c = InjectQ()
    c.bind(sqlite3.Connection, connection)  # singleton by default
    with c.scope("request"):
        conn = c.get(sqlite3.Connection)
        conn.execute("CREATE TABLE t (x)")
    assert events == ["open"]  # a singleton: not the request scope's to dispose
    assert c.get(sqlite3.Connection) is conn
    c.close()
    assert events == ["open", "close"]
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_generator_factory_with_decorator_scope(tmp_path: Path) -> None:
    events: list[str] = []

    @resource(scope="request")
    def log_file() -> Iterator[object]:
        fh = (tmp_path / "out.log").open("a")
        events.append("open")
        yield fh
        fh.close()
        events.append("close")

    c = InjectQ()
    c.bind("log", log_file)  # the decorator's scope applies
    for _ in range(2):
        with c.scope("request"):
            fh = c.get("log")
            assert c.get("log") is fh
            fh.write("x\n")  # type: ignore[attr-defined]
        assert fh.closed  # type: ignore[attr-defined]
    assert events == ["open", "close"] * 2
    assert (tmp_path / "out.log").read_text() == "x\nx\n"


def test_bind_scope_wins_over_decorator_scope() -> None:
    events: list[str] = []

    @resource(scope="request")
    def thing() -> Iterator[object]:
        events.append("open")
        yield object()
        events.append("close")

    c = InjectQ()
    c.bind("thing", thing, scope="transient")
    with c.resource_scope():
        assert c.get("thing") is not c.get("thing")
    assert events == ["open", "open", "close", "close"]


def test_body_exception_is_thrown_into_the_generator() -> None:
    seen: list[BaseException | None] = []

    @resource(scope="request")
    def guarded() -> Iterator[str]:
        try:
            yield "value"
        except ValueError as exc:
            seen.append(exc)
            raise
        finally:
            seen.append(None)

    c = InjectQ()
    c.bind("guarded", guarded)
    boom = ValueError("boom")
    with pytest.raises(ValueError, match="boom") as info:
        with c.scope("request"):
            c.get("guarded")
            raise boom
    assert info.value is boom
    assert seen == [boom, None]
    assert not getattr(boom, "__notes__", None)  # re-raising it is not a disposal failure


async def test_async_generator_factory(tmp_path: Path) -> None:
    events: list[str] = []

    @resource(scope="request")
    async def session() -> AsyncIterator[sqlite3.Connection]:
        await asyncio.sleep(0)
        conn = sqlite3.connect(tmp_path / "db.sqlite3")
        events.append("open")
        try:
            yield conn
        except RuntimeError:
            events.append("saw body error")
            raise
        finally:
            await asyncio.sleep(0)
            conn.close()
            events.append("close")

    c = InjectQ()
    c.bind("session", session)
    async with c.scope("request"):
        conn = await c.aget("session")
        assert await c.aget("session") is conn
        conn.execute("SELECT 1")
    assert events == ["open", "close"]
    with pytest.raises(RuntimeError):
        async with c.scope("request"):
            await c.aget("session")
            raise RuntimeError("body")
    assert events == ["open", "close", "open", "saw body error", "close"]
    # a sync get of an async generator factory says to use aget
    with pytest.raises(ResourceInitializationError, match="aget"):
        with c.scope("request"):
            c.get("session")


def test_contextmanager_factory_and_failures(tmp_path: Path) -> None:
    events: list[str] = []

    @resource()
    @contextlib.contextmanager
    def opened() -> Iterator[object]:
        fh = (tmp_path / "a.txt").open("w")
        events.append("enter")
        yield fh
        fh.close()
        events.append("exit")
        raise OSError("flush failed")

    @resource()
    @contextlib.contextmanager
    def broken() -> Iterator[object]:
        raise ConnectionError("refused")
        yield  # pragma: no cover

    c = InjectQ()
    c.bind("opened", opened, scope="transient")
    c.bind("broken", broken, scope="transient")
    with pytest.raises(ResourceDisposalError) as info:
        with c.resource_scope():
            c.get("opened")
            with pytest.raises(ResourceInitializationError) as init_info:
                c.get("broken")
            assert isinstance(init_info.value.__cause__, ConnectionError)
    assert events == ["enter", "exit"]
    (error,) = info.value.exceptions
    assert isinstance(error, OSError)
    assert any("opened" in note for note in error.__notes__)


@pytest.mark.parametrize("decorated", [True, False])
async def test_async_contextmanager_factory(decorated: bool) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[str]:
        events.append("enter")
        yield "client"
        events.append("exit")

    factory = resource()(client) if decorated else client
    c = InjectQ()
    if decorated:
        c.bind("client", factory, scope="transient")
        async with c.resource_scope():
            assert await c.aget("client") == "client"
        assert events == ["enter", "exit"]
    else:
        # not marked: an ordinary factory, whose return value is the context manager
        c.bind("client", factory, scope="transient")
        cm = await c.aget("client")
        assert hasattr(cm, "__aenter__")
        assert events == []


# ------------------------------------------------------------------ managed_resource
async def test_managed_resource_with_method_names_sync_and_async(tmp_path: Path) -> None:
    events: list[str] = []

    @managed_resource(initialize_func="connect", dispose_func="disconnect")
    class Sync:
        def connect(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "db.sqlite3")
            events.append("sync connect")

        def disconnect(self) -> None:
            self.conn.close()
            events.append("sync disconnect")

    @managed_resource(initialize_func="start", dispose_func="stop")
    class Async:
        async def start(self) -> None:
            await asyncio.sleep(0)
            events.append("async start")

        async def stop(self) -> None:
            await asyncio.sleep(0)
            events.append("async stop")

    c = InjectQ()
    c.bind(Sync, Sync, scope="transient")
    c.bind(Async, Async, scope="transient")
    async with c.resource_scope():
        s = await c.aget(Sync)
        a = await c.aget(Async)
        s.connect()  # the user's own call joins: no second connect
        await a.start()
        s.conn.execute("SELECT 1")
    assert events == ["sync connect", "async start", "async stop", "sync disconnect"]


async def test_managed_resource_with_callables_sync_and_async() -> None:
    events: list[str] = []

    def open_it(obj: object) -> None:
        events.append(f"open {type(obj).__name__}")

    async def close_it(obj: object) -> None:
        await asyncio.sleep(0)
        events.append(f"close {type(obj).__name__}")

    @managed_resource(initialize_func=open_it, dispose_func=close_it)
    class Pipe:
        pass

    @managed_resource(initialize_func=lambda o: events.append("lambda init"))
    class Simple:
        pass

    c = InjectQ()
    c.bind(Pipe, Pipe, scope="transient")
    c.bind(Simple, Simple, scope="transient")
    async with c.resource_scope():
        pipe = await c.aget(Pipe)
        await c.aget(Simple)
        pipe.initialize()  # the installed method joins the container's call
    assert events == ["open Pipe", "lambda init", "close Pipe"]


def test_managed_resource_sync_scope_rejects_async_dispose() -> None:
    @managed_resource(dispose_func="stop")
    class Async:
        async def stop(self) -> None:  # pragma: no cover
            pass

    c = InjectQ()
    c.bind(Async, Async, scope="transient")
    from injectq import ScopeError

    with c.resource_scope():
        with pytest.raises(ScopeError):
            c.get(Async)


# ------------------------------------------------------------------ marker
def _marked_classes(db: Path, events: list[str]) -> tuple[type, type]:
    def my_resource(cls: type) -> type:  # a user's own decorator, as the page writes
        cls._is_injectq_resource = True  # type: ignore[attr-defined]
        return cls

    @my_resource
    class Marked:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)
            events.append("init Marked")

        def dispose(self) -> None:
            self.conn.close()
            events.append("dispose Marked")

    class Plain:
        _is_injectq_resource = True

        async def initialize(self) -> None:
            events.append("init Plain")

        async def dispose(self) -> None:
            events.append("dispose Plain")

    return Marked, Plain


async def test_marker_without_decorator_works_the_same(tmp_path: Path) -> None:
    events: list[str] = []
    Marked, Plain = _marked_classes(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(Marked, Marked, scope="request")
    c.bind(Plain, Plain)
    async with c.scope("request"):
        m = await c.aget(Marked)
        p = await c.aget(Plain)
        m.initialize()  # joins once the container has seen the class
        await p.initialize()
    assert events == ["init Marked", "init Plain", "dispose Marked"]
    await c.aclose()
    assert events[-1] == "dispose Plain"


def test_marked_bound_instance_user_dispose_joins(tmp_path: Path) -> None:
    events: list[str] = []
    Marked, _ = _marked_classes(tmp_path / "db.sqlite3", events)
    m = Marked()
    c = InjectQ()
    c.bind_instance(Marked, m)
    with c.resource_scope():
        c.get(Marked)
        m.dispose()  # the user disposes early: the scope's exit does not dispose again
    assert events == ["init Marked", "dispose Marked"]
    with c.resource_scope():
        c.get(Marked)  # re-activated by a later scope
    assert events == ["init Marked", "dispose Marked"] * 2


async def test_managed_resource_dispose_returning_a_future_is_awaited(tmp_path: Path) -> None:
    # e.g. closing a blocking client in a worker thread: run_in_executor returns a Future,
    # an awaitable that is not a coroutine
    closed: list[str] = []

    @managed_resource(
        initialize_func=lambda self: self.open(),
        dispose_func=lambda self: asyncio.get_running_loop().run_in_executor(None, self.close),
    )
    class Db:
        def open(self) -> None:
            self.conn = sqlite3.connect(tmp_path / "f.db", check_same_thread=False)

        def close(self) -> None:
            self.conn.close()
            closed.append("closed")

    c = InjectQ()
    c.bind(Db, Db, scope="request")
    async with c.scope("request"):
        db = await c.aget(Db)
        assert db.conn.execute("SELECT 1").fetchone() == (1,)
    assert closed == ["closed"]
    assert c.resource_metrics()["Db"]["disposed"] == 1
