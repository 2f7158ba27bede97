"""wireup: ``@injectable`` (singleton / transient / scoped), ``create_sync_container`` /
``create_async_container``, ``enter_scope()``, ``@inject_from_container``."""

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from wireup import (
    Injected,
    create_async_container,
    create_sync_container,
    inject_from_container,
    injectable,
)

NAME = "wireup"


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    container = create_sync_container(injectables=[injectable(m.Config)])
    Config = m.Config
    container.get(Config)

    def get() -> object:
        return container.get(Config)

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    container = create_sync_container(
        injectables=[injectable(cls, lifetime="transient") for cls in (m.A, m.B, m.C, m.D)]
    )
    # wireup resolves transients only inside a scope (the root refuses them): open one
    # scope for the whole run, as a request handler would, and time ``get`` in it.
    scope = container.enter_scope().__enter__()
    A = m.A

    def get() -> object:
        return scope.get(A)

    return get


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    @injectable(lifetime="scoped")
    def res1(config: m.Config) -> Iterator[m.Res1]:
        r = m.Res1(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    @injectable(lifetime="scoped")
    def res2(config: m.Config) -> Iterator[m.Res2]:
        r = m.Res2(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    scoped = [injectable(c, lifetime="scoped") for c in (m.Svc1, m.Svc2, m.Svc3, m.Handler)]
    container = create_sync_container(injectables=[injectable(m.Config), res1, res2, *scoped])
    Handler = m.Handler

    def request() -> object:
        with container.enter_scope() as scope:
            return scope.get(Handler)

    return request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    @injectable(lifetime="scoped")
    async def res1(config: m.Config) -> AsyncIterator[m.ARes1]:
        r = m.ARes1(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    @injectable(lifetime="scoped")
    async def res2(config: m.Config) -> AsyncIterator[m.ARes2]:
        r = m.ARes2(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    scoped = [injectable(c, lifetime="scoped") for c in (m.ASvc1, m.ASvc2, m.ASvc3, m.AHandler)]
    container = create_async_container(injectables=[injectable(m.Config), res1, res2, *scoped])
    AHandler = m.AHandler

    async def request() -> object:
        async with container.enter_scope() as scope:
            return await scope.get(AHandler)

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    container = create_sync_container(
        injectables=[injectable(m.Config), injectable(m.SvcA), injectable(m.SvcB)]
    )

    @inject_from_container(container)
    def handler(a: Injected[m.SvcA], b: Injected[m.SvcB]) -> tuple[Any, Any]:
        return a, b

    return handler


def s6(classes: list[type]) -> Callable[[], list[object]]:
    def build() -> list[object]:
        container = create_sync_container(injectables=[injectable(cls) for cls in classes])
        return [container.get(cls) for cls in classes]

    return build
