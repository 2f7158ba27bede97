"""injectq: dependency injection with resource lifecycle management."""
