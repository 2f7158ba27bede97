"""Core: @inject, Inject[T], invoke/ainvoke, async factories (issue 2)."""

import asyncio
import inspect
import typing
from typing import Any

import pytest

from injectq import (
    DependencyNotFoundError,
    Inject,
    InjectionError,
    InjectQ,
    inject,
)


class Db:
    def __init__(self, url: str = "default") -> None:
        self.url = url


class Cache:
    pass


class Service:
    def __init__(self, db: Db, cache: Cache) -> None:
        self.db, self.cache = db, cache


def make_container() -> InjectQ:
    c = InjectQ()
    c.bind(Db, Db, scope="singleton")
    c.bind(Cache, Cache, scope="singleton")
    return c


# ------------------------------------------------------------------ @inject basics
def test_inject_with_container() -> None:
    c = make_container()

    @inject(container=c)
    def handler(db: Db, cache: Cache) -> tuple[Db, Cache]:
        return db, cache

    db, cache = handler()
    assert db is c.get(Db) and cache is c.get(Cache)


def test_bare_inject_uses_active_container() -> None:
    c = make_container()

    @inject
    def handler(db: Db) -> Db:
        return db

    with c.context():
        assert handler() is c.get(Db)
    other = make_container()
    with other.context():
        assert handler() is other.get(Db)


def test_inject_positional_container_form() -> None:
    c = make_container()

    @inject(c)  # type: ignore[call-overload]
    def handler(db: Db) -> Db:
        return db

    assert handler() is c.get(Db)


def test_inject_preserves_metadata() -> None:
    c = make_container()

    @inject(container=c)
    def handler(db: Db) -> Db:
        """Doc."""
        return db

    assert handler.__name__ == "handler"
    assert handler.__doc__ == "Doc."


# ---------------------------------------- caller's args honoured, only the rest injected
def test_inject_honours_positional_args() -> None:
    c = make_container()

    @inject(container=c)
    def handler(db: Db, cache: Cache) -> tuple[Db, Cache]:
        return db, cache

    mine = Db("mine")
    db, cache = handler(mine)
    assert db is mine
    assert cache is c.get(Cache)


def test_inject_honours_keyword_args() -> None:
    c = make_container()

    @inject(container=c)
    def handler(db: Db, cache: Cache) -> tuple[Db, Cache]:
        return db, cache

    my_cache = Cache()
    db, cache = handler(cache=my_cache)
    assert cache is my_cache
    assert db is c.get(Db)


def test_inject_honours_all_args_given() -> None:
    c = InjectQ()  # nothing bound that these need: nothing must be resolved

    class Unresolvable:
        def __init__(self, secret: str) -> None:
            self.secret = secret

    @inject(container=c)
    def handler(x: Unresolvable, n: int) -> tuple[Unresolvable, int]:
        return x, n

    u = Unresolvable("s")
    assert handler(u, 3) == (u, 3)
    assert handler(u, n=4) == (u, 4)
    assert handler(x=u, n=5) == (u, 5)


def test_inject_mixed_plain_and_injected_params() -> None:
    c = make_container()

    @inject(container=c)
    def handler(user_id: int, db: Db, *, verbose: bool = False) -> tuple[int, Db, bool]:
        return user_id, db, verbose

    assert handler(7) == (7, c.get(Db), False)
    assert handler(7, verbose=True) == (7, c.get(Db), True)


def test_inject_missing_required_non_injectable_param_is_an_error() -> None:
    c = make_container()

    @inject(container=c)
    def handler(user_id: int, db: Db) -> None:
        pass

    with pytest.raises(DependencyNotFoundError, match="user_id"):
        handler()


async def test_inject_async_function() -> None:
    c = make_container()

    @inject(container=c)
    async def handler(db: Db, cache: Cache) -> tuple[Db, Cache]:
        await asyncio.sleep(0)
        return db, cache

    assert await handler() == (c.get(Db), c.get(Cache))
    mine = Db("m")
    assert await handler(mine) == (mine, c.get(Cache))
    assert await handler(cache=Cache()) != (c.get(Db), c.get(Cache))
    assert inspect.iscoroutinefunction(handler)


async def test_inject_async_function_awaits_async_factories() -> None:
    c = InjectQ()

    async def make_db() -> Db:
        await asyncio.sleep(0)
        return Db("async")

    c.bind(Db, make_db, scope="singleton")

    @inject(container=c)
    async def handler(db: Db) -> str:
        return db.url

    assert await handler() == "async"


def test_inject_on_methods() -> None:
    c = make_container()

    class Controller:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        @inject(container=c)
        def show(self, db: Db) -> str:
            return self.prefix + db.url

        @staticmethod
        @inject(container=c)
        def static(db: Db) -> Db:
            return db

        @classmethod
        @inject(container=c)
        def klass(cls, db: Db) -> tuple[type, Db]:
            return cls, db

    ctl = Controller(">")
    assert ctl.show() == ">default"
    assert ctl.show(Db("x")) == ">x"
    assert Controller.static() is c.get(Db)
    assert Controller.klass() == (Controller, c.get(Db))


