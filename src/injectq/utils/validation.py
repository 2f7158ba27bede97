"""Checks of user-given numbers, made when they are given (not at first use)."""

from __future__ import annotations

import math

__all__ = ["check_timeout"]


def check_timeout(name: str, value: float | None) -> float | None:
    """``value`` if it is None or a finite number of seconds >= 0; else ValueError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return value
