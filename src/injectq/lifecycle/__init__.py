"""The resource state machine, below the core.

A resource's states (initializing → live → disposing → disposed, or failed), its
transitions, the monitor's counts, and how a state is attached to an instance. It imports
nothing of the core: scopes and the container's root reach it as an ``Owner``
(:mod:`injectq.lifecycle.states`), a protocol the core's ``Scope`` satisfies. The core's
planning and runtime call it; the add-ons (``injectq.resources``: pools, health,
decorators) build on both.

This package's ``__init__`` imports nothing, so importing one of its modules loads no
more than that module's own imports.
"""
