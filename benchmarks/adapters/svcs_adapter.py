"""svcs: ``Registry`` + ``register_value`` / ``register_factory`` (generator factories for
cleanup), one ``Container`` per request closed by ``with`` / ``async with``.

svcs has no autowiring (factories are written by hand and call ``svcs_container.get``),
no transient lifetime (a container caches every instance) and no function injection
outside its web-framework integrations.
"""

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import svcs

from benchmarks import model
from benchmarks.adapters import NotApplicable

NAME = "svcs"


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    registry = svcs.Registry()
    registry.register_value(m.Config, m.Config())
    container = svcs.Container(registry)
    Config = m.Config
    container.get(Config)

    def get() -> object:
        return container.get(Config)

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    raise NotApplicable(
        "no transient lifetime (a Container caches every instance) and no autowiring"
    )


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    registry = svcs.Registry()
    registry.register_value(m.Config, m.Config())

    def res1(svcs_container: svcs.Container) -> Iterator[Any]:
        r = m.Res1(svcs_container.get(m.Config))
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    def res2(svcs_container: svcs.Container) -> Iterator[Any]:
        r = m.Res2(svcs_container.get(m.Config))
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    by_name = {"s1": m.Svc1, "s2": m.Svc2, "s3": m.Svc3, "r1": m.Res1, "r2": m.Res2}
    params = m.handler_params
    types_in_order = [by_name[p] for p in params]  # in the handler's parameter order

    def handler(svcs_container: svcs.Container) -> Any:
        return m.Handler(**dict(zip(params, svcs_container.get(*types_in_order), strict=True)))

    registry.register_factory(m.Res1, res1)
    registry.register_factory(m.Res2, res2)
    registry.register_factory(m.Svc1, lambda svcs_container: m.Svc1(svcs_container.get(m.Res1)))
    registry.register_factory(m.Svc2, lambda svcs_container: m.Svc2(svcs_container.get(m.Res2)))
    registry.register_factory(m.Svc3, lambda svcs_container: m.Svc3(svcs_container.get(m.Config)))
    registry.register_factory(m.Handler, handler)
    Handler = m.Handler

    def request() -> object:
        with svcs.Container(registry) as container:
            return container.get(Handler)

    return request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    registry = svcs.Registry()
    registry.register_value(m.Config, m.Config())

    async def res1(svcs_container: svcs.Container) -> AsyncIterator[Any]:
        r = m.ARes1(svcs_container.get(m.Config))
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    async def res2(svcs_container: svcs.Container) -> AsyncIterator[Any]:
        r = m.ARes2(svcs_container.get(m.Config))
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    async def svc1(svcs_container: svcs.Container) -> Any:
        return m.ASvc1(await svcs_container.aget(m.ARes1))

    async def svc2(svcs_container: svcs.Container) -> Any:
        return m.ASvc2(await svcs_container.aget(m.ARes2))

    by_name = {"s1": m.ASvc1, "s2": m.ASvc2, "s3": m.ASvc3, "r1": m.ARes1, "r2": m.ARes2}
    params = m.handler_params
    types_in_order = [by_name[p] for p in params]

    async def handler(svcs_container: svcs.Container) -> Any:
        values = await svcs_container.aget(*types_in_order)
        return m.AHandler(**dict(zip(params, values, strict=True)))

    registry.register_factory(m.ARes1, res1)
    registry.register_factory(m.ARes2, res2)
    registry.register_factory(m.ASvc1, svc1)
    registry.register_factory(m.ASvc2, svc2)
    registry.register_factory(m.ASvc3, lambda svcs_container: m.ASvc3(svcs_container.get(m.Config)))
    registry.register_factory(m.AHandler, handler)
    AHandler = m.AHandler

    async def request() -> object:
        async with svcs.Container(registry) as container:
            return await container.aget(AHandler)

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    raise NotApplicable("no function injection outside its web-framework integrations")


def s6(classes: list[type]) -> Callable[[], list[object]]:
    deps = [[classes[j] for j in model.s6_deps(i)] for i in range(len(classes))]

    def factory_for(cls: type, dep_types: list[type]) -> Callable[[svcs.Container], object]:
        if not dep_types:
            return lambda _svcs_container: cls()
        return lambda svcs_container: cls(*[svcs_container.get(d) for d in dep_types])

    def build() -> list[object]:
        # Hand-registered factories (svcs has no autowiring); the dependency table stands
        # for 200 hand-written factory functions.
        registry = svcs.Registry()
        for cls, dep_types in zip(classes, deps, strict=True):
            registry.register_factory(cls, factory_for(cls, dep_types))
        container = svcs.Container(registry)
        return [container.get(cls) for cls in classes]

    return build
