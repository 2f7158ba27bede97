"""Resource classes whose instances take attributes unusually: ``__slots__`` (no room for
the container's state on the instance), frozen dataclasses (``__setattr__`` refuses), and
a class that answers unknown attributes through ``__getattr__``, one whose own
``__setattr__``/``__delattr__`` store elsewhere. Each is activated and
disposed exactly once, and the user's own calls join the container's."""

import dataclasses
from typing import Any

import pytest

from injectq import InjectQ, resource

Log = list[tuple[str, int]]


def _slotted(log: Log) -> type:
    @resource
    class Slotted:
        __slots__ = ("n",)

        def __init__(self) -> None:
            self.n = id(self)

        def initialize(self) -> None:
            log.append(("init", self.n))

        def dispose(self) -> None:
            log.append(("dispose", self.n))

    return Slotted


def _frozen(log: Log) -> type:
    @resource
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        name: str = "frozen"

        def initialize(self) -> None:
            log.append(("init", id(self)))

        def dispose(self) -> None:
            log.append(("dispose", id(self)))

    return Frozen


def _delegating(log: Log) -> type:
    @resource
    class Delegating:
        def __init__(self) -> None:
            self.target = {"answer": 42}

        def __getattr__(self, name: str) -> Any:  # unknown attributes come from the target
            return self.target[name]

        def initialize(self) -> None:
            log.append(("init", id(self)))

        def dispose(self) -> None:
            log.append(("dispose", id(self)))

    return Delegating


def _forwarding(log: Log) -> type:
    @resource
    class Forwarding:
        """Its own __setattr__/__delattr__ keep attributes in a side dict (and log them):
        the container's state must go past them, onto the instance itself."""

        def __init__(self) -> None:
            object.__setattr__(self, "side", {})

        def __setattr__(self, name: str, value: Any) -> None:
            log.append(("setattr " + name, id(self)))
            self.side[name] = value

        def __delattr__(self, name: str) -> None:
            log.append(("delattr " + name, id(self)))
            del self.side[name]

        def initialize(self) -> None:
            log.append(("init", id(self)))

        def dispose(self) -> None:
            log.append(("dispose", id(self)))

    return Forwarding


_ODD = [_slotted, _frozen, _delegating, _forwarding]


@pytest.mark.parametrize("make", _ODD)
@pytest.mark.parametrize("scope", ["request", "transient"])
def test_odd_resource_classes_are_initialized_and_disposed_once(make: Any, scope: str) -> None:
    log: Log = []
    cls = make(log)
    c = InjectQ()
    c.bind(cls, cls, scope=scope)
    for _ in range(3):
        with c.scope("request"):
            inst = c.get(cls)
            inst.initialize()  # the user's call joins: no second initialize()
            assert log == [("init", id(inst))]
        assert log == [("init", id(inst)), ("dispose", id(inst))]
        inst.dispose()  # after the scope's disposal: nothing more
        assert len(log) == 2
        log.clear()


@pytest.mark.parametrize("make", _ODD)
async def test_odd_resource_classes_async(make: Any) -> None:
    log: Log = []
    cls = make(log)
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    async with c.scope("request"):
        inst = await c.aget(cls)
        assert await c.aget(cls) is inst
    assert log == [("init", id(inst)), ("dispose", id(inst))]


def test_delegating_class_still_delegates_after_activation() -> None:
    log: Log = []
    cls = _delegating(log)
    c = InjectQ()
    c.bind(cls, cls, scope="request")
    with c.scope("request"):
        inst = c.get(cls)
        assert inst.answer == 42
    assert inst.answer == 42


@pytest.mark.parametrize("is_async", [False, True])
def test_own_setattr_and_delattr_never_see_the_state(is_async: bool) -> None:
    import asyncio

    log: Log = []
    cls = _forwarding(log)
    c = InjectQ()
    c.bind(cls, cls, scope="request")

    async def run_async() -> Any:
        async with c.scope("request"):
            return await c.aget(cls)

    for _ in range(2):  # the second activation finds the first one's state detached
        if is_async:
            inst = asyncio.run(run_async())
        else:
            with c.scope("request"):
                inst = c.get(cls)
        assert log == [("init", id(inst)), ("dispose", id(inst))]
        assert inst.side == {}
        assert "_injectq_resource_state" not in vars(inst)
        log.clear()


def test_a_plain_dispose_returning_a_coroutine_is_finished_by_a_sync_scope(
    tmp_path: Any,
) -> None:
    # A `def dispose()` (not `async def`) that hands back a coroutine: a sync scope's
    # exit, having no loop, runs it to the end before it counts the disposal.
    import asyncio

    path = tmp_path / "journal.txt"

    @resource
    class Journal:
        def initialize(self) -> None:
            self.file = path.open("w")

        async def _flush_and_close(self) -> None:
            await asyncio.sleep(0)
            self.file.write("closed cleanly\n")
            self.file.close()

        def dispose(self) -> Any:
            return self._flush_and_close()

    c = InjectQ()
    c.bind(Journal, Journal, scope="request")
    with c.scope("request"):
        journal = c.get(Journal)
        assert not journal.file.closed
    assert journal.file.closed
    assert path.read_text() == "closed cleanly\n"
    assert c.resource_metrics()["Journal"]["disposed"] == 1
