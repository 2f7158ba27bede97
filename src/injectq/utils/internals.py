"""Where injectq leans on the internals of CPython, asyncio or anyio: all in this module.

Each use is here for a measured reason (said next to it), is gated on the interpreter
versions it was measured on, and has a plain standard-library fallback. Setting the
environment variable ``INJECTQ_FAST_PATHS=0`` selects every fallback here (``own_code``,
``asyncio_lookups``; the anyio readers are no fast paths and stay), and turns off every
specialised path that asks :data:`FAST_PATHS`, each chosen once, at import or when its
function is built (docs/design.md says why each exists):

- ``lifecycle/fresh.py``: the per-binding activators of a just-constructed instance
  (the compiler is handed the general activation);
- ``lifecycle/entries.py``: a bare generator factory entered and finished by hand
  (contextlib drives every context factory);
- ``lifecycle/machine.py``: the lock-free disposal claim of fresh states and context
  entries (``ResourceState.fresh`` is never set, also in ``core/activation.py``), and
  an async disposal's first step taken by hand (``release_step``);
- ``core/activation.py``: factory-result types remembered as needing no checks;
- ``core/singletons.py``: the singleton walk's reading of a signature as its classes;
- ``core/analysis.py``: signatures read from the code object (``inspect.signature``
  reads every one);
- ``core/resolvers.py``: generated code that skips the cache lookup in an empty scope
  and the scope lookup of a plain transient, and ``aget`` of a key whose values carry
  no resource state returning the sync resolver's value without the state check;
- ``resources/pool_core.py``: the pool's checkout and return shortcuts.

So the test suite runs both ways (``.ci/run`` does; ``tests/test_fast_paths.py`` checks
that the paths really differ), and a suspected fast-path bug can be checked by switching
them off.

Nothing here imports asyncio or anyio: they are looked up in ``sys.modules`` when a caller
already needs them (``import injectq`` stays light for sync programs).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

__all__ = [
    "ANYIO_BACKEND",
    "FAST_PATHS",
    "UNKNOWN",
    "anyio_innermost_scope",
    "anyio_may_cancel",
    "asyncio_lookups",
    "own_code",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: False when ``INJECTQ_FAST_PATHS`` is ``0``/``false``/``no``/``off``: every
#: specialised path off, every internal below replaced by its fallback.
FAST_PATHS: Final = os.environ.get("INJECTQ_FAST_PATHS", "1").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}

# The versions the tricks below were measured on; elsewhere the fallbacks run.
_CPYTHON: Final = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (
    3,
    13,
)


def own_code(fn: _F) -> _F:
    """``fn`` with a code object of its own (CPython 3.11-3.13; else ``fn`` itself).

    Why: the resource fast paths are made once per binding from one source. Sharing the
    code shares its inline caches, and 3.11+ specialises each attribute access for the
    one class it saw: with two resource types (S3 activates two), every access on the
    state and the instance missed, ≈ 0.2 µs per resource (S3 4.4 -> 3.9 µs). A copy per
    binding keeps each access site seeing one class. The copy is the same code: nothing
    is written twice."""
    if not (FAST_PATHS and _CPYTHON):
        return fn
    copy = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__doc__ = fn.__doc__
    return cast("_F", copy)


def asyncio_lookups(aio: Any) -> tuple[Callable[[], Any], dict[Any, Any] | None]:
    """``(running_loop, tasks_by_loop)`` for the loaded asyncio module ``aio``:
    ``running_loop()`` is the running loop of this thread or None; ``tasks_by_loop`` is
    asyncio's own table of each loop's current task, or None where it is not to be read.

    Why: on 3.11 ``asyncio.current_task()`` is pure Python and ``get_running_loop()``
    raises when none runs; the resolvers ask "which task am I?" once per resolution and
    "is a loop running?" on every sync ``get`` of a resource (≈ 0.13 µs each saved).
    Fallback: the public functions."""
    if FAST_PATHS and _CPYTHON:
        get = getattr(aio.events, "_get_running_loop", None)
        table = getattr(aio.tasks, "_current_tasks", None)
        if callable(get):
            return get, table if isinstance(table, dict) else None

    def running_loop() -> Any:
        try:
            return aio.get_running_loop()
        except RuntimeError:
            return None

    return running_loop, None


#: anyio's asyncio backend: until it is imported, no anyio cancel scope exists on asyncio
ANYIO_BACKEND: Final = "anyio._backends._asyncio"


def anyio_may_cancel(task: object) -> bool:
    """Whether anyio could cancel ``task``: it runs inside an anyio cancel scope.

    Why: a scope's teardown is shielded under anyio (``core/_anyio.py``) with a cancel
    scope entered with the scope; entering one costs ≈ 5 µs, so it is entered only where
    anyio could cancel the task. anyio keeps each task's innermost cancel scope in a
    table of its asyncio backend; reading it is the only way to tell without entering a
    scope. Fallback (anyio without the table): yes whenever that backend is
    loaded, which is always safe (a shield that is never needed costs only time). Not
    a fast path: ``INJECTQ_FAST_PATHS=0`` leaves it on, as the behaviour depends on it."""
    backend = sys.modules.get(ANYIO_BACKEND)
    if backend is None:  # anyio never ran on asyncio: no cancel scope of it exists
        return False
    states = getattr(backend, "_task_states", None)
    if states is None:
        return True
    state = states.get(task)
    return state is not None and getattr(state, "cancel_scope", True) is not None


#: what :func:`anyio_innermost_scope` answers when it cannot tell
UNKNOWN: Final[Any] = object()


def anyio_innermost_scope(task: object) -> Any:
    """The innermost anyio cancel scope ``task`` is in (None: none), or :data:`UNKNOWN`.

    Why: a generator factory may leave a cancel scope open across its ``yield``; its
    exit must then not run inside a shield entered after it (anyio's scopes nest
    strictly). Comparing this before and after the generator's first step tells.
    Fallback (anyio without the table): UNKNOWN, and a generator's exit is not shielded.
    Not a fast path: ``INJECTQ_FAST_PATHS=0`` leaves it on."""
    backend = sys.modules.get(ANYIO_BACKEND)
    if backend is None:
        return None
    states = getattr(backend, "_task_states", None)
    if states is None:
        return UNKNOWN
    state = states.get(task)
    return None if state is None else getattr(state, "cancel_scope", UNKNOWN)
