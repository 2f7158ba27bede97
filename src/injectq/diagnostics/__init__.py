"""Diagnostics: validation, dependency graphs, resolution tracing and profiling."""

from injectq.diagnostics.graph import ServiceNode
from injectq.diagnostics.profiling import DependencyProfiler
from injectq.diagnostics.validation import (
    DependencyValidator,
    ValidationError,
    ValidationProblem,
    ValidationResult,
)
from injectq.diagnostics.visualization import DependencyVisualizer

__all__ = [
    "DependencyProfiler",
    "DependencyValidator",
    "DependencyVisualizer",
    "ServiceNode",
    "ValidationError",
    "ValidationProblem",
    "ValidationResult",
]