def test_inject_marker_default() -> None:
    c = make_container()
    c["url"] = "by-marker"
    c.bind("primary", Db("primary"))

    @inject(container=c)
    def handler(db=Inject[Db], named=Inject["primary"]) -> tuple[Db, Db]:  # type: ignore[assignment,misc,name-defined]
        return db, named

    db, named = handler()
    assert db is c.get(Db)
    assert named.url == "primary"


def test_inject_marker_beats_annotation() -> None:
    c = make_container()
    special = Db("special")
    c.bind_instance("special_db", special)

    @inject(container=c)
    def handler(db: Db = Inject["special_db"]) -> Db:  # type: ignore[name-defined]
        return db

    assert handler() is special


def test_inject_reads_the_signature_once(monkeypatch: pytest.MonkeyPatch) -> None:
    c = make_container()

    class Counted:
        pass

    c.bind(Counted, Counted, scope="transient")

    @inject(container=c)
    def handler(db: Db, counted: Counted, cache: Cache | None = None) -> Db:
        return db

    # first calls: analysis happens here (lazily: forward refs work); a caller compiled
    # before a singleton it uses was built is compiled (and its signature read) once
    # more, at the next call: two rounds, so that both readers are done (with
    # INJECTQ_FAST_PATHS=0 every read is inspect.signature's, and counted)
    for _ in range(2):
        handler()
        handler(Db("warm"))
        handler(cache=Cache())
    reads = {"signature": 0, "hints": 0}
    real_sig, real_hints = inspect.signature, typing.get_type_hints

    def counting_signature(*a: typing.Any, **k: typing.Any) -> typing.Any:
        reads["signature"] += 1
        return real_sig(*a, **k)

    def counting_hints(*a: typing.Any, **k: typing.Any) -> typing.Any:
        reads["hints"] += 1
        return real_hints(*a, **k)

    monkeypatch.setattr(inspect, "signature", counting_signature)
    monkeypatch.setattr(typing, "get_type_hints", counting_hints)
    for _ in range(50):
        handler()
        handler(Db("pos"))
        handler(cache=Cache())
    assert reads == {"signature": 0, "hints": 0}


def test_constructor_signature_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    c = make_container()
    c.get(Service)
    calls = 0
    real = typing.get_type_hints

    def counting(*a: typing.Any, **k: typing.Any) -> typing.Any:
        nonlocal calls
        calls += 1
        return real(*a, **k)

    monkeypatch.setattr(typing, "get_type_hints", counting)
    for _ in range(100):
        c.get(Service)
    assert calls == 0


# ------------------------------------------------------------------ async factories
def test_get_of_async_factory_raises_clear_error_never_a_coroutine() -> None:
    c = InjectQ()

    async def make_db() -> Db:
        return Db("a")

    c.bind(Db, make_db)
    with pytest.raises(InjectionError, match="aget"):
        c.get(Db)
    c.bind(Db, make_db, scope="transient")
    with pytest.raises(InjectionError, match="aget"):
        c.get(Db)


def test_get_of_dependent_of_async_factory_raises_clear_error() -> None:
    c = InjectQ()

    async def make_db() -> Db:
        return Db("a")

    c.bind(Db, make_db)
    c.bind(Cache, Cache)
    with pytest.raises(InjectionError, match="aget"):
        c.get(Service)


async def test_get_of_async_factory_inside_loop_raises_and_aget_works() -> None:
    c = InjectQ()

    async def make_db() -> Db:
        await asyncio.sleep(0)
        return Db("async")

    c.bind(Db, make_db)
    with pytest.raises(InjectionError, match="aget"):
        c.get(Db)
    db = await c.aget(Db)
    assert db.url == "async"
    assert await c.aget(Db) is db  # singleton
    assert c.get(Db) is db  # built: get returns it


async def test_aget_of_async_factory_with_injected_params() -> None:
    c = InjectQ()
    c["url"] = "injected"

    async def make_db(url: str) -> Db:
        return Db(url)

    c.bind_factory(Db, make_db)
    a, b = await c.aget(Db), await c.aget(Db)
    assert a.url == "injected" and a is not b
    svc = await c.aget(Service)
    assert svc.db.url == "injected"


async def test_plain_factory_returning_awaitable_is_a_clear_error() -> None:
    c = InjectQ()

    def make() -> typing.Any:
        return asyncio.sleep(0, result=Db("late"))

    c.bind_factory(Db, make)
    with pytest.raises(InjectionError, match="async def"):
        c.get(Db)
    with pytest.raises(InjectionError, match="async def"):
        await c.aget(Db)


async def test_sync_get_while_aget_in_flight_errors_instead_of_deadlocking() -> None:
    c = InjectQ()
    entered, release = asyncio.Event(), asyncio.Event()

    async def make_db() -> Db:
        entered.set()
        await release.wait()
        return Db("x")

    c.bind(Db, make_db)
    task = asyncio.create_task(c.aget(Db))
    await entered.wait()
    with pytest.raises(InjectionError, match="aget"):
        c.get(Db)
    release.set()
    assert (await task) is await c.aget(Db)


