"""Core: singletons are planned and built in one walk (no plan kept).

These go through bound singletons on purpose: the errors, fallbacks and concurrency
guarantees the planned path has must hold on the walk too. Every wait is bounded and
nothing asserts wall-clock times.
"""

import abc
import threading
import time
from typing import Any

import pytest

from injectq import CircularDependencyError, DependencyNotFoundError, Inject, InjectQ
from injectq.core import singletons as singleton_walk
from injectq.core.claims import CreationSlot

WAIT = 10.0


class Db:
    def __init__(self, url: str) -> None:
        self.url = url


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


def bind_singletons(c: InjectQ, *classes: type) -> None:
    for cls in classes:
        c.bind(cls, cls)  # default lifetime: singleton


# ------------------------------------------------------------------ errors
def test_missing_leaf_names_the_whole_path() -> None:
    c = InjectQ()
    bind_singletons(c, Service, Repo, Db)
    with pytest.raises(DependencyNotFoundError) as info:
        c.get(Service)
    assert info.value.path == ("Service", "Repo", "Db(url: str)")
    assert "container['url']" in str(info.value)
    c["url"] = "sqlite://"  # nothing half-built or still claimed: fixing it works
    assert c.get(Service).repo.db.url == "sqlite://"
    assert c.get(Repo) is c.get(Service).repo


def test_missing_abstract_dependency_names_the_path() -> None:
    class Port(abc.ABC):
        @abc.abstractmethod
        def go(self) -> None: ...

    class UsesPort:
        def __init__(self, port: Port) -> None:
            self.port = port

    class Top:
        def __init__(self, user: UsesPort) -> None:
            self.user = user

    c = InjectQ()
    bind_singletons(c, Top, UsesPort)
    with pytest.raises(DependencyNotFoundError) as info:
        c.get(Top)
    assert info.value.path == ("Top", "UsesPort(port: Port)")


class Ring1:
    def __init__(self, other: "Ring2") -> None:
        self.other = other


class Ring2:
    def __init__(self, other: "Ring3") -> None:
        self.other = other


class Ring3:
    def __init__(self, other: Ring1) -> None:
        self.other = other


def test_cycle_through_a_transient_names_the_whole_path() -> None:
    c = InjectQ()
    bind_singletons(c, Ring1, Ring3)
    c.bind(Ring2, Ring2, scope="transient")
    with pytest.raises(CircularDependencyError) as info:
        c.get(Ring1)
    assert info.value.path == ("Ring1", "Ring2", "Ring3", "Ring1")
    with pytest.raises(CircularDependencyError) as info:
        c.get(Ring3)  # the failed walk left no claim behind
    assert info.value.path == ("Ring3", "Ring1", "Ring2", "Ring3")


def test_cycle_below_the_root_names_only_the_cycle() -> None:
    class Top:
        def __init__(self, ring: Ring2) -> None:
            self.ring = ring

    c = InjectQ()
    bind_singletons(c, Top, Ring1, Ring2, Ring3)
    with pytest.raises(CircularDependencyError) as info:
        c.get(Top)
    assert info.value.path == ("Ring2", "Ring3", "Ring1", "Ring2")


class Left:
    def __init__(self, right: "Right") -> None:
        self.right = right


class Right:
    def __init__(self, left: Left) -> None:
        self.left = left


