"""Singleton building: a singleton is planned and built in one walk.

A singleton is built once per container, so generating code for it, or even keeping its
plan, would cost more than it saves. :meth:`SingletonBuilder.singleton_now` chooses each
parameter's key and resolves its value on the spot; once built, ``get`` finds the value
in the container's ready dict. Anything the walk meets that is not a singleton is
planned as usual (:mod:`injectq.core.planning`), continuing the walk's path, and built
from its plan here (transients) or by its generated resolver (scoped keys).

Creation is claimed per key (:mod:`injectq.core.claims`), never under a lock held while
user code runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any

from injectq.core.analysis import EMPTY, Param, analyze
from injectq.core.analysis import simple_hints as read_simple_hints
from injectq.core.bindings import CLASS, INSTANCE, SINGLETON, TRANSIENT, Binding, Kind
from injectq.core.claims import (
    MISS,
    CreationSlot,
    join_slot_async,
    join_slot_sync,
    release_claim,
    slot_for_claim,
)
from injectq.core.planning import Node, Value
from injectq.lifecycle.machine import current_task, is_resource_class, resource_spec
from injectq.utils.exceptions import (
    CircularDependencyError,
    DependencyNotFoundError,
    describe_key,
)
from injectq.utils.internals import FAST_PATHS

if TYPE_CHECKING:
    from injectq.core.activation import Activation
    from injectq.core.host import ContainerHost
    from injectq.core.planning import Planner
    from injectq.core.scopes import Scope

__all__ = ["SingletonBuilder"]

_NO_KWARGS: dict[str, Any] = {}  # only ever unpacked: ``f(*args, **_NO_KWARGS)``


def _general_path_only(fn: Any) -> None:
    """``INJECTQ_FAST_PATHS=0``: no signature is read as just its classes."""


#: The walk's shortcut reader (see singleton_now); chosen once here, so neither setting
#: pays a test per call. With fast paths off every signature goes through analyze.
simple_hints: Callable[[Any], list[Any] | None] = (
    read_simple_hints if FAST_PATHS else _general_path_only
)


class SingletonBuilder:
    """Builds the singletons of one container (and, from their plans, the transients
    they need)."""

    def __init__(
        self,
        host: ContainerHost,
        planner: Planner,
        activation: Activation,
        scoped_resolver: Callable[[Node], Callable[[], Any]],
    ) -> None:
        self.host = host
        self.planner = planner
        self.activation = activation
        #: the generated sync resolver of a scoped key (a singleton's walk may meet one)
        self.scoped_resolver = scoped_resolver

    def construct_now(self, node: Node, owner: Scope) -> Any:
        """Build ``node`` by walking its plan: for the transients a singleton needs,
        where generating code would cost more than it saves."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param, dep in node.args:
            value = dep.value if isinstance(dep, Value) else self.resolve_now(dep, owner)
            if param.keyword_only:
                kwargs[param.name] = value
            else:
                args.append(value)
        if self.activation.needs_maker(node):
            return self.activation.maker(node)(owner, *args, **kwargs)
        return node.binding.provider(*args, **kwargs)

    def resolve_now(self, node: Node, owner: Scope) -> Any:
        """The value of ``node`` for ``owner``, built now from its plan."""
        binding = node.binding
        if binding.kind is INSTANCE:
            if node.spec is not None:
                self.activation.activate_sync(binding.provider, node.key, owner)
            return binding.provider
        if binding.scope == SINGLETON:
            return self.singleton_now(node.key, binding)
        if binding.scope == TRANSIENT:
            return self.construct_now(node, owner)
        return self.scoped_resolver(node)()

    # ------------------------------------------------------------------ singletons
    # A singleton is built once per container, so it is planned and built in one walk:
    # each parameter's key is chosen and its value resolved on the spot, and nothing
    # (no Node, no resolver) is kept; once built, ``get`` finds it in the ready dict.
    # ``visiting`` holds the keys this walk is building, in order: a cycle is found
    # there before a key is claimed twice, and names the whole path. Anything but a
    # singleton is planned as usual, continuing the same path.
    #
    # Creation is claimed per key, and no lock is held while user code runs: the key is
    # claimed in the container's in-flight dict with ``dict.setdefault`` (atomic) and this thread's id;
    # a second caller upgrades the claim to a slot it can wait on (claims.slot_for_claim).
    # The value is published before the claim goes.
    def singleton_now(
        self, key: Any, binding: Binding, visiting: dict[Any, int] | None = None
    ) -> Any:
        """The singleton of ``key`` (bound to a class or a factory), built now if need be.

        Claim, build and publication are one function: this is every singleton's first
        ``get``, and a frame less on it is a cost less per binding. A signature of plain
        classes (simple_hints) needs no Param per parameter: each class feeds its
        parameter by type (see feeder), and when all are built already, their values are
        all it takes."""
        host = self.host
        inflight = host.inflight
        me = get_ident()
        while (claimed := inflight.setdefault(key, me)) is not me:
            value = self._join_singleton(key, claimed, me)
            if value is not MISS:
                return value
            # the creator failed, or parked the instance as pending: look again
        try:
            ready_get = host.ready_get  # one atomic look-up: close() may drop keys meanwhile
            value = ready_get(key, MISS)  # built before we claimed it
            if value is MISS and host.pending_singletons:
                value = host.pending_singletons.get(key, MISS)
            if value is MISS:
                provider = binding.provider
                hints = simple_hints(provider)
                if hints is None:
                    args, kwargs = self._arguments_now(key, provider, visiting)
                else:
                    args, kwargs = [], _NO_KWARGS
                    for hint in hints:
                        value = ready_get(hint, MISS)
                        if value is MISS:  # some dependency is not built yet: walk
                            args, kwargs = self._walk_hints(key, provider, hints, visiting)
                            break
                        args.append(value)
                if binding.kind is CLASS and not is_resource_class(provider):
                    # `**kwargs` costs even when empty
                    value = provider(*args) if kwargs is _NO_KWARGS else provider(*args, **kwargs)
                    if type(value) is provider:
                        # a plain instance, never activated: nothing keeps it from being ready
                        if host.pending_singletons:
                            host.pending_singletons.pop(key, None)
                        host.ready[key] = value
                        published = True
                    else:
                        published = host.publish_singleton(key, value)  # what did __new__ hand out?
                else:
                    value = self.activation.maker(self.node_for_maker(key, binding))(
                        host.root, *args, **kwargs
                    )
                    published = host.publish_singleton(key, value)
                if published:
                    # a waiter coming now finds the value in the ready dict: no lock needed
                    claimed = inflight.pop(key, None)
                    if type(claimed) is CreationSlot:
                        claimed.set_result(value)
                    return value
                # parked as pending (see publish_singleton): released as any other value
        except BaseException as exc:
            release_claim(inflight, key, None, exc)
            raise
        release_claim(inflight, key, value, None)
        return value

    def _join_singleton(self, key: Any, claimed: Any, me: int) -> Any:
        """Wait for the creation someone else claimed: its value, or MISS when it is
        gone without one in the ready dict (failed before we waited, or parked)."""
        value, slot = slot_for_claim(self.host.inflight, self.host.ready, key, claimed)
        if slot is None:
            return value
        if slot.thread != me:
            # two walks each holding a key the other needs are a cycle: report it
            # instead of waiting forever
            self.rule_out_cycle(key)
        return join_slot_sync(slot, describe_key(key))

    def _walk_hints(
        self, key: Any, provider: Any, hints: list[Any], visiting: dict[Any, int] | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The arguments of a simple signature some of whose classes are not built yet:
        bound ones are walked; anything else (an autowired class, a missing one) goes
        the general way, which decides and names the error."""
        if visiting is None:
            visiting = {}
        visiting[key] = len(visiting)  # on the path: a cycle back to it names it
        args: list[Any] = []
        ready_get = self.host.ready_get
        try:
            for hint in hints:
                value = ready_get(hint, MISS)
                if value is MISS:
                    if hint not in self.host.bindings:
                        break
                    value = self._dependency_now(hint, visiting)
                args.append(value)
            else:
                return args, _NO_KWARGS
        finally:
            del visiting[key]
        return self._arguments_now(key, provider, visiting)

    def _arguments_now(
        self, key: Any, provider: Any, visiting: dict[Any, int] | None
    ) -> tuple[list[Any], dict[str, Any]]:
        """The general way of :meth:`singleton_now`: any signature analyze reads."""
        if visiting is None:
            visiting = {}
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        ready_get = self.host.ready_get
        walking = False  # whether ``key`` is on the path: only once a dependency is walked
        try:
            for param in analyze(provider):
                dep, soft = self.planner.feeder(param)
                if dep is EMPTY or (value := ready_get(dep, MISS)) is MISS:
                    if not walking:
                        visiting[key] = len(visiting)
                        walking = True
                    value = self._param_now(param, dep, soft, visiting)
                if param.keyword_only:
                    kwargs[param.name] = value
                else:
                    args.append(value)
        finally:
            if walking:
                del visiting[key]
        return args, kwargs

    def _param_now(self, param: Param, dep: Any, soft: bool, visiting: dict[Any, int]) -> Any:
        """The value of a parameter whose dependency is not built yet (see feeder)."""
        if dep is EMPTY:
            return self.planner.unfed(param, [describe_key(k) for k in visiting])
        if not soft:
            return self._dependency_now(dep, visiting)
        try:
            return self._dependency_now(dep, visiting)
        except DependencyNotFoundError:
            return param.default if param.default is not EMPTY else None

    def _dependency_now(self, key: Any, visiting: dict[Any, int]) -> Any:
        binding = self.host.bindings.get(key)
        if (
            binding is not None
            and binding.scope == SINGLETON
            and binding.kind is not INSTANCE
            and key not in visiting
        ):
            return self.singleton_now(key, binding, visiting)
        planner = self.planner
        with planner.lock:  # planned from here: cycles and missing keys name the whole path
            node = planner.plan_from(key, [describe_key(k) for k in visiting], visiting)
        return self.resolve_now(node, self.host.root)

    def node_for_maker(self, key: Any, binding: Binding) -> Node:
        """The little of a plan that :meth:`Activation.maker` reads (no parameters)."""
        node = Node(key, binding)
        if binding.kind is Kind.CLASS:
            node.spec = resource_spec(binding.provider)
        elif binding.kind is Kind.FACTORY:
            node.is_async_factory = inspect.iscoroutinefunction(
                getattr(binding.provider, "func", binding.provider)
            )
        return node

    def rule_out_cycle(self, key: Any) -> None:
        """Raise ``CircularDependencyError`` if the plan of ``key`` has a cycle.

        Called before a walk waits for a singleton another thread is creating: two
        walks each holding a claim the other needs are a cycle, and would deadlock."""
        try:
            self.planner.plan(key)
        except CircularDependencyError:
            raise
        except Exception:  # any other planning error is the creator's to report
            return

    # Async creation takes the same claims, with a fresh (task, thread id) pair as its
    # mark; the value is built by the generated async build function.
    async def acreate(self, key: Any, abuild: Callable[[Scope], Any]) -> Any:
        """The singleton of ``key``, built with ``await abuild(root scope)`` if need be."""
        host = self.host
        inflight = host.inflight
        ready_get = host.ready_get
        while True:
            value = ready_get(key, MISS)
            if value is not MISS:
                return value
            me = (current_task(), get_ident())
            claimed = inflight.setdefault(key, me)
            if claimed is me:
                break
            value, slot = slot_for_claim(inflight, host.ready, key, claimed)
            if slot is not None:
                return await join_slot_async(slot, describe_key(key))
            if value is not MISS:
                return value
        try:
            value = ready_get(key, MISS)
            if value is MISS:
                value = host.pending_singletons.get(key, MISS)
                if value is MISS:
                    value = await abuild(host.root)
                    host.publish_singleton(key, value)
                else:  # get() in a loop scheduled its async initialize(): join it
                    state = getattr(value, "_injectq_resource_state", None)
                    if state is not None:
                        await state.initialize_async(None)
                    with host.slot_lock:
                        host.publish_singleton(key, value)
        except BaseException as exc:
            release_claim(inflight, key, None, exc)
            raise
        release_claim(inflight, key, value, None)
        return value
