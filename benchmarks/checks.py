"""Adapter checks, run before timing so no adapter can win by doing less.

Each check raises :class:`CheckFailed` with a short reason, shown in the table as
``FAIL(reason)``.
"""

import asyncio
import types
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import model


class CheckFailed(Exception):
    pass


def _require(cond: bool, reason: str) -> None:
    if not cond:
        raise CheckFailed(reason)


def check_s1(m: types.SimpleNamespace, fn: Callable[[], object]) -> None:
    first = fn()
    _require(isinstance(first, m.Config), f"got {type(first).__name__}, not Config")
    for _ in range(3):
        _require(fn() is first, "singleton is not the same object across calls")


def check_s2(m: types.SimpleNamespace, fn: Callable[[], Any]) -> None:
    a1, a2 = fn(), fn()
    for a in (a1, a2):
        _require(isinstance(a, m.A), f"got {type(a).__name__}, not A")
        _require(isinstance(a.b, m.B) and isinstance(a.d, m.D), "A's dependencies are wrong")
        _require(isinstance(a.b.c, m.C), "B's dependency is wrong")
    _require(a1 is not a2, "transient A is reused")
    _require(a1.b is not a2.b and a1.d is not a2.d, "transient B/D are reused")
    _require(a1.b.c is not a2.b.c, "transient C is reused")


def _check_scope_events(
    m: types.SimpleNamespace,
    handlers: list[Any],
    events: list[tuple[str, object]],
    res_types: tuple[type, type],
    handler_type: type,
) -> None:
    _require(len(handlers) == 3, "internal: expected three scopes")
    configs = set()
    for h in handlers:
        _require(isinstance(h, handler_type), f"got {type(h).__name__}, not the handler")
        _require(isinstance(h.r1, res_types[0]) and isinstance(h.r2, res_types[1]), "bad resources")
        _require(h.s1.r1 is h.r1 and h.s2.r2 is h.r2, "resource not shared within the scope")
        _require(
            h.r1.config is h.r2.config is h.s3.config, "Config not shared (singleton) in scope"
        )
        configs.add(id(h.r1.config))
        _require(h.r1.state == 2 and h.r2.state == 2, "resource not disposed after scope exit")
    _require(len(configs) == 1, "Config singleton differs between scopes")
    h1, h2, h3 = handlers
    _require(h1 is not h2 and h2 is not h3, "handler reused across scopes")
    _require(h1.s1 is not h2.s1 and h1.s3 is not h2.s3, "scoped service reused across scopes")
    _require(h1.r1 is not h2.r1 and h1.r2 is not h2.r2, "resource reused across scopes")
    _require(isinstance(h1.r1.config, m.Config), "Config has the wrong type")

    # Per scope, in order: two inits, the handler, then the two disposals in reverse order.
    _require(len(events) == 15, f"expected 15 events for 3 scopes, got {len(events)}")
    for k, h in enumerate(handlers):
        chunk = events[5 * k : 5 * k + 5]
        kinds = [e for e, _ in chunk]
        objs = [o for _, o in chunk]
        _require(
            kinds == ["init", "init", "handler", "dispose", "dispose"],
            "events per scope are not init,init,resolve,dispose,dispose: " + ",".join(kinds),
        )
        _require(objs[2] is h, "handler constructed outside its scope's window")
        inits, disposals = objs[:2], objs[3:]
        _require({id(o) for o in inits} == {id(h.r1), id(h.r2)}, "wrong resources initialized")
        _require(disposals == inits[::-1], "disposal not in reverse init order")


def check_s3(m: types.SimpleNamespace, fn: Callable[[], Any]) -> None:
    model.LOG = []
    try:
        handlers = [fn() for _ in range(3)]
        events = model.LOG
    finally:
        model.LOG = None
    _check_scope_events(m, handlers, events, (m.Res1, m.Res2), m.Handler)


def check_s4(
    m: types.SimpleNamespace, fn: Callable[[], Awaitable[Any]], loop: asyncio.AbstractEventLoop
) -> None:
    async def three() -> list[Any]:
        return [await fn() for _ in range(3)]

    model.LOG = []
    try:
        handlers = loop.run_until_complete(three())
        events = model.LOG
    finally:
        model.LOG = None
    _check_scope_events(m, handlers, events, (m.ARes1, m.ARes2), m.AHandler)


def check_s5(m: types.SimpleNamespace, fn: Callable[[], Any]) -> None:
    r1, r2 = fn(), fn()
    _require(isinstance(r1, tuple) and len(r1) == 2, "injected function returned the wrong value")
    a, b = r1
    _require(isinstance(a, m.SvcA) and isinstance(b, m.SvcB), "wrong objects injected")
    _require(r2[0] is a and r2[1] is b, "singletons differ between calls")


def check_s6(classes: list[type], fn: Callable[[], Any]) -> None:
    out = list(fn())
    _require(len(out) == len(classes), f"resolved {len(out)} objects, expected {len(classes)}")
    for i, (cls, obj) in enumerate(zip(classes, out, strict=True)):
        _require(type(obj) is cls, f"object {i} is {type(obj).__name__}, not {cls.__name__}")
        for k, j in enumerate(model.s6_deps(i)):
            _require(getattr(obj, f"d{k}") is out[j], f"K{i}.d{k} is not the K{j} singleton")
    again = list(fn())
    _require(again[0] is not out[0], "a new container returned the old container's objects")
