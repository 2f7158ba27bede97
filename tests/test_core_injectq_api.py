"""Core: the rest of InjectQ 0.5's container API (issue 13): clear(), the factories
view, aget_factory, ContainerContext.use / use_async, InjectQ's import paths."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from injectq import (
    ContainerContext,
    DependencyNotFoundError,
    Inject,
    InjectionError,
    InjectQ,
    inject,
    resource,
)


class Db:
    def __init__(self, url: str) -> None:
        self.url = url


def test_clear_disposes_what_the_container_owns_and_removes_every_binding() -> None:
    closed: list[str] = []

    @resource
    class Conn:
        def initialize(self) -> None:
            self.conn = sqlite3.connect(":memory:")

        def dispose(self) -> None:
            self.conn.close()
            closed.append("conn")

    c = InjectQ()
    c["url"] = "sqlite://"
    c.bind(Conn)
    c.get(Conn).conn.execute("select 1")
    c.clear()
    assert closed == ["conn"]
    assert not c.has("url") and not c.has(Conn)
    with pytest.raises(DependencyNotFoundError):
        c.get(Db)
    assert c.get(InjectQ) is c  # the container itself stays resolvable
    c["url"] = "again"
    assert c.get(Db).url == "again"


def test_factories_view_binds_and_reads_factories() -> None:
    c = InjectQ()

    def make_db() -> Db:
        return Db("factory")

    c.factories[Db] = make_db
    assert c.get(Db).url == "factory"
    assert c.get(Db) is not c.get(Db)  # bind_factory: transient
    assert c.factories[Db] is make_db is c.get_factory(Db)
    assert Db in c.factories
    c["plain"] = 1
    assert "plain" not in c.factories
    del c.factories[Db]
    assert not c.has(Db)
    with pytest.raises(DependencyNotFoundError):
        c.factories["missing"]


async def test_aget_factory_returns_the_factory_or_raises() -> None:
    c = InjectQ()

    def loader(key: str) -> str:
        return f"data_{key}"

    c.bind_factory("loader", loader)
    assert await c.aget_factory("loader") is loader
    with pytest.raises(DependencyNotFoundError):
        await c.aget_factory("missing")


def test_container_context_use_sets_and_restores() -> None:
    first, second = InjectQ(), InjectQ()
    assert ContainerContext.get_current() is None
    with ContainerContext.use(first):
        assert ContainerContext.get_current() is first
        with ContainerContext.use(second):
            assert InjectQ.get_instance() is second
        assert ContainerContext.get_current() is first
    with pytest.raises(ValueError, match="body"), ContainerContext.use(first):
        raise ValueError("body")
    assert ContainerContext.get_current() is None


async def test_container_context_use_async_sets_and_restores_per_task() -> None:
    c = InjectQ()
    seen: list[InjectQ | None] = []

    async def other_task() -> None:
        seen.append(ContainerContext.get_current())

    other = asyncio.create_task(other_task())  # created outside: sees no container
    async with ContainerContext.use_async(c):
        assert ContainerContext.get_current() is c
        await other
    assert seen == [None]
    assert ContainerContext.get_current() is None


def test_injectq_import_paths() -> None:
    from injectq.core.registry import ServiceRegistry
    from injectq.core.scopes import ScopeType
    from injectq.decorators.inject import Inject as InjectFromModule

    assert InjectFromModule is Inject
    assert ScopeType.REQUEST == "request"
    assert isinstance(InjectQ()._bindings, ServiceRegistry)


def test_inject_on_a_class_is_an_injection_error() -> None:
    with pytest.raises(InjectionError, match="not the class NotAFunction"):

        @inject
        class NotAFunction:
            pass


def test_a_missing_dependency_of_an_injected_function_is_an_injection_error() -> None:
    c = InjectQ()

    @inject(container=c)
    def handler(db: Db) -> Db:
        return db

    with pytest.raises(InjectionError, match="url"):
        handler()
    assert issubclass(DependencyNotFoundError, InjectionError)


def test_inject_marker_outside_inject_passes_isinstance_of_the_resolved_type() -> None:
    c = InjectQ()
    c["url"] = "lazy"
    marker = Inject[Db]
    with c.context():
        assert isinstance(marker, Db)
        assert marker.url == "lazy"
    assert type(marker) is Inject


def test_a_factory_annotated_optional_may_return_none() -> None:
    c = InjectQ()

    def maybe_db() -> Db | None:
        return None

    def broken() -> Db:
        return None  # type: ignore[return-value]

    c.bind_factory(Db, maybe_db)
    assert c.get(Db) is None
    assert c.get(Db) is None
    c.bind_factory("broken", broken)
    with pytest.raises(InjectionError, match="returned None"):
        c.get("broken")


async def test_an_async_factory_annotated_optional_may_return_none() -> None:
    c = InjectQ()

    async def maybe_db() -> Db | None:
        return None

    c.bind_factory(Db, maybe_db)
    assert await c.aget(Db) is None
