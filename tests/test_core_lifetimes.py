"""Core: lifetimes and scopes (issue 2)."""

from __future__ import annotations

import asyncio

import pytest

from injectq import (
    BindingError,
    InjectQ,
    ScopeError,
    register_as,
    scoped,
    singleton,
    transient,
)


class Thing:
    pass


class Other:
    def __init__(self, thing: Thing) -> None:
        self.thing = thing


# ------------------------------------------------------------------ basic lifetimes
def test_singleton_built_once() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="singleton")
    assert c.get(Thing) is c.get(Thing)


def test_transient_new_each_time() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="transient")
    assert c.get(Thing) is not c.get(Thing)


def test_singleton_shared_by_dependents() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="singleton")
    assert c.get(Other).thing is c.get(Other).thing is c.get(Thing)


@pytest.mark.parametrize("name", ["request", "action", "tenant"])
def test_named_scopes_cache_per_scope(name: str) -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope=name)
    with c.scope(name):
        a = c.get(Thing)
        assert c.get(Thing) is a
        assert c.get(Other).thing is a
    with c.scope(name):
        b = c.get(Thing)
        assert b is not a


def test_scope_type_enum_accepted() -> None:
    from injectq import ScopeType

    c = InjectQ()
    c.bind(Thing, Thing, scope=ScopeType.REQUEST)
    with c.scope(ScopeType.REQUEST):
        assert c.get(Thing) is c.get(Thing)


# ------------------------------------------------ new scope => new scoped instances
def test_new_sync_scope_gives_new_scoped_instances() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    seen = []
    for _ in range(3):
        with c.scope("request"):
            seen.append(c.get(Thing))
    assert len({id(x) for x in seen}) == 3


async def test_new_async_scope_gives_new_scoped_instances() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    seen = []
    for _ in range(3):
        async with c.scope("request"):
            a = await c.aget(Thing)
            assert await c.aget(Thing) is a
            assert c.get(Thing) is a
            seen.append(a)
    assert len({id(x) for x in seen}) == 3


async def test_async_scope_alias() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    async with c.async_scope("request"):
        a = await c.aget(Thing)
    async with c.async_scope("request"):
        assert await c.aget(Thing) is not a


async def test_concurrent_tasks_get_their_own_scopes() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")

    async def one() -> Thing:
        async with c.scope("request"):
            first = await c.aget(Thing)
            await asyncio.sleep(0)
            assert await c.aget(Thing) is first
            return first

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert len({id(x) for x in results}) == 20


def test_nested_scopes_inner_sees_outer_named_scope() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    c.bind(Other, Other, scope="action")
    with c.scope("request"):
        t = c.get(Thing)
        with c.scope("action"):
            o = c.get(Other)
            assert o.thing is t
            assert c.get(Other) is o
        with c.scope("action"):
            assert c.get(Other) is not o
            assert c.get(Other).thing is t


# ------------------------------------------------- scoped key outside its scope
def test_scoped_key_outside_scope_raises_scope_error() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    with pytest.raises(ScopeError, match="request"):
        c.get(Thing)
    with c.scope("action"):  # wrong scope
        with pytest.raises(ScopeError):
            c.get(Thing)


async def test_scoped_key_outside_scope_raises_scope_error_async() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    with pytest.raises(ScopeError):
        await c.aget(Thing)


def test_scoped_dependency_of_transient_outside_scope_raises() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    with pytest.raises(ScopeError):
        c.get(Other)  # transient Other needs request-scoped Thing


def test_scoped_key_after_scope_exit_raises() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    with c.scope("request"):
        c.get(Thing)
    with pytest.raises(ScopeError):
        c.get(Thing)


def test_scope_cannot_be_reentered() -> None:
    c = InjectQ()
    s = c.scope("request")
    with s:
        pass
    with pytest.raises(ScopeError):
        with s:
            pass


def test_singleton_and_transient_are_not_enterable_scopes() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.scope("singleton")
    with pytest.raises(BindingError):
        c.scope("transient")


