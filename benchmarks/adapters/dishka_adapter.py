"""dishka: ``Provider`` + ``provide`` with Scope.APP / Scope.REQUEST, ``make_container``."""

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from dishka import FromDishka, Provider, Scope, make_async_container, make_container
from dishka.integrations.base import wrap_injection

NAME = "dishka"


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    p = Provider(scope=Scope.APP)
    p.provide(m.Config)
    container = make_container(p)
    Config = m.Config
    container.get(Config)  # "an already-created singleton"

    def get() -> object:
        return container.get(Config)

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    p = Provider(scope=Scope.APP)
    for cls in (m.A, m.B, m.C, m.D):
        p.provide(cls, cache=False)  # cache=False: a new object on every request
    container = make_container(p)
    A = m.A

    def get() -> object:
        return container.get(A)

    return get


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    def res1(config: m.Config) -> Iterator[m.Res1]:
        r = m.Res1(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    def res2(config: m.Config) -> Iterator[m.Res2]:
        r = m.Res2(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    p = Provider()
    p.provide(m.Config, scope=Scope.APP)
    p.provide(res1, scope=Scope.REQUEST)
    p.provide(res2, scope=Scope.REQUEST)
    for cls in (m.Svc1, m.Svc2, m.Svc3, m.Handler):
        p.provide(cls, scope=Scope.REQUEST)
    container = make_container(p)
    Handler = m.Handler

    def request() -> object:
        with container() as scope:
            return scope.get(Handler)

    return request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    async def res1(config: m.Config) -> AsyncIterator[m.ARes1]:
        r = m.ARes1(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    async def res2(config: m.Config) -> AsyncIterator[m.ARes2]:
        r = m.ARes2(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    p = Provider()
    p.provide(m.Config, scope=Scope.APP)
    p.provide(res1, scope=Scope.REQUEST)
    p.provide(res2, scope=Scope.REQUEST)
    for cls in (m.ASvc1, m.ASvc2, m.ASvc3, m.AHandler):
        p.provide(cls, scope=Scope.REQUEST)
    container = make_async_container(p)
    AHandler = m.AHandler

    async def request() -> object:
        async with container() as scope:
            return await scope.get(AHandler)

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    p = Provider(scope=Scope.APP)
    p.provide(m.Config)
    p.provide(m.SvcA)
    p.provide(m.SvcB)
    container = make_container(p)

    def handler(a: FromDishka[m.SvcA], b: FromDishka[m.SvcB]) -> tuple[Any, Any]:
        return a, b

    # dishka's framework-agnostic injector (what its integrations' @inject are built on).
    injected = wrap_injection(func=handler, container_getter=lambda _args, _kwargs: container)
    return injected  # type: ignore[no-any-return]


def s6(classes: list[type]) -> Callable[[], list[object]]:
    def build() -> list[object]:
        p = Provider(scope=Scope.APP)
        for cls in classes:
            p.provide(cls)
        container = make_container(p)
        return [container.get(cls) for cls in classes]

    return build
