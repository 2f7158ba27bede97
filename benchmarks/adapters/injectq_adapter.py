"""injectq: ``InjectQ`` + ``bind`` (singleton / transient / "request"), ``@resource``
classes with ``initialize()`` / ``dispose()``, ``with`` / ``async with c.scope("request")``,
``@inject(container=c)``. Autowired from type hints throughout.

With ``INJECTQ_BENCH_TRACED_ONCE=1`` in the environment, S1 and S3 first run one call
inside a ``with c.trace():`` block, so the timing shows what a container whose trace has
ended costs (issue 14: tracing costs nothing when off)."""

import os
import types
from collections.abc import Awaitable, Callable
from typing import Any

from injectq import InjectQ, inject, resource

NAME = "injectq"
_TRACED_ONCE = os.environ.get("INJECTQ_BENCH_TRACED_ONCE") == "1"


def _traced_once(c: InjectQ, call: Callable[[], object]) -> None:
    if _TRACED_ONCE:
        with c.trace() as trace:
            call()
        assert trace.roots, "the trace recorded nothing"


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    c = InjectQ()
    c.bind(m.Config, m.Config)  # default scope: singleton
    Config = m.Config
    c.get(Config)

    def get() -> object:
        return c.get(Config)

    _traced_once(c, get)
    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    c = InjectQ()
    for cls in (m.A, m.B, m.C, m.D):
        c.bind(cls, cls, scope="transient")
    A = m.A

    def get() -> object:
        return c.get(A)

    return get


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    c = InjectQ()
    c.bind(m.Config, m.Config)
    c.bind(m.Res1, resource(m.Res1), scope="request")
    c.bind(m.Res2, resource(m.Res2), scope="request")
    for cls in (m.Svc1, m.Svc2, m.Svc3, m.Handler):
        c.bind(cls, cls, scope="request")
    Handler = m.Handler

    def request() -> object:
        with c.scope("request"):
            return c.get(Handler)

    _traced_once(c, request)
    return request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    c = InjectQ()
    c.bind(m.Config, m.Config)
    c.bind(m.ARes1, resource(m.ARes1), scope="request")
    c.bind(m.ARes2, resource(m.ARes2), scope="request")
    for cls in (m.ASvc1, m.ASvc2, m.ASvc3, m.AHandler):
        c.bind(cls, cls, scope="request")
    AHandler = m.AHandler

    async def request() -> object:
        async with c.scope("request"):
            return await c.aget(AHandler)

    return request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    c = InjectQ()
    c.bind(m.Config, m.Config)
    c.bind(m.SvcA, m.SvcA)
    c.bind(m.SvcB, m.SvcB)

    @inject(container=c)
    def handler(a: m.SvcA, b: m.SvcB) -> tuple[Any, Any]:
        return a, b

    return handler  # type: ignore[no-any-return]


def s6(classes: list[type]) -> Callable[[], list[object]]:
    def build() -> list[object]:
        c = InjectQ()
        for cls in classes:
            c.bind(cls, cls)  # singleton
        return [c.get(cls) for cls in classes]

    return build
