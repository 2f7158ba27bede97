"""Issue 11 item 6: bad input gets a clear error at the time it is given, and leaves
nothing half-changed."""

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, ScopeError, managed_resource, resource

BAD_TIMEOUTS = [math.nan, math.inf, -math.inf, -1, -0.001, True]


@pytest.mark.parametrize("value", BAD_TIMEOUTS, ids=repr)
@pytest.mark.parametrize("which", ["init_timeout", "dispose_timeout"])
def test_resource_timeouts_are_checked_when_decorating(which: str, value: Any) -> None:
    class Connection:
        def dispose(self) -> None: ...

    with pytest.raises(ValueError, match=which):
        resource(**{which: value})(Connection)
    with pytest.raises(ValueError, match=which):
        managed_resource(**{which: value})(Connection)
    assert not getattr(Connection, "_is_injectq_resource", False)  # left unmarked

    def factory() -> Iterator[int]:
        yield 1

    with pytest.raises(ValueError, match=which):
        resource(**{which: value})(factory)


@pytest.mark.parametrize("value", BAD_TIMEOUTS, ids=repr)
@pytest.mark.parametrize("which", ["default_init_timeout", "default_dispose_timeout"])
def test_container_default_timeouts_are_checked_when_constructing(which: str, value: Any) -> None:
    with pytest.raises(ValueError, match=which):
        InjectQ(**{which: value})


def test_good_timeouts_are_kept() -> None:
    @resource(init_timeout=0, dispose_timeout=2.5)
    class Connection:
        def initialize(self) -> None: ...

    c = InjectQ(default_init_timeout=1, default_dispose_timeout=None)
    c.bind(Connection, Connection, scope="transient")
    with c.scope("request"):
        c.get(Connection)


def test_a_misspelt_method_name_is_an_error_when_decorating() -> None:
    class Client:
        def connect(self) -> None: ...

        def close(self) -> None: ...

    with pytest.raises(AttributeError, match=r"'conect'.*Did you mean 'connect'"):
        managed_resource(initialize_func="conect", dispose_func="close")(Client)
    with pytest.raises(AttributeError, match=r"'clsoe'.*Did you mean 'close'"):
        managed_resource(initialize_func="connect", dispose_func="clsoe")(Client)
    assert not getattr(Client, "_is_injectq_resource", False)
    assert Client.connect.__name__ == "connect" and not hasattr(Client.connect, "_injectq_original")


def test_a_func_that_is_neither_name_nor_callable_is_an_error_when_decorating() -> None:
    class Client: ...

    with pytest.raises(TypeError, match="initialize_func"):
        managed_resource(initialize_func=42)(Client)  # type: ignore[arg-type]
    assert not getattr(Client, "_is_injectq_resource", False)


def test_resource_on_a_plain_function_is_an_error_when_decorating() -> None:
    def make_settings() -> dict[str, str]:
        return {"url": "sqlite://"}

    with pytest.raises(TypeError, match=r"make_settings.*generator"):
        resource()(make_settings)
    assert not hasattr(make_settings, "_injectq_resource_options")


def test_resource_accepts_every_kind_of_context_factory(tmp_path: Path) -> None:
    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> Any:
        yield 1

    @contextlib.contextmanager
    def cm() -> Iterator[int]:
        yield 1

    def returns_cm() -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3"))

    for fn in (gen, agen, cm, returns_cm):
        assert resource()(fn) is fn


def _connection_class(db: Path, events: list[str]) -> type:
    @resource
    class Connection:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(db)

        def dispose(self) -> None:
            self.conn.close()
            events.append("disposed")

    return Connection


def test_exiting_scopes_out_of_order_is_refused_and_the_context_stays_usable(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    conn_cls = _connection_class(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(conn_cls, conn_cls, scope="transient")
    outer = c.scope("request")
    inner = c.scope("request")
    outer.__enter__()
    c.get(conn_cls)
    inner.__enter__()
    c.get(conn_cls)
    with pytest.raises(ScopeError, match="inner scope"):
        outer.__exit__(None, None, None)  # the outer one first: wrong
    assert events == []  # nothing was disposed, nothing changed
    assert c.current_scope() is inner
    c.get(conn_cls)  # still usable
    inner.__exit__(None, None, None)
    assert events == ["disposed", "disposed"]
    assert c.current_scope() is outer
    c.get(conn_cls)
    outer.__exit__(None, None, None)
    assert events == ["disposed"] * 4
    assert c.current_scope() is None
    with c.scope("request"):
        c.get(conn_cls)  # the context is usable afterwards


async def test_exiting_async_scopes_out_of_order_is_refused(tmp_path: Path) -> None:
    events: list[str] = []
    conn_cls = _connection_class(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(conn_cls, conn_cls, scope="transient")
    outer = c.scope("request")
    inner = c.scope("request")
    await outer.__aenter__()
    await inner.__aenter__()
    await c.aget(conn_cls)
    with pytest.raises(ScopeError, match="inner scope"):
        await outer.__aexit__(None, None, None)
    await inner.__aexit__(None, None, None)
    await outer.__aexit__(None, None, None)
    assert events == ["disposed"]
    assert c.current_scope() is None
    await asyncio.sleep(0)
