"""Diagnostics: validation, dependency graphs and resolution profiling."""

from injectq.diagnostics.profiling import DependencyProfiler
from injectq.diagnostics.validation import DependencyValidator, ValidationResult
from injectq.diagnostics.visualization import DependencyVisualizer

__all__ = ["DependencyProfiler", "DependencyValidator", "DependencyVisualizer", "ValidationResult"]
