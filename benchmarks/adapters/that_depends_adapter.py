"""that-depends: ``BaseContainer`` with ``providers.Singleton`` / ``Factory`` /
``ContextResource``, ``container_context(...)`` as the request scope, ``@inject`` with
``Provide[...]``.

that-depends does not autowire: dependencies are passed explicitly to providers (its
idiom). Only ``ContextResource`` is cached per context, so the plain services and the
handler are ``Factory`` providers (each is resolved once per request here).
"""

import itertools
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from that_depends import BaseContainer, Provide, container_context, inject, providers

from benchmarks import model


def _ordered(deps: dict[str, Any], params: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments in the handler's parameter order (as a user would write them)."""
    return {name: deps[name] for name in params}


NAME = "that_depends"
_ids = itertools.count()


def _container(attrs: dict[str, Any]) -> Any:
    # Container classes are registered globally by name: keep the names unique.
    return type(f"Bench{next(_ids)}", (BaseContainer,), attrs)


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    Container = _container({"config": providers.Singleton(m.Config)})
    provider = Container.config
    provider.resolve_sync()

    def get() -> object:
        return provider.resolve_sync()

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    c = providers.Factory(m.C)
    b = providers.Factory(m.B, c=c)
    d = providers.Factory(m.D)
    a = providers.Factory(m.A, b=b, d=d)
    Container = _container({"a": a, "b": b, "c": c, "d": d})
    provider = Container.a

    def get() -> object:
        return provider.resolve_sync()

    return get


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    def res1(config: Any) -> Iterator[Any]:
        r = m.Res1(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    def res2(config: Any) -> Iterator[Any]:
        r = m.Res2(config)
        r.initialize()
        try:
            yield r
        finally:
            r.dispose()

    config = providers.Singleton(m.Config)
    r1 = providers.ContextResource(res1, config=config)
    r2 = providers.ContextResource(res2, config=config)
    s1 = providers.Factory(m.Svc1, r1=r1)
    s2 = providers.Factory(m.Svc2, r2=r2)
    s3 = providers.Factory(m.Svc3, config=config)
    handler = providers.Factory(
        m.Handler, **_ordered(dict(s1=s1, s2=s2, s3=s3, r1=r1, r2=r2), m.handler_params)
    )
    Container = _container(
        {"config": config, "r1": r1, "r2": r2, "s1": s1, "s2": s2, "s3": s3, "handler": handler}
    )
    provider = Container.handler

    def request() -> object:
        with container_context(Container):
            return provider.resolve_sync()

    return request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    async def res1(config: Any) -> AsyncIterator[Any]:
        r = m.ARes1(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    async def res2(config: Any) -> AsyncIterator[Any]:
        r = m.ARes2(config)
        await r.initialize()
        try:
            yield r
        finally:
            await r.dispose()

    config = providers.Singleton(m.Config)
    r1 = providers.ContextResource(res1, config=config)
    r2 = providers.ContextResource(res2, config=config)
    s1 = providers.Factory(m.ASvc1, r1=r1)
    s2 = providers.Factory(m.ASvc2, r2=r2)
    s3 = providers.Factory(m.ASvc3, config=config)
    handler = providers.Factory(
        m.AHandler, **_ordered(dict(s1=s1, s2=s2, s3=s3, r1=r1, r2=r2), m.handler_params)
    )
    Container = _container(
        {"config": config, "r1": r1, "r2": r2, "s1": s1, "s2": s2, "s3": s3, "handler": handler}
    )
    provider = Container.handler

    async def request() -> object:
        async with container_context(Container):
            return await provider.resolve()

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    config = providers.Singleton(m.Config)
    Container = _container(
        {
            "config": config,
            "a": providers.Singleton(m.SvcA),
            "b": providers.Singleton(m.SvcB, config=config),
        }
    )

    @inject
    def handler(a: Any = Provide[Container.a], b: Any = Provide[Container.b]) -> tuple[Any, Any]:
        return a, b

    return handler


def s6(classes: list[type]) -> Callable[[], list[object]]:
    deps = [model.s6_deps(i) for i in range(len(classes))]

    def build() -> list[object]:
        # Explicit wiring (no autowiring): the dependency table stands for hand-written
        # ``k1 = providers.Singleton(K1, k0)`` declarations.
        provs: list[Any] = []
        for i, cls in enumerate(classes):
            provs.append(providers.Singleton(cls, *[provs[j] for j in deps[i]]))
        _container({f"k{i}": p for i, p in enumerate(provs)})
        return [p.resolve_sync() for p in provs]

    return build
