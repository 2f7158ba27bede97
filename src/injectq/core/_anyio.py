"""Shielding a scope's teardown under anyio, without depending on anyio (DESIGN §3.5).

Under anyio (Starlette, FastAPI) a cancelled cancel scope keeps cancelling every task
inside it until the task leaves it, so a teardown that awaits would be cut short at each
await. Starlette shields its own cleanups with ``anyio.CancelScope(shield=True)``; an
injectq scope's teardown is shielded the same way. With raw asyncio there is nothing to
shield from but ``task.cancel()``, which no cancel scope stops: there the disposal in
progress sees the cancellation like any asyncio code (see ``Scope.close_async``).

Each async disposal gets a shield of its own, entered in the exiting task right before
the disposal starts and left when it ends. Not one shield around the whole teardown:
anyio's cancel scopes belong to one task and nest strictly, and a scope may be exited by
another task than the one that entered it (Starlette streams a response from a child
task), or hold a generator factory that left a cancel scope of its own open across its
``yield``. Such a generator's exit is the one disposal left unshielded: it would leave its
own scope while the shield is the innermost one (``ContextEntry.shieldable``).

anyio is used only when the program has imported it already, and a shield only where
anyio could cancel the exiting task (it runs inside an anyio cancel scope).
"""

from __future__ import annotations

import sys
from typing import Any

from injectq.utils.internals import ANYIO_BACKEND, anyio_may_cancel

__all__ = ["ANYIO_BACKEND", "shield", "shields_needed"]


def shields_needed(task: object) -> bool:
    """Whether disposals run by ``task`` (the current task) need anyio shields."""
    return task is not None and anyio_may_cancel(task)


def shield() -> Any:
    """A fresh ``anyio.CancelScope(shield=True)``, to enter around one disposal."""
    return sys.modules["anyio"].CancelScope(shield=True)
