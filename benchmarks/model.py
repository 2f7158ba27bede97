"""The classes every adapter wires up, and the event log the checks read.

``make_model()`` returns a *fresh* set of classes each call, so that one library's
decorators or caches can never leak into another adapter. Annotations are evaluated
eagerly (no ``from __future__ import annotations``) so locally defined classes resolve
through ``typing.get_type_hints`` for every library.

The log is off (``None``) while timing; the checks switch it on.
"""

import types
from typing import Any

# Set to a list by the checks; every resource init/dispose and every handler construction
# is appended as ``(event, object)``. ``None`` while timing (one global lookup per event).
LOG: list[tuple[str, object]] | None = None


def _record(event: str, obj: object) -> None:
    if LOG is not None:
        LOG.append((event, obj))


def _init_handler(h: Any, s1: object, s2: object, s3: object, r1: object, r2: object) -> None:
    h.s1 = s1
    h.s2 = s2
    h.s3 = s3
    h.r1 = r1
    h.r2 = r2
    _record("handler", h)


def make_model(reverse: bool = False) -> types.SimpleNamespace:
    """A fresh namespace of the benchmark's classes (see DESIGN §5 scenarios).

    ``reverse=True`` gives handlers whose parameters ask for the second resource first, so
    the resources are initialized in the opposite order to their registration: with both
    variants checked, a library that disposes in registration (or set/dict) order instead
    of reverse initialization order fails. ``handler_params`` is the handler's parameter
    order, for adapters that wire explicitly (they pass arguments in that order).
    """

    # --- S1 / shared singleton -------------------------------------------------------
    class Config:
        def __init__(self) -> None:
            self.url = "sqlite://"

    # --- S2: transient graph A(B(C), D) ----------------------------------------------
    class C:
        def __init__(self) -> None:
            pass

    class B:
        def __init__(self, c: C) -> None:
            self.c = c

    class D:
        def __init__(self) -> None:
            pass

    class A:
        def __init__(self, b: B, d: D) -> None:
            self.b = b
            self.d = d

    # --- S3: sync request scope --------------------------------------------------------
    # Two resources (initialize/dispose) depending on the singleton Config, three plain
    # request-scoped services, and a request-scoped handler needing all five.
    class Res1:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.state = 0  # 0 created, 1 live, 2 disposed

        def initialize(self) -> None:
            self.state = 1
            _record("init", self)

        def dispose(self) -> None:
            self.state = 2
            _record("dispose", self)

    class Res2:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.state = 0

        def initialize(self) -> None:
            self.state = 1
            _record("init", self)

        def dispose(self) -> None:
            self.state = 2
            _record("dispose", self)

    class Svc1:
        def __init__(self, r1: Res1) -> None:
            self.r1 = r1

    class Svc2:
        def __init__(self, r2: Res2) -> None:
            self.r2 = r2

    class Svc3:
        def __init__(self, config: Config) -> None:
            self.config = config

    class Handler:
        if reverse:

            def __init__(self, s2: Svc2, s1: Svc1, s3: Svc3, r2: Res2, r1: Res1) -> None:
                _init_handler(self, s1, s2, s3, r1, r2)

        else:

            def __init__(self, s1: Svc1, s2: Svc2, s3: Svc3, r1: Res1, r2: Res2) -> None:
                _init_handler(self, s1, s2, s3, r1, r2)

    # --- S4: the same, async -------------------------------------------------------------
    class ARes1:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.state = 0

        async def initialize(self) -> None:
            self.state = 1
            _record("init", self)

        async def dispose(self) -> None:
            self.state = 2
            _record("dispose", self)

    class ARes2:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.state = 0

        async def initialize(self) -> None:
            self.state = 1
            _record("init", self)

        async def dispose(self) -> None:
            self.state = 2
            _record("dispose", self)

    class ASvc1:
        def __init__(self, r1: ARes1) -> None:
            self.r1 = r1

    class ASvc2:
        def __init__(self, r2: ARes2) -> None:
            self.r2 = r2

    class ASvc3:
        def __init__(self, config: Config) -> None:
            self.config = config

    class AHandler:
        if reverse:

            def __init__(self, s2: ASvc2, s1: ASvc1, s3: ASvc3, r2: ARes2, r1: ARes1) -> None:
                _init_handler(self, s1, s2, s3, r1, r2)

        else:

            def __init__(self, s1: ASvc1, s2: ASvc2, s3: ASvc3, r1: ARes1, r2: ARes2) -> None:
                _init_handler(self, s1, s2, s3, r1, r2)

    # --- S5: injected function needing two singletons -----------------------------------
    class SvcA:
        def __init__(self) -> None:
            pass

    class SvcB:
        def __init__(self, config: Config) -> None:
            self.config = config

    ns = types.SimpleNamespace(**{k: v for k, v in locals().items() if isinstance(v, type)})
    ns.handler_params = (
        ("s2", "s1", "s3", "r2", "r1") if reverse else ("s1", "s2", "s3", "r1", "r2")
    )
    return ns


# --- S6: 200 generated classes ----------------------------------------------------------
S6_COUNT = 200


def s6_deps(i: int) -> list[int]:
    """Indices of the classes that class ``i`` depends on: chains of 10 with diamonds."""
    g = i % 10
    if g == 0:
        return []
    deps = [i - 1]
    if g >= 2 and g % 3 == 0:
        deps.append(i - 2)
    if g == 9:
        deps.append(i - 9)  # back to the chain's root: a small diamond
    return deps


def _s6_source() -> str:
    lines = []
    for i in range(S6_COUNT):
        deps = s6_deps(i)
        params = "".join(f", d{k}: K{j}" for k, j in enumerate(deps))
        body = "".join(f"        self.d{k} = d{k}\n" for k in range(len(deps))) or "        pass\n"
        lines.append(f"class K{i}:\n    def __init__(self{params}) -> None:\n{body}")
    lines.append("CLASSES = [" + ", ".join(f"K{i}" for i in range(S6_COUNT)) + "]")
    return "\n".join(lines)


_S6_CODE = compile(_s6_source(), "<benchmarks.s6_classes>", "exec")


def make_s6_classes() -> list[type]:
    """A fresh list of 200 classes (new class objects every call: no library cache hits)."""
    ns: dict[str, Any] = {"__name__": "benchmarks_s6_generated"}
    exec(_S6_CODE, ns)
    return ns["CLASSES"]  # type: ignore[no-any-return]
