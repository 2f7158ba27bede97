"""Calling a function with injection: ``@inject``, ``invoke`` and ``ainvoke``.

A call with no arguments of its own runs the function's generated caller (one per
function, kept once every singleton it needs is built); a call that gives some
arguments injects only the rest, by a plan of the missing parameters kept per
(function, number of positional arguments, keyword names).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from injectq.core.analysis import analyze
from injectq.core.planning import Node, Value, pseudo_binding

if TYPE_CHECKING:
    from injectq.core.compiler import Compiler

__all__ = ["InjectedCalls"]


class _Resolving(Protocol):
    """What a call needs of its container: its public resolution (looked up per call,
    so a profiler that replaces ``get`` sees the injected arguments too)."""

    def get(self, service_type: Any) -> Any: ...
    def aget(self, service_type: Any) -> Coroutine[Any, Any, Any]: ...


class InjectedCalls:
    """The generated callers and partial-call plans of one container."""

    __slots__ = ("callers", "compiler", "container")

    def __init__(self, container: _Resolving, compiler: Compiler) -> None:
        self.container = container
        self.compiler = compiler
        #: fn -> generated caller; (fn, n positional, keyword names) -> plan of the rest
        self.callers: dict[Any, Any] = {}

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call ``fn`` with the caller's arguments, injecting only the rest."""
        if not args and not kwargs:
            return (self.callers.get(fn) or self.caller_for(fn, False))()
        return fn(*args, **self.missing_arguments(fn, args, kwargs), **kwargs)

    def caller_for(self, fn: Callable[..., Any], is_async: bool) -> Callable[[], Any]:
        """The generated zero-argument caller of ``fn`` (kept once every singleton it
        needs is built, so they are inlined as constants)."""
        caller, complete = self.compiler.caller(fn, is_async)
        if complete:
            self.callers[fn] = caller
        return caller

    async def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call ``fn`` in async code with the caller's arguments, injecting the rest."""
        import asyncio

        # the missing arguments resolved here, not in a coroutine of their own: a partial
        # call is how frameworks call an endpoint (the request given, services injected)
        injected: dict[str, Any] = {}
        aget = self.container.aget
        for name, dep in self.missing_plan(fn, args, kwargs):
            injected[name] = await aget(dep.key) if isinstance(dep, Node) else dep
        result = fn(*args, **injected, **kwargs)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            return await result
        return result

    def missing_plan(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """What fills each parameter the caller left out: a planned key or a value."""
        cache_key = (fn, len(args), tuple(kwargs))
        try:
            cached: list[tuple[str, Any]] | None = self.callers.get(cache_key)
        except TypeError:  # an unhashable callable: plan every call
            return self._make_missing_plan(fn, args, kwargs)
        if cached is None:
            cached = self._make_missing_plan(fn, args, kwargs)
            self.callers[cache_key] = cached
        return cached

    def _make_missing_plan(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        params = analyze(fn)
        node = Node(fn, pseudo_binding(fn), getattr(fn, "__qualname__", repr(fn)))
        filled = 0
        plan: list[tuple[str, Any]] = []
        for param in params:
            if not param.keyword_only and filled < len(args):
                filled += 1
                continue
            if param.name in kwargs:
                continue
            dep = self.compiler.plan_param(node, param, [node.label], {})
            plan.append((param.name, dep.value if isinstance(dep, Value) else dep))
        return plan

    def missing_arguments(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The injected values of the parameters the caller left out."""
        return {
            name: self.container.get(dep.key) if isinstance(dep, Node) else dep
            for name, dep in self.missing_plan(fn, args, kwargs)
        }
