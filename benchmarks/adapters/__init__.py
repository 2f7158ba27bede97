"""One module per library, each exposing the same small interface.

Every adapter module defines ``NAME`` and one setup function per scenario:

- ``s1(m)``, ``s2(m)``, ``s5(m)``: return a zero-argument callable to time;
- ``s3(m)``: return a zero-argument callable that enters a request scope, resolves
  ``m.Handler``, exits the scope and returns the handler;
- ``s4(m)``: the same as a zero-argument coroutine function (``m.AHandler``);
- ``s6(classes)``: return a zero-argument callable that builds a new container holding
  the 200 classes (as singletons) and resolves each once, returning the instances in order.

``m`` is a fresh :func:`benchmarks.model.make_model` namespace. Setup functions raise
:class:`NotApplicable` when the library cannot express the scenario. The timed callables
are verified by :mod:`benchmarks.checks` before they are timed.
"""

ADAPTERS = (
    "floor",
    "injectq",
    "dishka",
    "wireup",
    "dependency_injector",
    "that_depends",
    "svcs",
)


class NotApplicable(Exception):
    """The library cannot express this scenario (the message says why)."""
