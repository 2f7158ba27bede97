"""Core: override, test_mode and injectq.testing (issue 2)."""

import asyncio

import pytest

from injectq import InjectQ, Module, inject
from injectq.testing import (
    MockFactory,
    TestModule,
    create_test_module,
    mock_factory,
    override_dependency,
    pytest_container_fixture,
    test_container,
)


class Db:
    def __init__(self, url: str = "real") -> None:
        self.url = url


class FakeDb(Db):
    def __init__(self) -> None:
        super().__init__("fake")


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Unrelated:
    pass


def base() -> InjectQ:
    c = InjectQ()
    c.bind(Db, Db)  # singleton
    c.bind(Unrelated, Unrelated)  # singleton
    c.bind(Repo, Repo, scope="transient")
    return c


# ------------------------------------------------- every kind of binding
def test_override_with_instance() -> None:
    c = base()
    fake = FakeDb()
    with c.override(Db, fake) as value:
        assert value is fake
        assert c.get(Db) is fake
        assert c.get(Repo).db is fake
    assert c.get(Db).url == "real"


def test_override_of_singleton_already_built() -> None:
    c = base()
    real = c.get(Db)
    repo_before = c.get(Repo)
    with c.override(Db, FakeDb()):
        assert c.get(Db).url == "fake"
        assert c.get(Repo).db.url == "fake"  # dependents built now see the override
    assert c.get(Db) is real  # the same instance comes back, not a rebuilt one
    assert c.get(Repo).db is real
    assert repo_before.db is real


def test_override_of_instance_binding() -> None:
    c = InjectQ()
    c.bind_instance("url", "prod")
    with c.override("url", "test"):
        assert c.get("url") == "test"
        assert c.get(Db).url == "test"
    assert c.get("url") == "prod"


def test_override_of_instance_binding_with_callable_keeps_it_an_instance() -> None:
    c = InjectQ()

    def real_handler() -> str:
        return "real"

    def fake_handler() -> str:
        return "fake"

    c.bind_instance("handler", real_handler)
    with c.override("handler", fake_handler):
        assert c.get("handler") is fake_handler
    assert c.get("handler") is real_handler


def test_override_with_class_is_autowired() -> None:
    c = base()
    with c.override(Db, FakeDb):
        got = c.get(Db)
        assert isinstance(got, FakeDb)
        assert c.get(Db) is got  # keeps the original lifetime (singleton)
    assert not isinstance(c.get(Db), FakeDb)


def test_override_with_factory_function() -> None:
    c = base()
    c["suffix"] = "!"

    def make_fake(suffix: str) -> Db:
        return Db("factory" + suffix)

    with c.override(Db, make_fake):
        assert c.get(Db).url == "factory!"
    with c.override(Db, lambda: Db("lambda")):
        assert c.get(Db).url == "lambda"
    assert c.get(Db).url == "real"


def test_override_of_factory_binding() -> None:
    c = InjectQ()
    c.bind_factory(Db, lambda: Db("from-factory"))
    fake = FakeDb()
    with c.override(Db, fake):
        assert c.get(Db) is fake
    assert c.get(Db).url == "from-factory"
    assert c.get(Db) is not c.get(Db)  # transient again


def test_override_of_scoped_binding() -> None:
    c = InjectQ()
    c.bind(Db, Db, scope="request")
    fake = FakeDb()
    with c.override(Db, fake):
        assert c.get(Db) is fake  # an instance needs no scope
    with c.scope("request"):
        assert c.get(Db).url == "real"


def test_override_of_unbound_autowired_class() -> None:
    c = InjectQ()
    fake = FakeDb()
    bindings_before = c.bindings
    with c.override(Db, fake):
        assert c.get(Repo).db is fake
    assert c.bindings == bindings_before
    assert c.get(Db) is not fake
    assert c.get(Db) is not c.get(Db)  # autowired transient again


async def test_override_applies_to_aget_and_async_factories() -> None:
    c = InjectQ()

    async def make_db() -> Db:
        return Db("async")

    c.bind(Db, make_db)
    fake = FakeDb()
    with c.override(Db, fake):
        assert await c.aget(Db) is fake
        assert c.get(Db) is fake
    assert (await c.aget(Db)).url == "async"


def test_override_applies_to_inject_functions() -> None:
    c = base()

    @inject(container=c)
    def handler(db: Db) -> Db:
        return db

    real = handler()
    fake = FakeDb()
    with c.override(Db, fake):
        assert handler() is fake
    assert handler() is real


