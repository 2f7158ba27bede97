"""A factory's result is checked on every call, whatever it returned before.

The container remembers result types that need nothing done (not None, not awaitable,
not a resource) so their later results skip the checks. These tests make one factory
return different kinds of results, in both orders, and check that each call still gets
what its own result needs: None refused or allowed, a resource activated and disposed,
an awaitable refused.
"""

import asyncio
import sqlite3
import types
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectionError, InjectQ, resource


class Plain:
    pass


def _connection_class(db: Path, events: list[str]) -> type:
    @resource
    class Connection:
        def __init__(self) -> None:
            self.conn: sqlite3.Connection | None = None

        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)
            self.conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            events.append("open")

        def dispose(self) -> None:
            assert self.conn is not None
            self.conn.close()
            events.append("close")

    return Connection


def _factory(results: list[Callable[[], Any]]) -> Callable[[], Any]:
    """A factory returning the next result each call."""
    it = iter(results)

    def make() -> Any:
        return next(it)()

    return make


@pytest.mark.parametrize("plain_first", [True, False])
def test_a_resource_after_a_plain_result_is_still_activated(
    tmp_path: Path, plain_first: bool
) -> None:
    events: list[str] = []
    Connection = _connection_class(tmp_path / "db.sqlite3", events)
    order = [Plain, Connection, Plain, Connection] if plain_first else [Connection, Plain] * 2
    c = InjectQ()
    c.bind_factory("thing", _factory(list(order)), scope="request")
    for cls in order:
        with c.scope("request"):
            got = c.get("thing")
            assert type(got) is cls
            if cls is Connection:
                assert got.conn is not None
                got.conn.execute("INSERT INTO t VALUES (1)")
                assert events[-1] == "open"
        if cls is Connection:
            assert events[-1] == "close"
    assert events == ["open", "close", "open", "close"]


def test_none_after_a_plain_result_is_still_refused() -> None:
    c = InjectQ()
    c.bind_factory("maybe", _factory([Plain, lambda: None, Plain]), scope="transient")
    assert type(c.get("maybe")) is Plain
    with pytest.raises(InjectionError, match="allow_none"):
        c.get("maybe")
    assert type(c.get("maybe")) is Plain


def test_none_after_a_plain_result_is_allowed_when_bound_so() -> None:
    c = InjectQ()
    c.bind_factory("maybe", _factory([Plain, lambda: None]), scope="transient", allow_none=True)
    assert type(c.get("maybe")) is Plain
    assert c.get("maybe") is None


async def _answer() -> int:
    return 42


@types.coroutine
def _awaitable_generator() -> Generator[Any, Any, int]:
    yield from ()
    return 42


def _plain_generator() -> Iterator[int]:
    yield 1


def test_an_awaitable_after_a_plain_result_is_still_refused_in_sync_code() -> None:
    c = InjectQ()
    c.bind_factory("x", _factory([Plain, _answer, Plain]), scope="transient")
    assert type(c.get("x")) is Plain
    with pytest.raises(InjectionError, match="awaitable"):
        c.get("x")
    assert type(c.get("x")) is Plain


def test_a_plain_generator_does_not_vouch_for_an_awaitable_one() -> None:
    # both are generators: whether one is awaitable is not told by its type
    c = InjectQ()
    c.bind_factory("x", _factory([_plain_generator, _awaitable_generator]), scope="transient")
    first = c.get("x")
    assert isinstance(first, types.GeneratorType) and list(first) == [1]
    with pytest.raises(InjectionError, match="awaitable"):
        c.get("x")


def test_an_awaitable_after_a_plain_result_is_still_refused_in_async_code() -> None:
    # a plain `def` factory that returns an awaitable is refused in async code too: the
    # message says to declare it `async def`
    async def main() -> None:
        c = InjectQ()
        c.bind_factory("x", _factory([Plain, _answer, Plain]), scope="transient")
        assert type(await c.aget("x")) is Plain
        with pytest.raises(InjectionError, match="async def"):
            await c.aget("x")
        assert type(await c.aget("x")) is Plain

    asyncio.run(main())


def test_a_resource_after_a_plain_result_is_activated_in_async_code(tmp_path: Path) -> None:
    events: list[str] = []
    Connection = _connection_class(tmp_path / "db.sqlite3", events)

    async def main() -> None:
        c = InjectQ()
        c.bind_factory("thing", _factory([Plain, Connection]), scope="request")
        async with c.scope("request"):
            assert type(await c.aget("thing")) is Plain
        async with c.scope("request"):
            conn = await c.aget("thing")
            assert type(conn) is Connection and events == ["open"]
        assert events == ["open", "close"]

    asyncio.run(main())


def test_a_factory_needing_an_async_resource_checks_every_result(tmp_path: Path) -> None:
    # its dependency is initialized asynchronously, so async code builds it with the
    # async maker, which awaits an awaitable result (the sync one refuses it)
    events: list[str] = []
    Connection = _connection_class(tmp_path / "db.sqlite3", events)

    @resource
    class Clock:
        async def initialize(self) -> None:
            await asyncio.sleep(0)
            events.append("clock")

    results = iter([Plain, Connection, _answer, Plain, Connection])

    def make(clock: Clock) -> Any:
        return next(results)()

    async def main() -> None:
        c = InjectQ()
        c.bind(Clock, Clock, scope="request")
        c.bind_factory("thing", make, scope="request")
        for expected in (Plain, Connection, int, Plain, Connection):
            async with c.scope("request"):
                got = await c.aget("thing")
                assert type(got) is expected
                if expected is int:
                    assert got == 42
                if expected is Connection:
                    assert events[-1] == "open"
            if expected is Connection:
                assert events[-1] == "close"

    asyncio.run(main())
    assert events.count("open") == events.count("close") == 2
    assert events.count("clock") == 5
