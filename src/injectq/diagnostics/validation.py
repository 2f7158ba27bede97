"""Validate a container's whole graph without building anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from injectq.core.container import InjectQ
from injectq.utils.exceptions import InjectQError

__all__ = ["DependencyValidator", "ValidationResult"]


@dataclass
class ValidationResult:
    errors: list[InjectQError] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


class DependencyValidator:
    """Plans every binding and collects every missing dependency and cycle."""

    def __init__(self, container: InjectQ) -> None:
        self.container = container

    def validate(self) -> ValidationResult:
        result = ValidationResult()
        keys: list[Any] = list(self.container.bindings)
        for key in keys:
            try:
                self.container._compiler.plan(key)
            except InjectQError as exc:
                result.errors.append(exc)
        return result
