"""The states of a resource activation, and what the state machine needs from the scope
that owns one (:class:`Owner`). At the bottom of the resources package: the state
machine, its fast path, the context entries and the scopes all speak these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

    from injectq.lifecycle.monitor import ResourceMonitor

__all__ = ["CREATED", "DISPOSED", "DISPOSING", "INITIALIZING", "LIVE", "Owner"]

CREATED, INITIALIZING, LIVE, DISPOSING, DISPOSED = range(5)
STATUS_NAMES = ("created", "initializing", "live", "disposing", "disposed")


class Owner(Protocol):
    """What the state machine needs from a scope (or the container's root)."""

    stack: list[Any]

    @property
    def label(self) -> str:
        """The scope's name, for messages and events."""

    @property
    def is_async(self) -> bool | None:
        """Whether it was entered with ``async with`` (None: not known, e.g. the root)."""

    @property
    def monitor(self) -> ResourceMonitor:
        """The monitor its resources are counted by."""

    @property
    def default_init_timeout(self) -> float | None:
        """The ``initialize()`` timeout of async calls whose resource sets none."""

    @property
    def default_dispose_timeout(self) -> float | None:
        """The ``dispose()`` timeout of async calls whose resource sets none."""

    @property
    def pending(self) -> list[asyncio.Task[Any]]:
        """Initializations scheduled in a running loop, joined at its exit."""

    @property
    def failures(self) -> list[tuple[Any, BaseException]]:
        """Failed scheduled initializations not yet reported, raised at its exit."""

    #: set when its exit starts: an activation that joins it afterwards is disowned
    closed: bool
