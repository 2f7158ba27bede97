"""The demo's settings: sizes, which requests fail (``--seed``), the request being served.

Everything else in the demo reads these; kept apart so the resources, the driver and the
report share one definition and import nothing of each other for it.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass
from pathlib import Path

PRODUCTS = 24
DB_POOL_SIZE = 8
HTTP_POOL_SIZE = 6
#: requests whose events are printed in full (plus the first of each failure kind)
FULL_LOG_REQUESTS = 2

current_request: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "injectq_demo_request", default=None
)


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True)
class FailurePlan:
    """Which requests meet the deliberately failing resources (decided by ``--seed``)."""

    init_fail: frozenset[int]
    dispose_fail: frozenset[int]

    @classmethod
    def build(cls, requests: int, seed: int) -> FailurePlan:
        """The plan for ``requests`` requests: about 8 % meet a failing initialize, 5 % a
        failing dispose; the same seed gives the same plan."""
        rng = random.Random(seed)  # noqa: S311  # a reproducible demo plan, not a secret
        ids = range(requests)
        n_init = max(1, round(requests * 0.08)) if requests >= 2 else 0
        n_dispose = max(1, round(requests * 0.05)) if requests >= 2 else 0
        return cls(frozenset(rng.sample(ids, n_init)), frozenset(rng.sample(ids, n_dispose)))


@dataclass
class DemoConfig:
    """Plain settings object, bound as an instance."""

    workdir: Path
    plan: FailurePlan

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.workdir / "demo.sqlite3"

    @property
    def log_path(self) -> Path:
        """The request log (one JSON line per request)."""
        return self.workdir / "requests.log"


class RequestContext:
    """Request-scoped plain object (not a resource): who the current request is."""

    def __init__(self) -> None:
        self.request_id = -1
