"""Activations in flight when their scope exits (DESIGN §3.3, §3.6).

A task or a copied-context thread may still be initializing a resource when the scope
that owns it exits: it goes live on a closed scope. Every place where an activation joins
its owner's stack checks ``owner.closed`` right after, and hands the activation here: it
is disposed at once and the caller gets ScopeError, so nothing stays live and unowned.
The check follows the push, and the exit sets ``closed`` before it pops: either the exit's
pop finds the entry, or the check sees the scope closed.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, NoReturn, Protocol

from injectq.lifecycle.calls import _transition
from injectq.lifecycle.states import LIVE, Owner
from injectq.utils.exceptions import ScopeError

__all__ = ["disown_async", "disown_sync"]


class _Entry(Protocol):
    """A resource state or a context entry: what an owner's stack holds."""

    label: str

    def release_sync(self, owner: Owner | None, exc: BaseException | None) -> BaseException | None:
        """Dispose it (sync); its error, or None."""

    def release_step(
        self, owner: Owner | None, exc: BaseException | None
    ) -> tuple[BaseException | None, Coroutine[Any, Any, BaseException | None] | None]:
        """Dispose it, its first step here; the rest, if any, to await."""


def _take_back(entry: _Entry, owner: Owner) -> bool:
    """Whether the caller must dispose ``entry``, which went live on ``owner`` after it
    closed: it is still on the stack (taken off it now), or the exit popped it while it was
    still initializing and let go of it without disposing it (its status is live with no
    holder; a context entry is pushed only once it is live, so the exit's pop disposed
    it)."""
    with _transition:
        try:
            owner.stack.remove(entry)
        except ValueError:
            # popped by the exit: it disposes a live state itself, unless it let go
            return (
                getattr(entry, "status", None) == LIVE
                and getattr(entry, "holder", None) is None
                and not getattr(entry, "more_holders", None)
            )
        return True


def _disowned(entry: _Entry, owner: Owner, error: BaseException | None) -> ScopeError:
    err = ScopeError(
        f"Scope {owner.label!r} closed while {entry.label} was being activated in it, so "
        "it was disposed again. Finish the work that uses a scope (await the tasks, join "
        "the threads you start in it) before the scope exits."
    )
    if error is not None:
        err.add_note(f"its disposal failed: {error!r}")
    return err


def disown_sync(entry: _Entry, owner: Owner | None) -> NoReturn:
    """``entry`` went live on ``owner``, which had closed: dispose it, raise ScopeError."""
    assert owner is not None
    error = entry.release_sync(owner, None) if _take_back(entry, owner) else None
    raise _disowned(entry, owner, error)


async def disown_async(entry: _Entry, owner: Owner | None) -> NoReturn:
    """:func:`disown_sync` in async code: the disposal is awaited in this task."""
    assert owner is not None
    error = None
    if _take_back(entry, owner):
        error, rest = entry.release_step(owner, None)
        if rest is not None:
            error = await rest
    raise _disowned(entry, owner, error)
