"""What a container owns, from start to close: the resource lifecycle façade's work.

``InjectQ.start``/``start_sync``, ``close``/``aclose`` and ``get_all_resources`` are thin
methods over these functions: eager initialization of singleton resources (dependencies
first, rolled back on failure), disposal of the root scope's stack (on a private loop when
sync code meets an async disposal), and the live resources of the current scope chain.
Resolution never comes here; the container's hot path stays in ``container.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from injectq.core.bindings import SINGLETON, Kind
from injectq.core.scopes import _raise_after_exit
from injectq.lifecycle.machine import loop_running, resource_spec
from injectq.utils.exceptions import InjectQError

if TYPE_CHECKING:
    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope

__all__ = [
    "aclose",
    "close",
    "live_resource_entries",
    "root_needs_async",
    "start",
    "start_sync",
]


def live_resource_entries(container: InjectQ) -> list[tuple[Any, Any]]:
    """``(key, instance)`` of every live resource of the root and the current scope chain,
    outermost scope first."""
    scopes: list[Scope] = []
    scope: Scope | None = container._scope_var.get()
    while scope is not None:
        scopes.append(scope)
        scope = scope.parent
    if container._root not in scopes:
        scopes.append(container._root)
    entries: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    for owner in reversed(scopes):
        for entry in list(owner.stack):
            if not entry.is_live or id(entry) in seen:
                continue
            seen.add(id(entry))
            key = getattr(entry, "key", None)
            if key is None:
                key = entry.label
            entries.append((key, entry.instance))
    return entries


def root_needs_async(container: InjectQ) -> bool:
    """Whether disposing the root scope awaits something (an async ``dispose()``, or an
    initialization still in flight)."""
    root = container._root
    return bool(root._pending) or any(
        entry.needs_async_release for entry in root.stack if entry.is_live
    )


def close(container: InjectQ) -> None:
    """:meth:`InjectQ.close`: dispose the root scope's stack in reverse order."""
    if root_needs_async(container):
        if loop_running() is None:
            import asyncio

            asyncio.run(container.aclose())
            return
        raise InjectQError(
            "This container owns resources with async dispose(); inside a running "
            "event loop use `await container.aclose()`."
        )
    errors, interrupt = container._root.close_sync(None)
    container._after_root_close()
    _raise_after_exit("root", errors, interrupt, None)


async def aclose(container: InjectQ) -> None:
    """:meth:`InjectQ.aclose`: dispose the root scope's stack, awaiting async disposals."""
    errors, interrupt = await container._root.close_async(None)
    container._after_root_close()
    _raise_after_exit("root", errors, interrupt, None)


def _singleton_resource_keys(container: InjectQ, keys: tuple[Any, ...]) -> list[Any]:
    """``keys``, or when none are given every bound singleton resource or context factory."""
    if keys:
        return list(keys)
    chosen = []
    for key, binding in container._bindings.items():
        if binding.kind is Kind.INSTANCE:
            continue
        if binding.scope != SINGLETON:
            continue
        if binding.kind is Kind.CONTEXT or (
            binding.kind is Kind.CLASS and resource_spec(binding.provider) is not None
        ):
            chosen.append(key)
    return chosen


async def start(container: InjectQ, keys: tuple[Any, ...]) -> None:
    """:meth:`InjectQ.start`: validate, then initialize dependencies first; on failure
    dispose what was started (reverse order) and raise."""
    container.validate()
    try:
        for key in _singleton_resource_keys(container, keys):
            await container.aget(key)
    except BaseException as exc:
        errors, _interrupt = await container._root.close_async(exc)
        container._after_root_close()
        for err in errors:
            exc.add_note(f"rollback disposal failed: {err!r}")
        raise


def start_sync(container: InjectQ, keys: tuple[Any, ...]) -> None:
    """:meth:`InjectQ.start_sync`: :func:`start` for resources with sync ``initialize``."""
    container.validate()
    try:
        for key in _singleton_resource_keys(container, keys):
            container.get(key)
    except BaseException as exc:
        if root_needs_async(container):
            import asyncio

            errors, _ = asyncio.run(container._root.close_async(exc))
        else:
            errors, _ = container._root.close_sync(exc)
        container._after_root_close()
        for err in errors:
            exc.add_note(f"rollback disposal failed: {err!r}")
        raise
