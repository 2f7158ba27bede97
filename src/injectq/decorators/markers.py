"""InjectQ-style import path of the ``Inject[T]`` marker (defined in the core)."""

from injectq.core.markers import Inject, inject_key_of

__all__ = ["Inject", "inject_key_of"]