def test_walks_in_two_threads_holding_each_others_key_raise_instead_of_deadlocking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hold both walks right after each claimed its own key, so each then needs the key
    # the other thread holds: the static cycle must be reported, not waited on forever.
    # The walk reads a signature with simple_hints, or analyze when that cannot.
    both_claimed = threading.Barrier(2)
    held: set[type] = set()

    def holding(read: Any) -> Any:
        def hold_then_read(fn: Any) -> Any:
            if fn in (Left, Right) and fn not in held:
                held.add(fn)
                both_claimed.wait(WAIT)
            return read(fn)

        return hold_then_read

    monkeypatch.setattr(singleton_walk, "analyze", holding(singleton_walk.analyze))
    monkeypatch.setattr(singleton_walk, "simple_hints", holding(singleton_walk.simple_hints))
    c = InjectQ()
    c.bind(Left, Left)
    c.bind(Right, Right)
    errors: list[BaseException] = []

    def run(key: type) -> None:
        try:
            c.get(key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in (Left, Right)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "deadlock: two walks wait for each other"
    assert len(errors) == 2
    assert all(isinstance(e, CircularDependencyError) for e in errors), errors


# ------------------------------------------------------------------ how parameters are fed
def test_optional_and_defaulted_dependencies_fall_back_when_missing() -> None:
    class Top:
        def __init__(self, db: Db | None, repo: Repo | None = None, *, n: int = 3) -> None:
            self.db, self.repo, self.n = db, repo, n

    c = InjectQ()
    bind_singletons(c, Top, Repo, Db)  # Db needs a `url` nobody provides
    top = c.get(Top)
    assert (top.db, top.repo, top.n) == (None, None, 3)


def test_inject_marker_string_keys_and_keyword_only_parameters() -> None:
    class Clock:
        pass

    class Top:
        def __init__(self, url: str, *, clock: Any = Inject[Clock], db: Db) -> None:
            self.url, self.clock, self.db = url, clock, db

    c = InjectQ()
    bind_singletons(c, Top, Clock, Db)
    c["url"] = "pg://"
    top = c.get(Top)
    assert top.url == "pg://"
    assert top.clock is c.get(Clock)
    assert top.db is c.get(Db)
    assert top.db.url == "pg://"


def test_singleton_behind_a_transient_is_still_shared() -> None:
    class Leaf:
        pass

    class Middle:
        def __init__(self, leaf: Leaf) -> None:
            self.leaf = leaf

    class Top:
        def __init__(self, middle: Middle, leaf: Leaf) -> None:
            self.middle, self.leaf = middle, leaf

    c = InjectQ()
    bind_singletons(c, Top, Leaf)
    c.bind(Middle, Middle, scope="transient")
    top = c.get(Top)
    assert top.middle.leaf is top.leaf is c.get(Leaf)
    assert c.get(Middle) is not top.middle


def test_singleton_factory_parameters_are_walked() -> None:
    def make_repo(db: Db) -> Repo:
        return Repo(db)

    c = InjectQ()
    c.bind(Repo, make_repo)  # a factory bound with bind(): singleton
    c.bind(Db, lambda: Db("mem://"))
    assert c.get(Repo) is c.get(Repo)
    assert c.get(Repo).db is c.get(Db)


# ------------------------------------------------------------------ exactly once
def test_singleton_graph_built_once_under_threads() -> None:
    built: dict[str, int] = {}
    count_lock = threading.Lock()

    def counted(name: str) -> None:
        with count_lock:
            built[name] = built.get(name, 0) + 1

    class Base:
        def __init__(self) -> None:
            time.sleep(0.01)  # slow, so the threads pile up behind its claim
            counted("Base")

    class Left:
        def __init__(self, base: Base) -> None:
            counted("Left")
            self.base = base

    class Right:
        def __init__(self, base: Base) -> None:
            counted("Right")
            self.base = base

    class Top:
        def __init__(self, left: Left, right: Right) -> None:
            counted("Top")
            self.left, self.right = left, right

    c = InjectQ()
    bind_singletons(c, Top, Left, Right, Base)
    start = threading.Barrier(16)
    results: list[object] = []

    def run(i: int) -> None:
        start.wait(WAIT)
        results.append(c.get((Top, Left, Right, Base)[i % 4]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert built == {"Base": 1, "Left": 1, "Right": 1, "Top": 1}
    top = c.get(Top)
    assert top.left.base is top.right.base is c.get(Base)
    assert len(results) == 16


def test_a_waiter_gets_the_creators_error_and_the_next_get_retries() -> None:
    attempts = 0
    entered = threading.Event()
    release = threading.Event()

    class Flaky:
        def __init__(self) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                entered.set()
                assert release.wait(WAIT)
                raise RuntimeError("boom")

    c = InjectQ()
    c.bind(Flaky, Flaky)
    outcomes: list[object] = []

    def get() -> None:
        try:
            outcomes.append(c.get(Flaky))
        except RuntimeError as exc:
            outcomes.append(exc)

    creator = threading.Thread(target=get)
    creator.start()
    assert entered.wait(WAIT)
    waiter = threading.Thread(target=get)
    waiter.start()
    deadline = time.monotonic() + WAIT  # until the waiter has posted its slot
    while not isinstance(c._inflight.get(Flaky), CreationSlot) and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for t in (creator, waiter):
        t.join(WAIT)
        assert not t.is_alive()
    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
    assert isinstance(c.get(Flaky), Flaky)
    assert attempts == 2
    assert not c._inflight


# ------------------------------------------------------------------ generated code and the walk
class Config:
    pass


class Handler:
    def __init__(self, config: Config) -> None:
        self.config = config


@pytest.mark.parametrize("lifetime", ["transient", "request"])
def test_code_generated_before_a_singleton_was_built_shares_it(lifetime: str) -> None:
    # the first resolution generates code while Config is not built yet; what is kept
    # afterwards must hand out that same Config, never build a second one
    c = InjectQ()
    c.bind(Config, Config)
    c.bind(Handler, Handler, scope=lifetime)
    seen = []
    for _ in range(3):
        with c.scope("request"):
            seen.append(c.get(Handler).config)
    assert all(config is c.get(Config) for config in seen)


async def test_async_code_generated_before_a_singleton_was_built_shares_it() -> None:
    c = InjectQ()
    c.bind(Config, Config)
    c.bind(Handler, Handler, scope="request")
    seen = []
    for _ in range(3):
        async with c.scope("request"):
            seen.append((await c.aget(Handler)).config)
    assert all(config is c.get(Config) for config in seen)


def test_an_inject_caller_generated_before_a_singleton_was_built_shares_it() -> None:
    from injectq import inject

    c = InjectQ()
    c.bind(Config, Config)

    @inject(container=c)
    def use(config: Config) -> Config:
        return config

    assert use() is use() is c.get(Config)
