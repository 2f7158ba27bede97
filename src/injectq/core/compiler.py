"""The compiler of one container: planning, code generation and singleton building,
wired together.

The container talks to this one object; its parts each have a job and a module:

- :mod:`injectq.core.planning`: which binding feeds every parameter (the ``Node`` graph,
  cycles, error paths);
- :mod:`injectq.core.activation`: the per-binding make functions and activators (what a
  node does beyond calling its provider);
- :mod:`injectq.core.resolvers`: the generated source of every resolver, built with
  :mod:`injectq.core.codegen`;
- :mod:`injectq.core.singletons`: the singleton walk;
- :mod:`injectq.core.claims`: the creation claims the last two take.

What they may use of the container is :class:`~injectq.core.host.ContainerHost`.
Everything compiled is thrown away when the registry changes (:meth:`Compiler.reset`),
so generated code never sees a stale binding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from injectq.core.activation import Activation
from injectq.core.planning import Node, Planner
from injectq.core.resolvers import Resolvers
from injectq.core.singletons import SingletonBuilder

if TYPE_CHECKING:
    from injectq.core.host import ContainerHost

__all__ = ["Compiler"]


class Compiler:
    """Plans and generated resolvers of one container, valid for one registry version.

    Its attributes are the entry points the container uses, taken from the parts once
    (a bound method each), so a call costs no more than it did on one class."""

    def __init__(self, host: ContainerHost) -> None:
        planner = self.planner = Planner(host.bindings)
        activation = self.activation = Activation(host)
        singletons = self.singletons = SingletonBuilder(
            host, planner, activation, self._scoped_resolver
        )
        resolvers = self.resolvers = Resolvers(host, planner, activation, singletons)
        #: held while planning and while compiling from plans
        self.lock = planner.lock
        #: key -> plan; empty when nothing was compiled (everything compiled comes from one)
        self.nodes = planner.nodes
        self.plan = planner.plan
        self.plan_param = planner.plan_param
        self.binding_for = planner.binding_for
        self.singleton_now = singletons.singleton_now
        self.acreate_singleton = singletons.acreate
        self.root_resolver = resolvers.root_resolver
        self.aroot_resolver = resolvers.aroot_resolver
        self.caller = resolvers.caller

    def _scoped_resolver(self, node: Node) -> Callable[[], Any]:
        # a singleton's walk that meets a scoped key resolves it with its generated resolver
        return self.resolvers.scoped_resolver(node, False)[0]

    def reset(self) -> None:
        """Forget every plan and generated function (the registry changed)."""
        if not self.nodes:  # everything compiled comes from a plan: nothing to forget
            return
        self.nodes.clear()
        self.activation.reset()
        self.resolvers.reset()
