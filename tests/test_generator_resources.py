"""``@resource()`` generator factories follow contextlib's rules exactly.

A sync generator is entered and, when the scope's body succeeded, finished by hand
(``next``), not through a ``contextlib`` manager made per call; everything else (the
body's exception thrown in, timeouts) still goes through contextlib. These tests run the
same generators both ways, through a scope and through ``contextlib.contextmanager``
directly, and compare what happens: values, the generator's own events, the errors.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceEvent,
    ResourceInitializationError,
    resource,
)


class Boom(Exception):
    pass


def _behaviours(db: Path, events: list[str]) -> dict[str, Callable[[], Iterator[Any]]]:
    """Generator functions, each ending its own way."""

    def normal() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(db)
        events.append("open")
        try:
            yield conn
        finally:
            conn.close()
            events.append("close")

    def no_yield() -> Iterator[Any]:
        events.append("start")
        return
        yield  # pragma: no cover

    def fails_on_entry() -> Iterator[Any]:
        events.append("start")
        raise Boom("entry")
        yield  # pragma: no cover

    def yields_twice() -> Iterator[Any]:
        try:
            yield 1
            events.append("after first")
            yield 2
        finally:
            events.append("closed")

    def fails_on_exit() -> Iterator[Any]:
        yield 1
        events.append("exiting")
        raise Boom("exit")

    def returns_a_value() -> Iterator[Any]:
        yield 1
        events.append("returning")
        return "ignored"

    def swallows_errors() -> Iterator[Any]:
        try:
            yield 1
        except Exception as exc:
            events.append(f"swallowed {exc}")

    def reraises_other() -> Iterator[Any]:
        try:
            yield 1
        except Exception as exc:
            events.append(f"saw {exc}")
            raise Boom("other") from exc

    return {
        "normal": normal,
        "no_yield": no_yield,
        "fails_on_entry": fails_on_entry,
        "yields_twice": yields_twice,
        "fails_on_exit": fails_on_exit,
        "returns_a_value": returns_a_value,
        "swallows_errors": swallows_errors,
        "reraises_other": reraises_other,
    }


BEHAVIOURS = list(_behaviours(Path("unused"), []).keys())


def _outcome(exc: BaseException | None) -> tuple[str, str] | None:
    """The error that ends a run, reduced to what both ways must agree on: the original
    error (injectq wraps an entry failure, groups disposal failures)."""
    if exc is None:
        return None
    if isinstance(exc, ResourceInitializationError):
        exc = exc.__cause__ or exc
    if isinstance(exc, ResourceDisposalError):
        assert len(exc.exceptions) == 1
        exc = exc.exceptions[0]
    return type(exc).__name__, str(exc)


def _with_contextlib(fn: Callable[[], Iterator[Any]], body_fails: bool) -> tuple[Any, ...]:
    got: Any = None
    try:
        with contextlib.contextmanager(fn)() as value:
            got = value if not isinstance(value, sqlite3.Connection) else "conn"
            if body_fails:
                raise ValueError("body")
    except BaseException as exc:
        return got, _outcome(exc)
    return got, None


def _with_scope(
    fn: Callable[[], Iterator[Any]], body_fails: bool, is_async: bool
) -> tuple[Any, ...]:
    c = InjectQ()
    c.bind("res", resource()(fn), scope="request")
    got: Any = None

    def keep(value: Any) -> None:
        nonlocal got
        got = value if not isinstance(value, sqlite3.Connection) else "conn"

    try:
        if is_async:

            async def main() -> None:
                async with c.scope("request"):
                    keep(await c.aget("res"))
                    if body_fails:
                        raise ValueError("body")

            asyncio.run(main())
        else:
            with c.scope("request"):
                keep(c.get("res"))
                if body_fails:
                    raise ValueError("body")
    except BaseException as exc:
        return got, _outcome(exc)
    return got, None


@pytest.mark.parametrize("is_async", [False, True], ids=["sync scope", "async scope"])
@pytest.mark.parametrize("body_fails", [False, True], ids=["body ok", "body raises"])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_a_generator_resource_ends_as_contextlib_ends_it(
    tmp_path: Path, behaviour: str, body_fails: bool, is_async: bool
) -> None:
    expected_events: list[str] = []
    events: list[str] = []
    expected = _with_contextlib(
        _behaviours(tmp_path / "a.sqlite3", expected_events)[behaviour], body_fails
    )
    got = _with_scope(_behaviours(tmp_path / "b.sqlite3", events)[behaviour], body_fails, is_async)
    assert events == expected_events
    entered = expected[0] is not None
    if body_fails and entered and expected[1] != ("ValueError", "body"):
        # a scope never lets a resource swallow or replace the body's exception (DESIGN
        # §3.5): it propagates unchanged, a disposal failure attached to it as a note
        assert got == (expected[0], ("ValueError", "body"))
        return
    assert got == expected


def test_a_generator_that_yields_twice_is_closed_and_the_error_reported(tmp_path: Path) -> None:
    events: list[str] = []
    c = InjectQ()
    c.bind("res", resource()(_behaviours(tmp_path / "db", events)["yields_twice"]), scope="request")
    with pytest.raises(ResourceDisposalError) as info:
        with c.scope("request"):
            assert c.get("res") == 1
    assert events == ["after first", "closed"]
    (error,) = info.value.exceptions
    assert isinstance(error, RuntimeError) and str(error) == "generator didn't stop"


def test_generator_resources_are_counted_and_published(tmp_path: Path) -> None:
    events: list[str] = []
    fns = _behaviours(tmp_path / "db.sqlite3", events)
    c = InjectQ()
    c.bind(sqlite3.Connection, resource()(fns["normal"]), scope="request")
    c.bind("fails", resource()(fns["fails_on_exit"]), scope="request")
    published: list[ResourceEvent] = []
    c.resource_monitor.subscribe(published.append)
    for _ in range(3):
        with c.scope("request"):
            c.get(sqlite3.Connection).execute("SELECT 1")
    with pytest.raises(ResourceDisposalError):
        with c.scope("request"):
            c.get("fails")
    metrics = c.resource_metrics()  # keyed by the binding's name
    conn_stats, fail_stats = metrics["Connection"], metrics["'fails'"]
    assert conn_stats["created"] == conn_stats["initialized"] == conn_stats["disposed"] == 3
    assert conn_stats["active"] == 0 and conn_stats["dispose_errors"] == 0
    assert conn_stats["init_duration"]["count"] == conn_stats["lifetime"]["count"] == 3
    assert fail_stats["disposed"] == 1 and fail_stats["dispose_errors"] == 1
    kinds = [e.kind for e in published]
    assert kinds == ["created", "initialized", "disposed"] * 3 + [
        "created",
        "initialized",
        "dispose_failed",
    ]
    assert all(e.duration is not None for e in published if e.kind != "created")
    assert events == ["open", "close"] * 3 + ["exiting"]


def test_a_generator_with_timeouts_still_works(tmp_path: Path) -> None:
    # with a timeout, entering and leaving run in a helper thread, through contextlib
    events: list[str] = []

    def log_file() -> Iterator[Any]:
        with (tmp_path / "log.txt").open("w") as f:
            events.append("open")
            yield f
        events.append("close")

    c = InjectQ()
    c.bind("log", resource(init_timeout=5, dispose_timeout=5)(log_file), scope="request")
    with c.scope("request"):
        c.get("log").write("hello")
        assert events == ["open"]
    assert events == ["open", "close"]
    assert (tmp_path / "log.txt").read_text() == "hello"


# ------------------------------------------------------------------ async generators
def _async_behaviours(db: Path, events: list[str]) -> dict[str, Callable[[], AsyncIterator[Any]]]:
    """Async generator functions, each ending its own way; ``*_suspending`` ones await
    (and so suspend) in their cleanup, which then runs on in a shielded task."""

    async def normal() -> AsyncIterator[sqlite3.Connection]:
        conn = sqlite3.connect(db)
        events.append("open")
        try:
            yield conn
        finally:
            conn.close()
            events.append("close")

    async def normal_suspending() -> AsyncIterator[sqlite3.Connection]:
        conn = sqlite3.connect(db)
        events.append("open")
        try:
            yield conn
        finally:
            await asyncio.sleep(0)
            conn.close()
            events.append("close")

    async def no_yield() -> AsyncIterator[Any]:
        events.append("start")
        return
        yield  # pragma: no cover

    async def fails_on_entry() -> AsyncIterator[Any]:
        events.append("start")
        raise Boom("entry")
        yield  # pragma: no cover

    async def yields_twice() -> AsyncIterator[Any]:
        try:
            yield 1
            events.append("after first")
            yield 2
        finally:
            events.append("closed")

    async def yields_twice_suspending() -> AsyncIterator[Any]:
        try:
            yield 1
            await asyncio.sleep(0)
            events.append("after first")
            yield 2
        finally:
            events.append("closed")

    async def fails_on_exit() -> AsyncIterator[Any]:
        yield 1
        events.append("exiting")
        raise Boom("exit")

    async def fails_on_exit_suspending() -> AsyncIterator[Any]:
        yield 1
        await asyncio.sleep(0)
        events.append("exiting")
        raise Boom("exit")

    async def swallows_errors() -> AsyncIterator[Any]:
        try:
            yield 1
        except Exception as exc:
            events.append(f"swallowed {exc}")

    async def reraises_other() -> AsyncIterator[Any]:
        try:
            yield 1
        except Exception as exc:
            events.append(f"saw {exc}")
            raise Boom("other") from exc

    return {
        fn.__name__: fn
        for fn in (
            normal,
            normal_suspending,
            no_yield,
            fails_on_entry,
            yields_twice,
            yields_twice_suspending,
            fails_on_exit,
            fails_on_exit_suspending,
            swallows_errors,
            reraises_other,
        )
    }


ASYNC_BEHAVIOURS = list(_async_behaviours(Path("unused"), []).keys())


async def _with_asynccontextlib(
    fn: Callable[[], AsyncIterator[Any]], body_fails: bool
) -> tuple[Any, ...]:
    got: Any = None
    try:
        async with contextlib.asynccontextmanager(fn)() as value:
            got = value if not isinstance(value, sqlite3.Connection) else "conn"
            if body_fails:
                raise ValueError("body")
    except BaseException as exc:
        return got, _outcome(exc)
    return got, None


async def _with_async_scope(
    fn: Callable[[], AsyncIterator[Any]], body_fails: bool
) -> tuple[Any, ...]:
    c = InjectQ()
    c.bind("res", resource()(fn), scope="request")
    got: Any = None
    try:
        async with c.scope("request"):
            value = await c.aget("res")
            got = value if not isinstance(value, sqlite3.Connection) else "conn"
            if body_fails:
                raise ValueError("body")
    except BaseException as exc:
        return got, _outcome(exc)
    return got, None


@pytest.mark.parametrize("body_fails", [False, True], ids=["body ok", "body raises"])
@pytest.mark.parametrize("behaviour", ASYNC_BEHAVIOURS)
def test_an_async_generator_resource_ends_as_contextlib_ends_it(
    tmp_path: Path, behaviour: str, body_fails: bool
) -> None:
    expected_events: list[str] = []
    events: list[str] = []
    fns_a = _async_behaviours(tmp_path / "a.sqlite3", expected_events)
    fns_b = _async_behaviours(tmp_path / "b.sqlite3", events)
    expected = asyncio.run(_with_asynccontextlib(fns_a[behaviour], body_fails))
    got = asyncio.run(_with_async_scope(fns_b[behaviour], body_fails))
    assert events == expected_events
    entered = expected[0] is not None
    if body_fails and entered and expected[1] != ("ValueError", "body"):
        assert got == (expected[0], ("ValueError", "body"))  # as for sync generators
        return
    assert got == expected


@pytest.mark.parametrize("cancelled_by", ["task.cancel()", "anyio"])
def test_a_cancelled_scope_and_a_suspending_async_generator(
    tmp_path: Path, cancelled_by: str
) -> None:
    # DESIGN §3.5: the exit of the resource suspends and the task is cancelled meanwhile.
    # A raw task.cancel() reaches the cleanup in progress, like any asyncio code (its own
    # `finally` still closes the connection), then the cancellation goes on; under anyio
    # the scope's teardown is shielded and the cleanup runs to its end.
    import anyio

    events: list[str] = []
    release = asyncio.Event()

    @resource()
    async def slow_to_close() -> AsyncIterator[sqlite3.Connection]:
        conn = sqlite3.connect(tmp_path / "db.sqlite3")
        try:
            yield conn
        finally:
            events.append("closing")
            try:
                await release.wait()
                events.append("released")
            finally:
                conn.close()
                events.append("closed")

    async def main() -> None:
        c = InjectQ()
        c.bind(sqlite3.Connection, slow_to_close, scope="request")
        entered = asyncio.Event()

        async def request() -> None:
            async with c.scope("request"):
                (await c.aget(sqlite3.Connection)).execute("SELECT 1")
                entered.set()

        if cancelled_by == "anyio":
            async with anyio.create_task_group() as tg:
                tg.start_soon(request)
                await entered.wait()
                while "closing" not in events:
                    await asyncio.sleep(0)
                # released a little later, from outside: this task is cancelled too
                asyncio.get_running_loop().call_later(0.01, release.set)
                tg.cancel_scope.cancel()
            assert events == ["closing", "released", "closed"]
            metrics = c.resource_metrics()["Connection"]
            assert metrics["disposed"] == 1 and metrics["dispose_errors"] == 0
            return
        task = asyncio.create_task(request())
        await entered.wait()
        while "closing" not in events:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert events == ["closing", "closed"]
        metrics = c.resource_metrics()["Connection"]
        # disposed, though cut short: counted as a failed disposal
        assert metrics["disposed"] == 1 and metrics["dispose_errors"] == 1

    for _ in range(20):
        events.clear()
        release = asyncio.Event()
        asyncio.run(main())
