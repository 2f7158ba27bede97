"""Argument checks shared by the pool, the resource decorators, the container and the
health checker, so the same bad value gets the same clear error everywhere, at the time
it is given."""

from __future__ import annotations

import math

__all__ = ["check_timeout"]


def check_timeout(name: str, value: float | None) -> float | None:
    """Return ``value`` if it is a usable duration in seconds: None (no limit), an int or
    a finite float >= 0.

    Raises ``ValueError`` naming ``name`` for a bool (``True`` is not "1 second"), NaN,
    an infinity (say None for "no limit") or a negative number, and ``TypeError`` for
    anything that is not a number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        # a bool IS an int: its type passes, its value (True is not "1 second") does not
        raise ValueError(  # noqa: TRY004
            f"{name} must be a number of seconds >= 0 or None, got {value!r} (a bool)."
        )
    if not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds >= 0 or None, got {value!r} "
            f"({type(value).__name__})."
        )
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds >= 0 or None, got NaN.")
    if isinstance(value, float) and math.isinf(value):
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0, got {value!r}; use None for no limit."
        )
    if value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 or None, got {value!r}.")
    return value
