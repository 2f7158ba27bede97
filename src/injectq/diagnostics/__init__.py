"""Diagnostics: validation and dependency graphs."""

from injectq.diagnostics.validation import DependencyValidator, ValidationResult

__all__ = ["DependencyValidator", "ValidationResult"]
