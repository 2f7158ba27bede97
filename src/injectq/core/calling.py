"""Calling a function with injection: ``@inject``, ``invoke`` and ``ainvoke``.

A call with no arguments of its own runs the function's generated caller (one per
function, kept once every singleton it needs is built); a call that gives some
arguments runs a generated partial caller kept per (function, number of positional
arguments, keyword names, colour), which passes the caller's arguments on and resolves
only the rest, each through the container's ``get``/``aget``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from injectq.core.analysis import analyze
from injectq.core.codegen import FunctionBuilder, identifier
from injectq.core.planning import Node, Value, pseudo_binding

if TYPE_CHECKING:
    from injectq.core.compiler import Compiler

__all__ = ["InjectedCalls"]

#: the last item of an async partial caller's key (a sync one's key has three items)
_ASYNC = "async"

PartialCaller = Callable[[tuple[Any, ...], dict[str, Any]], Any]


class _Resolving(Protocol):
    """What a call needs of its container: its public resolution (looked up per call,
    so a profiler that replaces ``get`` sees the injected arguments too)."""

    def get(self, service_type: Any) -> Any: ...
    def aget(self, service_type: Any) -> Coroutine[Any, Any, Any]: ...


class InjectedCalls:
    """The generated callers and partial callers of one container."""

    __slots__ = ("callers", "compiler", "container")

    def __init__(self, container: _Resolving, compiler: Compiler) -> None:
        self.container = container
        self.compiler = compiler
        #: fn -> generated caller; (fn, n positional, keyword names[, _ASYNC]) -> the
        #: generated partial caller of that shape (dropped with the rest when the
        #: registry changes)
        self.callers: dict[Any, Any] = {}

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call ``fn`` with the caller's arguments, injecting only the rest."""
        if not args and not kwargs:
            return (self.callers.get(fn) or self.caller_for(fn, False))()
        return self.call_partial(fn, args, kwargs)

    def call_partial(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """:meth:`call` through the partial caller, also with no arguments given (each
        missing parameter resolved by ``container.get``: ``invoke``)."""
        try:
            partial = self.callers.get((fn, len(args), tuple(kwargs)))
        except TypeError:  # an unhashable callable: generate for this call alone
            partial = None
        return (partial or self._partial_caller(fn, args, kwargs, False))(args, kwargs)

    def caller_for(self, fn: Callable[..., Any], is_async: bool) -> Callable[[], Any]:
        """The generated zero-argument caller of ``fn`` (kept once every singleton it
        needs is built, so they are inlined as constants)."""
        caller, complete = self.compiler.caller(fn, is_async)
        if complete:
            self.callers[fn] = caller
        return caller

    def acall(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        """Call ``fn`` in async code with the caller's arguments, injecting the rest:
        the partial caller's coroutine itself, no coroutine of this method's own (a
        partial call is how frameworks call an endpoint: the request given, services
        injected)."""
        try:
            partial = self.callers.get((fn, len(args), tuple(kwargs), _ASYNC))
        except TypeError:  # an unhashable callable: generate for this call alone
            partial = None
        return (partial or self._partial_caller(fn, args, kwargs, True))(args, kwargs)  # type: ignore[no-any-return]

    def _partial_caller(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], is_async: bool
    ) -> PartialCaller:
        """Generate the caller of ``fn`` for calls shaped as this one, and keep it.

        ``call_f(args, kwargs)`` is ``f(*args, <missing>=..., **kwargs)``, each missing
        parameter given its planned value: ``container.get(KEY)`` (``await
        container.aget(KEY)`` when async), or its default."""
        unit = FunctionBuilder()
        args_name, kwargs_name = unit.local("args"), unit.local("kwargs")
        container = unit.ref(self.container, "container")
        resolve = f"(await {container}.aget" if is_async else f"({container}.get"
        injected = "".join(
            f"{name}={resolve}({unit.ref(dep.key, f'{name}_key')})), "
            if isinstance(dep, Node)
            else f"{name}={unit.ref(dep, f'default_{name}')}, "
            for name, dep in self.missing_plan(fn, args, kwargs)
        )
        fn_ref = unit.ref(fn, getattr(fn, "__name__", "function"))
        call = f"{fn_ref}(*{args_name}, {injected}**{kwargs_name})"
        label = getattr(fn, "__qualname__", None) or repr(fn)
        name = f"{'acall' if is_async else 'call'}_{identifier(label, 'function')}"
        signature = f"{name}({args_name}, {kwargs_name}):\n"
        if not is_async:
            source = f"def {signature}    return {call}\n"
        elif inspect.iscoroutinefunction(fn):
            source = f"async def {signature}    return await {call}\n"
        else:  # a sync callable (ainvoke of a factory), maybe returning an awaitable
            import asyncio  # here: a sync program never loads it (async code has)

            unit.helpers(asyncio=asyncio)
            result = unit.local("result")
            source = (
                f"async def {signature}    {result} = {call}\n"
                f"    if asyncio.iscoroutine({result}) or isinstance({result}, asyncio.Future):\n"
                f"        return await {result}\n"
                f"    return {result}\n"
            )
        shape = f"{len(args)} positional{''.join(f', {k}=' for k in kwargs)}"
        partial: PartialCaller = unit.build(source, name, "partial caller", f"{label}({shape})")
        key = (fn, len(args), tuple(kwargs), _ASYNC) if is_async else (fn, len(args), tuple(kwargs))
        try:
            self.callers[key] = partial
        except TypeError:  # an unhashable callable: not kept
            pass
        return partial

    def missing_plan(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """What fills each parameter the caller left out: a planned key or a value."""
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
