"""Shielding a scope's teardown under anyio, without depending on anyio (DESIGN §3.5).

Under anyio (Starlette, FastAPI) a cancelled cancel scope keeps cancelling every task
inside it until the task leaves it, so a teardown that awaits would be cut short at each
await. Starlette shields its own cleanups with ``anyio.CancelScope(shield=True)``; an
injectq scope's teardown is shielded the same way. With raw asyncio there is nothing to
shield from but ``task.cancel()``, which no cancel scope stops: there the disposal in
progress sees the cancellation like any asyncio code (see ``Scope.close_async``).

anyio's cancel scopes nest strictly within one task, and a generator factory may hold one
open across its ``yield`` (a task group, ``move_on_after``). A shield entered only at
teardown would sit on top of it, and the generator's exit would then fail ("exited a
cancel scope that isn't the current task's current cancel scope"). So the guard is a plain
cancel scope entered together with the injectq scope, *below* anything the body enters,
and made shielding when the teardown starts.

anyio is used only when the program has imported it already, and a guard is entered only
when the current task is inside an anyio cancel scope: elsewhere anyio cannot cancel it.
"""

from __future__ import annotations

import sys
from typing import Any

from injectq.utils.internals import ANYIO_BACKEND, anyio_may_cancel

__all__ = ["ANYIO_BACKEND", "enter_guard"]


def enter_guard(task: object) -> Any:
    """A cancel scope entered now in ``task`` (the current task) if anyio could cancel it,
    else None. Set its ``shield`` when the teardown starts; exit it, in the same task, when
    the teardown ends."""
    if task is None or not anyio_may_cancel(task):
        return None
    guard = sys.modules["anyio"].CancelScope()
    guard.__enter__()
    return guard