# ------------------------------------------------- nesting and leaving nothing behind
def test_override_nests() -> None:
    c = base()
    real = c.get(Db)
    a, b = Db("a"), Db("b")
    with c.override(Db, a):
        assert c.get(Db) is a
        with c.override(Db, b):
            assert c.get(Db) is b
            with c.override("url", "x"):
                assert c.get("url") == "x"
            assert "url" not in c.bindings
        assert c.get(Db) is a
    assert c.get(Db) is real


def test_override_leaves_nothing_behind() -> None:
    c = base()
    db, unrelated = c.get(Db), c.get(Unrelated)
    bindings_before = c.bindings
    with c.override(Db, FakeDb()):
        c.get(Repo)
        with c.override("new_key", 1):
            assert c.get("new_key") == 1
    assert c.bindings == bindings_before
    assert "new_key" not in c
    assert c.get(Db) is db
    assert c.get(Unrelated) is unrelated  # no other singleton rebuilt


def test_override_does_not_rebuild_singletons_first_built_during_it() -> None:
    c = base()
    with c.override(Db, FakeDb()):
        unrelated = c.get(Unrelated)  # first built during the override, independent of Db
    assert c.get(Unrelated) is unrelated


def test_singleton_depending_on_override_is_dropped_after_it() -> None:
    c = base()
    c.bind(Repo, Repo)  # singleton now
    with c.override(Db, FakeDb()):
        repo = c.get(Repo)
        assert repo.db.url == "fake"
    after = c.get(Repo)
    assert after is not repo and after.db.url == "real"


def test_override_restored_when_body_raises() -> None:
    c = base()
    real = c.get(Db)
    with pytest.raises(RuntimeError):
        with c.override(Db, FakeDb()):
            raise RuntimeError("test failed")
    assert c.get(Db) is real


# ------------------------------------------------- test_mode and helpers
def test_test_mode_gives_fresh_active_container() -> None:
    outer = InjectQ.get_instance()
    outer_bindings = outer.bindings
    with InjectQ.test_mode() as c:
        assert InjectQ.get_instance() is c
        assert c is not outer
        c["k"] = 1

        @inject
        def handler(k: int) -> int:
            return k

        assert handler() == 1
    assert InjectQ.get_instance() is outer
    assert outer.bindings == outer_bindings
    assert "k" not in outer


def test_test_container_helper_with_modules() -> None:
    with test_container([TestModule().bind("a", 1), create_test_module({"b": 2})]) as c:
        assert InjectQ.get_instance() is c
        assert c.get("a") == 1 and c.get("b") == 2
    assert InjectQ.get_instance() is not c


def test_override_dependency_helper() -> None:
    c = base()
    fake = FakeDb()
    with override_dependency(Db, fake, container=c):
        assert c.get(Db) is fake
    assert c.get(Db) is not fake
    with c.context(), override_dependency(Db, fake):
        assert c.get(Db) is fake
    assert c.get(Db) is not fake


def test_mock_factory_makes_one_mock_per_type_until_reset() -> None:
    factory = MockFactory()
    mock = factory.create_mock(Db, url="mock://")
    assert mock.url == "mock://"
    assert factory.create_mock(Db) is mock
    assert mock.connect("x") == "mock_connect_result"
    assert mock.calls == [("connect", ("x",), {})]
    factory.reset()
    assert factory.create_mock(Db) is not mock
    c = InjectQ()
    c.bind_instance(Db, mock)
    assert c.get(Db) is mock


def test_test_module_mock_and_bind_value_are_fluent_and_override_production() -> None:
    class Production(Module):
        def configure(self, binder: InjectQ) -> None:
            binder.bind_instance(str, "postgresql://production")
            binder.bind(Db, Db)

    module = TestModule().bind_value(str, "sqlite://test").mock(FakeDb, kind="fake")
    assert module.bind_value("flag", True) is module
    with test_container([Production(), module]) as c:
        assert c.get(Db).url == "sqlite://test"  # Db(url: str) fed by the str binding
        assert c.get(FakeDb) is mock_factory.create_mock(FakeDb)
        assert c.get(FakeDb).kind == "fake"
        assert c.get("flag") is True
    mock_factory.reset()


def test_pytest_container_fixture_helper() -> None:
    gen = pytest_container_fixture()()
    c = next(gen)
    assert InjectQ.get_instance() is c
    with pytest.raises(StopIteration):
        next(gen)
    assert InjectQ.get_instance() is not c


async def test_test_mode_per_task_isolation() -> None:
    async def use(n: int) -> int:
        with InjectQ.test_mode() as c:
            c["n"] = n
            await asyncio.sleep(0)
            return int(InjectQ.get_instance().get("n"))

    assert await asyncio.gather(*(use(i) for i in range(5))) == list(range(5))
