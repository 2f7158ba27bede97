"""The demo's event log: a monitor subscriber that tags each resource event with its request.

The driver subscribes it and the report counts and prints from it; separate so the
report does not import the driver.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from injectq import (
    ResourceEvent,
    ResourceInitializationError,
)
from injectq.cli.demo.config import (
    current_request,
)


@dataclass(frozen=True)
class LoggedEvent:
    """One monitor event, with the time since the start and the request that caused it."""

    at: float
    request: int | None
    kind: str
    resource_type: str
    scope: str
    duration: float | None
    error: str | None


class EventLog:
    """A monitor subscriber: keeps every event, tagged with the request that caused it."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.events: list[LoggedEvent] = []

    def __call__(self, event: ResourceEvent) -> None:
        """Record ``event`` (the monitor calls this)."""
        self.events.append(
            LoggedEvent(
                at=time.perf_counter() - self.start,
                request=current_request.get(),
                kind=event.kind,
                resource_type=event.resource_type,
                scope=event.scope,
                duration=event.duration,
                error=None if event.error is None else _describe_error(event.error),
            )
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """``{resource_type: {event_kind: count}}``."""
        table: dict[str, Counter[str]] = {}
        for ev in self.events:
            table.setdefault(ev.resource_type, Counter())[ev.kind] += 1
        kinds = ("created", "initialized", "init_failed", "disposed", "dispose_failed")
        return {name: {k: table[name][k] for k in kinds} for name in sorted(table)}


def _describe_error(error: BaseException) -> str:
    cause = error.__cause__
    if cause is not None and isinstance(error, ResourceInitializationError):
        return f"{type(error).__name__} <- {type(cause).__name__}: {cause}"
    return f"{type(error).__name__}: {error}"
