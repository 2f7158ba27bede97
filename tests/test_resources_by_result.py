"""Issue 11 item 5, DESIGN §3a: a sync-looking ``initialize`` (a named function or method,
not only a lambda) is sync or async by what it returns, on every path."""

import asyncio
import sqlite3
from collections.abc import Awaitable
from pathlib import Path

import pytest

from injectq import InjectQ, ResourceInitializationError, managed_resource, resource


def _classes(db: Path) -> dict[str, type]:
    async def open_connection(self: object) -> None:
        await asyncio.sleep(0)
        self.conn = sqlite3.connect(db)  # type: ignore[attr-defined]

    def connect_later(self: object) -> Awaitable[None]:  # a named function, not async def
        return open_connection(self)

    def close(self: object) -> None:
        self.conn.close()  # type: ignore[attr-defined]

    @resource
    class MethodReturnsCoroutine:
        conn: sqlite3.Connection | None = None

        def initialize(self) -> Awaitable[None]:
            return open_connection(self)

        def dispose(self) -> None:
            assert self.conn is not None
            self.conn.close()

    @managed_resource(initialize_func=connect_later, dispose_func=close)
    class ManagedByFunction:
        conn: sqlite3.Connection | None = None

    return {"method": MethodReturnsCoroutine, "managed": ManagedByFunction}


@pytest.mark.parametrize("kind", ["method", "managed"])
@pytest.mark.parametrize("lifetime", ["request", "transient", "singleton"])
async def test_an_awaitable_returned_by_a_sync_initialize_is_awaited(
    tmp_path: Path, kind: str, lifetime: str
) -> None:
    cls = _classes(tmp_path / "db.sqlite3")[kind]
    c = InjectQ()
    c.bind(cls, cls, scope=lifetime)
    for _ in range(3):
        async with c.scope("request"):
            inst = await c.aget(cls)
            assert inst.conn is not None  # initialized before it was handed out
            assert inst.conn.execute("SELECT 1").fetchone() == (1,)
    await c.aclose()
    metrics = c.resource_metrics()[cls.__name__]
    assert metrics["initialized"] == metrics["disposed"] >= 1
    assert metrics["active"] == 0


@pytest.mark.parametrize("kind", ["method", "managed"])
def test_a_sync_get_of_an_initialize_that_returns_an_awaitable_fails_clearly(
    tmp_path: Path, kind: str
) -> None:
    cls = _classes(tmp_path / "db.sqlite3")[kind]
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    with c.scope("request"):
        with pytest.raises(ResourceInitializationError, match="aget"):
            c.get(cls)
    metrics = c.resource_metrics()[cls.__name__]
    assert metrics["init_errors"] == 1 and metrics["active"] == 0


async def test_the_user_calling_it_joins_the_same_initialization(tmp_path: Path) -> None:
    cls = _classes(tmp_path / "db.sqlite3")["method"]
    inst = cls()
    await asyncio.gather(*(inst.initialize() for _ in range(5)))
    assert inst.conn is not None


async def test_a_sync_get_in_a_running_loop_finishes_it_as_get_does_async_ones(
    tmp_path: Path,
) -> None:
    # DESIGN §3.2: get() in a running loop hands the instance out with its initialization
    # under way; aget joins it, and the scope's exit waits for it before disposing
    cls = _classes(tmp_path / "db.sqlite3")["method"]
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    async with c.scope("request"):
        inst = c.get(cls)
        assert await c.aget(cls) is inst
        assert inst.conn is not None
    async with c.scope("request"):
        c.get(cls)  # never awaited by the body: the exit joins it, then disposes it
    metrics = c.resource_metrics()["MethodReturnsCoroutine"]
    assert metrics["initialized"] == metrics["disposed"] == 2
