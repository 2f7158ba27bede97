"""The floor: what a person writes by hand, no container."""

import types
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import model

NAME = "floor"
# Hand-written code has no per-class cache, so S6 may reuse one class set.
S6_FRESH_CLASSES = False


def s1(m: types.SimpleNamespace) -> Callable[[], object]:
    singletons: dict[type, object] = {m.Config: m.Config()}
    config_key = m.Config

    def get() -> object:
        return singletons[config_key]

    return get


def s2(m: types.SimpleNamespace) -> Callable[[], object]:
    A, B, C, D = m.A, m.B, m.C, m.D

    def build() -> object:
        return A(B(C()), D())

    return build


def s3(m: types.SimpleNamespace) -> Callable[[], object]:
    config = m.Config()
    Res1, Res2, Svc1, Svc2, Svc3, Handler = m.Res1, m.Res2, m.Svc1, m.Svc2, m.Svc3, m.Handler

    def request() -> object:
        r1 = Res1(config)
        r1.initialize()
        try:
            r2 = Res2(config)
            r2.initialize()
            try:
                handler = Handler(Svc1(r1), Svc2(r2), Svc3(config), r1, r2)
            finally:
                r2.dispose()
        finally:
            r1.dispose()
        return handler

    def request_reversed() -> object:  # the handler of make_model(reverse=True)
        r2 = Res2(config)
        r2.initialize()
        try:
            r1 = Res1(config)
            r1.initialize()
            try:
                handler = Handler(Svc2(r2), Svc1(r1), Svc3(config), r2, r1)
            finally:
                r1.dispose()
        finally:
            r2.dispose()
        return handler

    return request_reversed if m.handler_params[0] == "s2" else request


def s4(m: types.SimpleNamespace) -> Callable[[], Awaitable[object]]:
    config = m.Config()
    ARes1, ARes2, ASvc1, ASvc2, ASvc3, AHandler = (
        m.ARes1,
        m.ARes2,
        m.ASvc1,
        m.ASvc2,
        m.ASvc3,
        m.AHandler,
    )

    async def request() -> object:
        r1 = ARes1(config)
        await r1.initialize()
        try:
            r2 = ARes2(config)
            await r2.initialize()
            try:
                handler = AHandler(ASvc1(r1), ASvc2(r2), ASvc3(config), r1, r2)
            finally:
                await r2.dispose()
        finally:
            await r1.dispose()
        return handler

    async def request_reversed() -> object:
        r2 = ARes2(config)
        await r2.initialize()
        try:
            r1 = ARes1(config)
            await r1.initialize()
            try:
                handler = AHandler(ASvc2(r2), ASvc1(r1), ASvc3(config), r2, r1)
            finally:
                await r1.dispose()
        finally:
            await r2.dispose()
        return handler

    return request_reversed if m.handler_params[0] == "s2" else request


def s5(m: types.SimpleNamespace) -> Callable[[], object]:
    a = m.SvcA()
    b = m.SvcB(m.Config())

    def handler(a: Any, b: Any) -> tuple[Any, Any]:
        return a, b

    def call() -> object:
        return handler(a, b)

    return call


def _s6_floor_source() -> str:
    lines = ["def build():"]
    for i in range(model.S6_COUNT):
        args = ", ".join(f"k{j}" for j in model.s6_deps(i))
        lines.append(f"    k{i} = K{i}({args})")
    lines.append("    return [" + ", ".join(f"k{i}" for i in range(model.S6_COUNT)) + "]")
    return "\n".join(lines)


_S6_CODE = compile(_s6_floor_source(), "<benchmarks.floor_s6>", "exec")


def s6(classes: list[type]) -> Callable[[], list[object]]:
    # The straight-line code a person would write: k0 = K0(); k1 = K1(k0); ...
    ns: dict[str, Any] = {f"K{i}": cls for i, cls in enumerate(classes)}
    exec(_S6_CODE, ns)
    return ns["build"]  # type: ignore[no-any-return]
