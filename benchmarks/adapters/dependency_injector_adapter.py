"""dependency-injector: declarative containers with ``providers.Singleton`` / ``Factory`` /
``ContextLocalResource``, ``shutdown_resources()`` as the end of a request, ``@inject`` with
``Provide[...]`` and ``wire()``.

dependency-injector does not autowire: every dependency is wired explicitly in the
provider declarations (its idiom). It has no request-scoped cache for plain services, so
the three plain services and the handler are ``Factory`` providers (each is resolved once
per request here, which is observably the same).
"""

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from dependency_injector import containers, providers
from dependency_injector.wiring import Provide, inject

from benchmarks import model


def _ordered(deps: dict[str, Any], params: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments in the handler's parameter order (as a user would write them)."""
    return {name: deps[name] for name in params}


NAME = "dependency_injector"


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    class Container(containers.DeclarativeContainer):
        config = providers.Singleton(m.Config)

    container = Container()
    container.config()
    provider = container.config

    def get() -> object:
        return provider()

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    class Container(containers.DeclarativeContainer):
        c = providers.Factory(m.C)
        b = providers.Factory(m.B, c=c)
        d = providers.Factory(m.D)
        a = providers.Factory(m.A, b=b, d=d)

    container = Container()
    provider = container.a

    def get() -> object:
        return provider()

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

    class Container(containers.DeclarativeContainer):
        config = providers.Singleton(m.Config)
        r1 = providers.ContextLocalResource(res1, config=config)
        r2 = providers.ContextLocalResource(res2, config=config)
        s1 = providers.Factory(m.Svc1, r1=r1)
        s2 = providers.Factory(m.Svc2, r2=r2)
        s3 = providers.Factory(m.Svc3, config=config)
        handler = providers.Factory(
            m.Handler, **_ordered(dict(s1=s1, s2=s2, s3=s3, r1=r1, r2=r2), m.handler_params)
        )

    container = Container()
    handler = container.handler
    shutdown = container.shutdown_resources

    def request() -> object:
        try:
            return handler()
        finally:
            shutdown()

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

    class Container(containers.DeclarativeContainer):
        config = providers.Singleton(m.Config)
        r1 = providers.ContextLocalResource(res1, config=config)
        r2 = providers.ContextLocalResource(res2, config=config)
        s1 = providers.Factory(m.ASvc1, r1=r1)
        s2 = providers.Factory(m.ASvc2, r2=r2)
        s3 = providers.Factory(m.ASvc3, config=config)
        handler = providers.Factory(
            m.AHandler, **_ordered(dict(s1=s1, s2=s2, s3=s3, r1=r1, r2=r2), m.handler_params)
        )

    container = Container()
    handler = container.handler
    shutdown = container.shutdown_resources

    async def request() -> object:
        try:
            return await handler()
        finally:
            await shutdown()

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    class Container(containers.DeclarativeContainer):
        config = providers.Singleton(m.Config)
        a = providers.Singleton(m.SvcA)
        b = providers.Singleton(m.SvcB, config=config)

    @inject
    def handler(a: Any = Provide[Container.a], b: Any = Provide[Container.b]) -> tuple[Any, Any]:
        return a, b

    # wire() works on modules: put the function in one, as a user's module would hold it.
    module = types.ModuleType("benchmarks_di_s5")
    module.handler = handler  # type: ignore[attr-defined]
    container = Container()
    container.wire(modules=[module])
    return module.handler  # type: ignore[no-any-return]


def s6(classes: list[type]) -> Callable[[], list[object]]:
    deps = [model.s6_deps(i) for i in range(len(classes))]

    def build() -> list[object]:
        # Explicit wiring (no autowiring): the dependency table stands for hand-written
        # ``providers.Singleton(K1, k0)`` declarations.
        container = containers.DynamicContainer()
        provs: list[Any] = []
        for i, cls in enumerate(classes):
            p = providers.Singleton(cls, *[provs[j] for j in deps[i]])
            provs.append(p)
            setattr(container, f"k{i}", p)
        return [p() for p in provs]

    return build
