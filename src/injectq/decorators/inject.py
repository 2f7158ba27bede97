"""``@inject``: call a function with its parameters injected.

The signature is read once (at the first call, so forward references work); with no
arguments from the caller the call runs through a generated function with singletons
inlined. Arguments the caller passes, positional or keyword, are honoured and only the
rest is injected.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, overload

from injectq.core.container import InjectQ
from injectq.core.markers import Inject
from injectq.utils.exceptions import InjectionError

__all__ = ["Inject", "inject"]

F = TypeVar("F", bound=Callable[..., Any])

#: the sync ``@inject`` functions made so far, wrapper -> the container named with
#: ``container=`` (None: the one active at call time); read by validation, which warns
#: when one of them needs a key only ``aget`` can resolve. Weak: a function that goes
#: away leaves it.
sync_injected: weakref.WeakKeyDictionary[Callable[..., Any], InjectQ | None] = (
    weakref.WeakKeyDictionary()
)


def _wrap(fn: F, container: InjectQ | None) -> F:
    if isinstance(fn, (staticmethod, classmethod)):
        inner = _wrap(fn.__func__, container)
        return type(fn)(inner)
    if isinstance(fn, type):
        raise InjectionError(
            f"@inject applies to functions and methods, not the class {fn.__name__}: "
            "its constructor is injected already when the container builds it "
            f"(container.get({fn.__name__})); to inject a method, decorate the method."
        )
    if not callable(fn):
        raise TypeError(f"@inject applies to functions and methods, not {fn!r}")
    get_instance = InjectQ.get_instance

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            c = container if container is not None else get_instance()
            if not args and not kwargs:
                return await (c._callers.get(fn) or c._caller_for(fn, True))()
            return await c._acall_with_injection(fn, args, kwargs)

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            c = container if container is not None else get_instance()
            if not args and not kwargs:
                caller = c._callers.get(fn)
                if caller is not None:
                    return caller()
            return c._call_with_injection(fn, args, kwargs)

        wrapper = sync_wrapper
        sync_injected[sync_wrapper] = container
    wrapper._injectq_wrapped = fn
    return wrapper  # type: ignore[no-any-return]


@overload
def inject(func: InjectQ, /) -> Callable[[F], F]: ...
@overload
def inject(func: F, /) -> F: ...
@overload
def inject(func: None = None, /, *, container: InjectQ | None = None) -> Callable[[F], F]: ...
def inject(func: Any = None, /, *, container: InjectQ | None = None) -> Any:
    """``@inject``, ``@inject(container=c)`` or ``@inject(c)``: inject the parameters the
    caller omits. The decorated function keeps its signature for type checkers.

    Without ``container=`` the container is looked up at call time: the one active in this
    context (``with c.context():``), else the process-wide default.

    Examples:
        >>> from injectq import InjectQ, inject
        >>> class Greeter:
        ...     def greet(self, name: str) -> str:
        ...         return f"hello {name}"
        >>> @inject
        ... def welcome(name: str, greeter: Greeter) -> str:
        ...     return greeter.greet(name)
        >>> with InjectQ() as container, container.context():
        ...     welcome("ada")  # name given, greeter injected
        'hello ada'

        Naming the container instead:

        >>> container = InjectQ()
        >>> container.bind_instance("greeting", "hi")
        >>> @inject(container=container)
        ... def hello(greeting: str) -> str:
        ...     return greeting
        >>> hello(), hello("hey")  # what the caller passes wins
        ('hi', 'hey')
        >>> container.close()
    """
    if func is None:
        return lambda f: _wrap(f, container)
    if isinstance(func, InjectQ):
        container_ = func
        return lambda f: _wrap(f, container_)
    return _wrap(func, container)