def test_singleton_first_built_inside_scope_survives_it() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="singleton")
    with c.scope("request"):
        t = c.get(Thing)
    assert c.get(Thing) is t


# ------------------------------------------------- get and aget honour lifetimes alike
@pytest.mark.parametrize("first", ["get", "aget"])
async def test_get_and_aget_share_singleton(first: str) -> None:
    c = InjectQ()
    built = 0

    class Counted:
        def __init__(self) -> None:
            nonlocal built
            built += 1

    c.bind(Counted, Counted, scope="singleton")
    if first == "get":
        a = c.get(Counted)
        b = await c.aget(Counted)
    else:
        a = await c.aget(Counted)
        b = c.get(Counted)
    assert a is b and built == 1


@pytest.mark.parametrize("first", ["get", "aget"])
async def test_get_and_aget_share_async_dependent_singleton(first: str) -> None:
    c = InjectQ()
    built = 0

    async def make_thing() -> Thing:
        nonlocal built
        built += 1
        await asyncio.sleep(0)
        return Thing()

    c.bind(Thing, make_thing, scope="singleton")
    a = await c.aget(Thing)
    b = c.get(Thing)  # already built: the sync path returns it
    assert a is b and built == 1


async def test_get_and_aget_share_scoped_instance() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="request")
    async with c.scope("request"):
        a = c.get(Thing)
        assert await c.aget(Thing) is a
    async with c.scope("request"):
        b = await c.aget(Thing)
        assert c.get(Thing) is b


async def test_transient_via_aget_is_new_each_time() -> None:
    c = InjectQ()
    c.bind(Thing, Thing, scope="transient")
    assert await c.aget(Thing) is not await c.aget(Thing)


# ------------------------------------------------------------------ decorators
def test_singleton_decorator_registers_in_given_container() -> None:
    c = InjectQ()

    class S:
        pass

    assert singleton(S, container=c) is S
    assert c.get(S) is c.get(S)
    assert S in c._bindings


def test_transient_decorator() -> None:
    c = InjectQ()

    class T:
        pass

    transient(T, container=c)
    assert c.get(T) is not c.get(T)


def test_scoped_decorator() -> None:
    c = InjectQ()

    @scoped("request", container=c)
    class R:
        pass

    with pytest.raises(ScopeError):
        c.get(R)
    with c.scope("request"):
        r = c.get(R)
        assert c.get(R) is r


def test_decorators_register_in_active_container() -> None:
    c = InjectQ()
    with c.context():

        @singleton
        class S:
            pass

    assert S in c._bindings
    assert c.get(S) is c.get(S)


def test_declared_lifetime_honoured_when_autowired_elsewhere() -> None:
    home = InjectQ()

    @scoped("request", container=home)
    class R:
        pass

    other = InjectQ()  # never told about R: autowires it with its declared lifetime
    with pytest.raises(ScopeError):
        other.get(R)
    with other.scope("request"):
        assert other.get(R) is other.get(R)


def test_register_as() -> None:
    c = InjectQ()

    class Port:
        pass

    @register_as(Port, container=c)
    class Adapter(Port):
        pass

    assert isinstance(c.get(Port), Adapter)
    assert c.get(Port) is c.get(Port)

    @register_as("named", scope="transient", container=c)
    class Named:
        pass

    assert c.get("named") is not c.get("named")


def test_lifetime_decorator_on_non_class_is_binding_error() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        singleton(lambda: 1, container=c)  # type: ignore[type-var]


def test_get_of_built_singleton_is_the_ready_dicts_getitem() -> None:
    c = InjectQ()
    c.bind(Thing, Thing)
    thing = c.get(Thing)
    # the hot path is one C call: no Python frame between the caller and the dict
    assert type(c.get).__name__ == "builtin_function_or_method"
    assert isinstance(c.get.__self__, dict)
    assert c.get.__self__[Thing] is thing
