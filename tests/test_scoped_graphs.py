"""Scoped graphs: a scoped key and what it needs from its own scope are built by one
generated function (claims held in the scope's cache). These tests drive the shapes that
function has to get right: deep chains (built in pieces), diamonds, transients between
scoped keys, failures handed to waiters, async initializations that suspend, and
cancellation in the middle of a graph."""

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from injectq import InjectQ, resource
from injectq.utils.exceptions import ResourceInitializationError


def _chain(depth: int, log: list[str]) -> tuple[list[type], type]:
    """``depth`` scoped classes, each needing the previous one; the first is a resource."""

    @resource
    class Base:
        def initialize(self) -> None:
            log.append("init")

        def dispose(self) -> None:
            log.append("dispose")

    classes: list[type] = [Base]
    for i in range(1, depth):
        prev = classes[-1]

        def init(self: Any, dep: Any) -> None:
            self.dep = dep

        init.__annotations__ = {"dep": prev, "return": None}
        classes.append(type(f"Link{i}", (), {"__init__": init}))
    return classes, Base


@pytest.mark.parametrize("depth", [1, 8, 9, 30])
def test_deep_scoped_chain_builds_each_key_once(depth: int) -> None:
    log: list[str] = []
    classes, base = _chain(depth, log)
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope="request")
    for _ in range(3):
        with c.scope("request"):
            top = c.get(classes[-1])
            node = top
            for _ in range(depth - 1):
                node = node.dep
            assert type(node) is base
            # every key of the chain is cached in the scope: the same objects come back
            assert c.get(base) is node
            assert c.get(classes[-1]) is top
        assert log == ["init", "dispose"]
        log.clear()


@pytest.mark.parametrize("depth", [9, 30])
async def test_deep_scoped_chain_builds_each_key_once_async(depth: int) -> None:
    log: list[str] = []
    classes, base = _chain(depth, log)
    c = InjectQ()
    for cls in classes:
        c.bind(cls, cls, scope="request")
    async with c.scope("request"):
        top = await c.aget(classes[-1])
        assert await c.aget(base) is not None
        assert await c.aget(classes[-1]) is top
    assert log == ["init", "dispose"]


def test_diamond_and_transients_between_scoped_keys_share_the_scoped_instances() -> None:
    class Conn:
        pass

    class Repo:  # transient: a new one per injection, the Conn shared
        def __init__(self, conn: Conn) -> None:
            self.conn = conn

    class Left:
        def __init__(self, repo: Repo, conn: Conn) -> None:
            self.repo, self.conn = repo, conn

    class Right:
        def __init__(self, repo: Repo) -> None:
            self.repo = repo

    class Top:
        def __init__(self, left: Left, right: Right, conn: Conn) -> None:
            self.left, self.right, self.conn = left, right, conn

    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    c.bind(Repo, Repo, scope="transient")
    for cls in (Left, Right, Top):
        c.bind(cls, cls, scope="request")
    with c.scope("request"):
        right = c.get(Right)  # part of the graph cached first, the rest built later
        top = c.get(Top)
    assert top.right is right
    conns = {id(top.conn), id(top.left.conn), id(top.left.repo.conn), id(right.repo.conn)}
    assert len(conns) == 1
    assert top.left.repo is not right.repo
    with c.scope("request"):
        other = c.get(Top)
    assert other.conn is not top.conn


def test_waiters_get_the_creators_error_and_the_next_access_retries() -> None:
    attempts: list[int] = []
    building = threading.Event()
    asking = threading.Event()

    class Flaky:
        def __init__(self) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                building.set()
                assert asking.wait(5)
                time.sleep(0.05)  # the other thread is inside get() by now, waiting
                raise RuntimeError("first attempt fails")

    c = InjectQ()
    c.bind(Flaky, Flaky, scope="request")
    errors: list[BaseException] = []
    with c.scope("request"):
        ctx = contextvars.copy_context()

        def second() -> None:
            assert building.wait(5)
            asking.set()
            try:
                c.get(Flaky)
            except BaseException as exc:  # recorded for the assertions
                errors.append(exc)

        waiter = threading.Thread(target=ctx.run, args=(second,))
        waiter.start()
        with pytest.raises(RuntimeError, match="first attempt fails") as info:
            c.get(Flaky)
        waiter.join(5)
        assert errors == [info.value]  # the waiter got the creator's own error
        again = c.get(Flaky)  # the key was freed: this access builds it
        assert c.get(Flaky) is again
    assert len(attempts) == 2


async def test_async_initialize_that_suspends_is_awaited_inside_the_graph() -> None:
    log: list[str] = []

    @resource
    class Slow:
        async def initialize(self) -> None:
            await asyncio.sleep(0.001)
            log.append("init")

        async def dispose(self) -> None:
            await asyncio.sleep(0.001)
            log.append("dispose")

    class User:
        def __init__(self, slow: Slow) -> None:
            assert log == ["init"]  # dependencies are initialized before dependents
            self.slow = slow

    c = InjectQ()
    c.bind(Slow, Slow, scope="request")
    c.bind(User, User, scope="request")
    async with c.scope("request"):
        users = await asyncio.gather(*(c.aget(User) for _ in range(20)))
        assert all(u is users[0] for u in users)
    assert log == ["init", "dispose"]


