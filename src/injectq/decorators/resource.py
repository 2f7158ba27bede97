"""InjectQ's import path for the resource decorators."""

from injectq.resources.decorators import managed_resource, resource

__all__ = ["managed_resource", "resource"]