# ------------------------------------------------------------------ invoke / ainvoke
def test_invoke_injects_the_rest() -> None:
    c = make_container()

    def handler(user_id: int, db: Db, *, flag: bool = False) -> tuple[int, Db, bool]:
        return user_id, db, flag

    c.bind_factory("handler", handler)
    assert c.invoke("handler", 1) == (1, c.get(Db), False)
    mine = Db("mine")
    assert c.invoke("handler", 2, mine, flag=True) == (2, mine, True)
    assert c.invoke("handler", user_id=3) == (3, c.get(Db), False)


async def test_ainvoke() -> None:
    c = make_container()

    async def handler(user_id: int, db: Db) -> tuple[int, Db]:
        await asyncio.sleep(0)
        return user_id, db

    c.bind_factory("handler", handler)
    assert await c.ainvoke("handler", 5) == (5, c.get(Db))


async def test_ainvoke_awaits_async_dependencies() -> None:
    c = InjectQ()

    async def make_cache() -> Cache:
        return Cache()

    c.bind(Cache, make_cache)

    def handler(n: int, cache: Cache) -> tuple[int, Cache]:
        return n, cache

    c.bind_factory("h", handler)
    n, cache = await c.ainvoke("h", 1)
    assert n == 1 and cache is await c.aget(Cache)


def test_invoke_unbound_key_raises() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError):
        c.invoke("nothing")


def test_inject_with_caller_args_sees_rebinding() -> None:
    c = make_container()

    @inject(container=c)
    def handler(n: int, db: Db) -> Db:
        return db

    first = handler(1)
    assert first is c.get(Db)
    replacement = Db("replaced")
    c.bind_instance(Db, replacement)
    assert handler(2) is replacement
    with c.override(Db, Db("over")):
        assert handler(3).url == "over"
    assert handler(4) is replacement


async def test_partial_calls_of_every_shape() -> None:
    # a call giving some arguments runs a caller generated for its shape: parameters
    # named like its own locals, a sync callable returning an awaitable (ainvoke), an
    # unhashable callable, and each injected argument seen by a trace (through get/aget)
    c = make_container()

    @inject(container=c)
    async def handler(args: int, kwargs: Db, container: Cache, call: str = "d") -> tuple[Any, ...]:
        return args, kwargs, container, call

    assert await handler(1) == (1, c.get(Db), c.get(Cache), "d")
    assert await handler(2, call="x") == (2, c.get(Db), c.get(Cache), "x")
    mine = Cache()
    assert await handler(3, container=mine) == (3, c.get(Db), mine, "d")

    async def later(n: int, db: Db) -> tuple[int, Db]:
        return n, db

    def returns_awaitable(n: int, db: Db) -> Any:
        return later(n, db)

    c.bind_factory("returns_awaitable", returns_awaitable)
    assert await c.ainvoke("returns_awaitable", 4) == (4, c.get(Db))

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, n: int, db: Db) -> tuple[int, Db]:
            return n, db

    c.bind_factory("unhashable", Unhashable())
    assert c.invoke("unhashable", 5) == (5, c.get(Db))
    assert c.invoke("unhashable", 6) == (6, c.get(Db))
    assert await c.ainvoke("unhashable", 7) == (7, c.get(Db))

    with c.trace() as trace:
        await handler(8)
    assert [r.key for r in trace.roots] == [Db, Cache]


def test_inject_marker_outside_inject_resolves_lazily_from_active_container() -> None:
    c = make_container()
    c["url"] = "lazy"
    marker = Inject[Db]
    with c.context():
        assert marker.url == "lazy"  # attribute access resolves from the active container
    assert repr(Inject[Db]) == "Inject[Db]"


def test_a_parameter_annotated_any_is_filled_as_an_unannotated_one() -> None:
    # typing.Any is a class since Python 3.11: it must not be autowired (constructed)
    from dataclasses import dataclass, field

    @dataclass(slots=True)
    class Holder:
        conn: typing.Any = field(default=None)

    class Named:
        def __init__(self, url: typing.Any) -> None:
            self.url = url

    c = InjectQ()
    assert c.get(Holder).conn is None
    c["url"] = "sqlite://"
    assert c.get(Named).url == "sqlite://"


def test_inject_marker_stays_a_marker_at_run_time() -> None:
    # Type checkers read Inject[T] as T (a metaclass __getitem__, issue 13); at run time
    # it is still the Inject object @inject recognises
    from injectq.core.markers import inject_key_of

    marker = Inject[Db]
    assert type(marker) is Inject
    assert inject_key_of(marker) is Db
    assert inject_key_of(Inject["primary"]) == "primary"
    assert inject_key_of(Inject[list[int]]) == list[int]
    assert isinstance(marker, Inject)