async def test_async_initialize_failing_before_and_after_suspending() -> None:
    @resource
    class FailsAtOnce:
        async def initialize(self) -> None:
            raise ValueError("at once")

    @resource
    class FailsLater:
        async def initialize(self) -> None:
            await asyncio.sleep(0)
            raise ValueError("later")

    c = InjectQ()
    c.bind(FailsAtOnce, FailsAtOnce, scope="request")
    c.bind(FailsLater, FailsLater, scope="request")
    async with c.scope("request"):
        for key, text in ((FailsAtOnce, "at once"), (FailsLater, "later")):
            with pytest.raises(ResourceInitializationError) as info:
                await c.aget(key)
            assert isinstance(info.value.__cause__, ValueError)
            assert text in str(info.value.__cause__)
    snapshot = c.resource_metrics()
    assert snapshot["FailsAtOnce"]["init_errors"] == 1
    assert snapshot["FailsLater"]["init_errors"] == 1
    assert snapshot["FailsLater"]["active"] == 0


@pytest.mark.parametrize("run", range(20))
async def test_cancelled_in_the_middle_of_a_graph_frees_its_claims(run: int) -> None:
    log: list[str] = []
    gate = asyncio.Event()

    @resource
    class First:
        async def initialize(self) -> None:
            log.append("first init")

        async def dispose(self) -> None:
            log.append("first dispose")

    @resource
    class Second:
        def __init__(self, first: First) -> None:
            self.first = first

        async def initialize(self) -> None:
            await gate.wait()
            log.append("second init")

        async def dispose(self) -> None:
            log.append("second dispose")

    c = InjectQ()
    c.bind(First, First, scope="request")
    c.bind(Second, Second, scope="request")
    async with c.scope("request"):
        task = asyncio.ensure_future(c.aget(Second))
        for _ in range(run % 5 + 1):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        second = await c.aget(Second)  # the cancelled claim is gone: built afresh
        assert log == ["first init", "second init"]
        assert second.first is await c.aget(First)
    assert log == ["first init", "second init", "second dispose", "first dispose"]


def test_user_initialize_from_another_thread_joins_the_containers_call() -> None:
    """The container's fresh activation goes live without a lock; a user's own
    initialize() call from another thread, made while it runs, waits for it and never
    runs initialize() a second time."""
    inits: list[int] = []
    escaped: list[Any] = []
    inside = threading.Event()
    release = threading.Event()

    @resource
    class Conn:
        def initialize(self) -> None:
            inits.append(1)
            escaped.append(self)
            inside.set()
            assert release.wait(5)

    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    for _ in range(20):  # bounded; each round races the two threads differently
        inits.clear()
        escaped.clear()
        inside.clear()
        release.clear()
        results: list[Any] = []
        user_done: list[Any] = []
        with c.scope("request"):
            builder = threading.Thread(
                target=contextvars.copy_context().run,
                args=(lambda out=results: out.append(c.get(Conn)),),
            )
            builder.start()
            assert inside.wait(5)
            user = threading.Thread(
                target=lambda out=user_done: out.append(escaped[0].initialize())
            )
            user.start()
            time.sleep(0.005)
            waiting = user.is_alive()
            release.set()
            builder.join(5)
            user.join(5)
            assert not builder.is_alive() and not user.is_alive()
            assert waiting  # the user's call waited for the container's
            assert results == [escaped[0]] and user_done == [None]
            assert inits == [1]


async def test_async_fresh_activation_joins_user_calls_and_bounds_its_initialize() -> None:
    """The fresh async path awaits ``initialize`` in place: a subclass's
    ``super().initialize()`` runs inside it, another task's ``initialize()`` made while it
    is suspended joins it (one call), and ``init_timeout`` bounds it."""
    log: list[str] = []
    gate = asyncio.Event()
    escaped: list[Any] = []

    @resource
    class Base:
        async def initialize(self) -> None:
            log.append("base init")

    @resource
    class Conn(Base):
        async def initialize(self) -> None:
            escaped.append(self)
            await super().initialize()  # the same activation: runs, joins nothing
            await gate.wait()
            log.append("conn init")

        async def dispose(self) -> None:
            log.append("dispose")

    @resource(init_timeout=0.01)
    class Hangs:
        async def initialize(self) -> None:
            await asyncio.Event().wait()

    c = InjectQ()
    c.bind(Conn, Conn, scope="request")
    c.bind(Hangs, Hangs, scope="request")
    async with c.scope("request"):
        building = asyncio.ensure_future(c.aget(Conn))
        while not escaped:
            await asyncio.sleep(0)
        user = asyncio.ensure_future(escaped[0].initialize())
        await asyncio.sleep(0.001)
        assert not user.done()  # waits for the container's call
        gate.set()
        conn = await building
        await user
        assert conn is escaped[0]
        assert log == ["base init", "conn init"]
        with pytest.raises(ResourceInitializationError) as info:
            await c.aget(Hangs)
        assert isinstance(info.value.__cause__, TimeoutError)
    assert log == ["base init", "conn init", "dispose"]
