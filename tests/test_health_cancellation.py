"""ResourceHealthChecker under cancellation and stubborn checks (issue 11, items 6 and 7).

A check that raises CancelledError of its own is that resource's ``error``; cancelling
the caller still raises CancelledError; a check that ignores cancellation (or blocks a
thread) is reported at its timeout and does not hold the report. Real SQLite resources
and real asyncio tasks; bounded waits guard against a report that never returns.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from injectq import InjectQ, ResourceHealthChecker, resource

DB = Path()
GUARD = 10.0  # seconds a report may take before the test calls it hung (never reached)


@pytest.fixture(autouse=True)
def db(tmp_path: Path) -> Path:
    global DB
    DB = tmp_path / "health.sqlite3"
    with sqlite3.connect(DB) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO users VALUES (?)", [(1,), (2,), (3,)])
    conn.close()
    return DB


@resource
class Database:
    """A healthy SQLite connection, checked in a worker thread."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)

    def health_check(self) -> dict[str, Any]:
        (users,) = self.conn.execute("SELECT count(*) FROM users").fetchone()
        return {"status": "healthy", "users": users}

    def dispose(self) -> None:
        self.conn.close()


@resource
class Replica:
    """Warms its SQLite connection up in a background task; the check awaits the warm-up,
    so once something cancels the warm-up (a shutdown, a watchdog) the check raises
    CancelledError of its own."""

    async def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)
        self.may_finish = asyncio.Event()
        self.awaiting = asyncio.Event()
        self.warm_up = asyncio.create_task(self._warm())

    async def _warm(self) -> None:
        await self.may_finish.wait()
        self.conn.execute("SELECT count(*) FROM users").fetchone()

    async def health_check(self) -> bool:
        self.awaiting.set()
        await self.warm_up
        return True

    async def dispose(self) -> None:
        self.warm_up.cancel()
        self.conn.close()


@resource
class Stubborn:
    """A check that swallows the cancellation and goes on until ``release`` is set."""

    async def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.cancels_ignored = 0

    async def health_check(self) -> bool:
        self.started.set()
        try:
            while not self.release.is_set():
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.cancels_ignored += 1  # and keeps going
            return self.conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            self.ended.set()

    async def dispose(self) -> None:
        self.conn.close()


@resource
class Blocking:
    """A sync check that blocks its thread (a query stuck on a lock) until released."""

    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB, check_same_thread=False)
        self.release = threading.Event()
        self.started = threading.Event()

    def health_check(self) -> bool:
        self.started.set()
        self.release.wait()
        return self.conn.execute("SELECT 1").fetchone() == (1,)

    def dispose(self) -> None:
        self.conn.close()


@resource
class Waiting:
    """A cooperative check that waits for an answer that never comes."""

    async def initialize(self) -> None:
        self.never = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def health_check(self) -> bool:
        self.started.set()
        try:
            await self.never.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return True  # pragma: no cover - never set


def container(*classes: type) -> InjectQ:
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls)
    return c


async def report_within_guard(checker: ResourceHealthChecker) -> dict[str, Any]:
    task = asyncio.create_task(checker.check_all_resources())
    done, _ = await asyncio.wait({task}, timeout=GUARD)
    assert task in done, "the report did not return: a check held it"
    return task.result()


async def join_check_threads() -> None:
    """Wait for the threads of sync checks given up on: they end cleanly (no error handing
    back a result) and must not use a connection while it is being closed."""
    for thread in threading.enumerate():
        if thread.name.startswith("injectq-health-"):
            await asyncio.to_thread(thread.join, GUARD)
            assert not thread.is_alive()


# -- a check cancelled from within ---------------------------------------------------------


@pytest.mark.parametrize("cancel_after", [None, 0, 1, 3])
async def test_a_check_that_raises_cancelled_error_of_its_own_is_an_error(
    cancel_after: int | None,
) -> None:
    """``None``: the warm-up is cancelled before the report; a number: that many loop
    turns after the check began awaiting it."""
    c = container(Database, Replica)
    async with c.resource_scope():
        await c.aget(Database)
        replica = await c.aget(Replica)
        checker = ResourceHealthChecker(c, timeout=5.0)
        for _ in range(5):  # the same each time, whatever the interleaving
            replica.warm_up = asyncio.create_task(replica._warm())
            replica.awaiting.clear()
            if cancel_after is None:
                replica.warm_up.cancel()
                report = await report_within_guard(checker)
            else:
                pending = asyncio.create_task(report_within_guard(checker))
                await replica.awaiting.wait()
                for _ in range(cancel_after):
                    await asyncio.sleep(0)
                replica.warm_up.cancel("shutting down")
                report = await pending
            assert report["Database"]["status"] == "healthy"
            result = report["Replica"]
            assert result["status"] == "error"
            assert result["error"] is not None
            assert result["error"].startswith("CancelledError")
            assert "cancelled by something other than the health checker" in result["error"]
            if cancel_after is not None:
                assert "(shutting down)" in result["error"]
            assert result["details"] is None
        # and a warm-up that was not cancelled is healthy again
        replica.warm_up = asyncio.create_task(replica._warm())
        replica.may_finish.set()
        assert (await checker.check_resource(replica))["status"] == "healthy"
    await c.aclose()


async def test_check_resource_reports_a_cancelled_error_of_its_own() -> None:
    c = container(Replica)
    async with c.resource_scope():
        replica = await c.aget(Replica)
        replica.warm_up.cancel()
        result = await ResourceHealthChecker(c).check_resource(replica)
        assert result["status"] == "error"
        assert result["error"] is not None and result["error"].startswith("CancelledError")
    await c.aclose()


def test_sync_checker_reports_a_cancelled_error_of_an_async_check() -> None:
    class Watchdogged:
        """An async check whose query a watchdog cancels (a budget of its own)."""

        def __init__(self) -> None:
            self.conn = sqlite3.connect(DB, check_same_thread=False)

        async def _query(self) -> None:
            await asyncio.sleep(3600)

        async def health_check(self) -> bool:
            query = asyncio.create_task(self._query())
            asyncio.get_running_loop().call_soon(query.cancel)
            await query
            return True  # pragma: no cover - cancelled

    probe = Watchdogged()
    c = InjectQ()
    c.bind_instance("watchdogged", probe)
    c.get("watchdogged")
    checker = ResourceHealthChecker(c, timeout=5.0)
    result = checker.check_resource_sync(probe)
    assert result["status"] == "error"
    assert result["error"] is not None and result["error"].startswith("CancelledError")
    probe.conn.close()


# -- the caller cancelled ------------------------------------------------------------------


@pytest.mark.parametrize("turns", [0, 1, 2, 5])
async def test_cancelling_the_caller_raises_cancelled_error(turns: int) -> None:
    c = container(Blocking, Waiting, Stubborn, Replica)
    async with c.resource_scope():
        for cls in (Blocking, Waiting, Stubborn, Replica):
            await c.aget(cls)
        blocking, waiting, stubborn = c.get(Blocking), c.get(Waiting), c.get(Stubborn)
        replica = c.get(Replica)
        replica.warm_up.cancel()  # one check raises CancelledError of its own meanwhile
        checker = ResourceHealthChecker(c, timeout=60.0)  # the caller gives up first
        try:
            for _ in range(3):
                waiting.started.clear()
                waiting.cancelled.clear()
                stubborn.started.clear()
                blocking.started.clear()
                caller = asyncio.create_task(checker.check_all_resources())
                await waiting.started.wait()
                await stubborn.started.wait()
                assert await asyncio.to_thread(blocking.started.wait, GUARD)
                for _ in range(turns):
                    await asyncio.sleep(0)
                caller.cancel()
                done, _ = await asyncio.wait({caller}, timeout=GUARD)
                assert caller in done, "a check that ignores cancellation held the caller"
                assert caller.cancelled()
                with pytest.raises(asyncio.CancelledError):
                    caller.result()
                await asyncio.wait_for(waiting.cancelled.wait(), GUARD)  # cancelled too
            assert stubborn.cancels_ignored >= 3
        finally:
            stubborn.release.set()
            blocking.release.set()
        await asyncio.wait_for(stubborn.ended.wait(), GUARD)
        await join_check_threads()
    await c.aclose()


async def test_the_callers_own_timeout_wins_over_the_checkers() -> None:
    c = container(Stubborn)
    async with c.resource_scope():
        stubborn = await c.aget(Stubborn)
        checker = ResourceHealthChecker(c, timeout=60.0)
        try:
            for _ in range(3):

                async def bounded() -> None:
                    async with asyncio.timeout(0.05):
                        await checker.check_all_resources()

                task = asyncio.create_task(bounded())
                done, _ = await asyncio.wait({task}, timeout=GUARD)
                assert task in done, "a check that ignores cancellation held the caller"
                with pytest.raises(TimeoutError):
                    task.result()
        finally:
            stubborn.release.set()
        await asyncio.wait_for(stubborn.ended.wait(), GUARD)
    await c.aclose()


# -- checks that ignore the timeout --------------------------------------------------------


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
async def test_checks_that_ignore_cancellation_are_reported_at_their_timeout() -> None:
    c = container(Database, Stubborn, Blocking, Waiting)
    async with c.resource_scope():
        for cls in (Database, Stubborn, Blocking, Waiting):
            await c.aget(cls)
        stubborn, blocking = c.get(Stubborn), c.get(Blocking)
        checker = ResourceHealthChecker(c, timeout=0.5)  # ample for Database's check
        try:
            for _ in range(3):
                report = await report_within_guard(checker)
                assert {name: r["status"] for name, r in report.items()} == {
                    "Database": "healthy",
                    "Stubborn": "error",
                    "Blocking": "error",
                    "Waiting": "error",
                }
                for name in ("Stubborn", "Blocking", "Waiting"):
                    assert report[name]["error"] == "health check did not finish within 0.5 s"
                assert report["Database"]["details"] == {"status": "healthy", "users": 3}
                # the latency is the check's own, not the slowest one's
                assert report["Database"]["latency_ms"] <= report["Stubborn"]["latency_ms"]
            one = await asyncio.wait_for(checker.check_resource(stubborn), GUARD)
            assert one["status"] == "error"
            assert stubborn.cancels_ignored >= 1
        finally:
            stubborn.release.set()
            blocking.release.set()
        await asyncio.wait_for(stubborn.ended.wait(), GUARD)
        await join_check_threads()
        # released, they answer again
        report = await report_within_guard(checker)
        assert report["Stubborn"]["status"] == report["Blocking"]["status"] == "healthy"
        await join_check_threads()
    await c.aclose()


# -- the timeout is checked when it is given -----------------------------------------------


@pytest.mark.parametrize(
    "timeout",
    [math.nan, math.inf, -math.inf, -1, -0.5, 0, True, False, None, "5"],
    ids=repr,
)
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(timeout: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="timeout must be"):
        ResourceHealthChecker(InjectQ(), timeout=timeout)


@pytest.mark.parametrize("timeout", [0.001, 1, 5.0, 3600])
def test_positive_finite_timeouts_are_kept(timeout: float) -> None:
    assert ResourceHealthChecker(InjectQ(), timeout=timeout).timeout == timeout
