"""Registration: what a key is bound to.

A :class:`Binding` is a frozen record made once at ``bind`` time; everything later
(planning, code generation, runtime) reads it and never changes it. Classifying the
provider here, once, is what keeps the resolution path free of ``isinstance`` checks.
"""

from __future__ import annotations

import enum
import functools
import inspect
from typing import Any, Final, NamedTuple

from injectq.core.analysis import is_autowirable
from injectq.core.registry import _UNSET
from injectq.utils.classes import class_attribute
from injectq.utils.exceptions import BindingError, describe_key


class ScopeType(enum.StrEnum):
    """The built-in lifetimes. Any other string names a custom scope."""

    SINGLETON = "singleton"
    TRANSIENT = "transient"
    REQUEST = "request"
    ACTION = "action"


SINGLETON: Final = "singleton"
TRANSIENT: Final = "transient"


class Kind(enum.Enum):
    """How a binding's provider becomes a value (each member's comment says how)."""

    CLASS = "class"  # autowired constructor call
    FACTORY = "factory"  # a function whose parameters are injected
    INSTANCE = "instance"  # a ready object, returned as it is
    CONTEXT = (
        "context"  # a (async) generator / context-manager factory: enter = init, exit = dispose
    )


# The members as module constants, for hot paths: on 3.11 ``Kind.CLASS`` goes through
# ``EnumType.__getattr__`` and costs four plain attribute reads.
CLASS: Final = Kind.CLASS
INSTANCE: Final = Kind.INSTANCE


class Binding(NamedTuple):
    """What one key is bound to (immutable; a tuple, so binding thousands stays cheap)."""

    key: Any
    provider: Any
    kind: Kind
    scope: str
    allow_none: bool = False
    #: Keyword-level timeouts for CONTEXT factories (from ``@resource(...)``).
    init_timeout: float | None = None
    dispose_timeout: float | None = None

    @property
    def label(self) -> str:
        """The key's readable name (a class's qualname or the string key), for messages."""
        return describe_key(self.key)


_TPFLAGS_IS_ABSTRACT: Final = inspect.TPFLAGS_IS_ABSTRACT
_new_binding = tuple.__new__


def normalize_scope(scope: Any) -> str:
    """The scope name ``scope`` stands for: a non-empty string, or an enum member's value.

    Raises BindingError for anything else (None, an empty string, a number)."""
    if type(scope) is str and scope:
        return scope
    if isinstance(scope, enum.Enum):
        scope = scope.value
    if not isinstance(scope, str) or not scope:
        raise BindingError(
            f"scope must be a non-empty string such as 'singleton', 'transient' or 'request', "
            f"got {scope!r}"
        )
    return scope


def class_binding(key: Any, cls: type, scope: str | None, allow_none: bool = False) -> Binding:
    """The binding of ``key`` to the class ``cls`` (autowired); ``scope`` None: the
    lifetime ``cls`` declares with ``@singleton`` / ``@transient`` / ``@scoped``
    (inherited too), else singleton. ``key`` is not None (the caller checked)."""
    if cls.__flags__ & _TPFLAGS_IS_ABSTRACT:  # inspect.isabstract, without the call
        raise BindingError(
            f"Cannot bind abstract class {cls.__qualname__} (key {describe_key(key)}): "
            "bind it to a concrete implementation, e.g. "
            f"container.bind({describe_key(key)}, MyImplementation)."
        )
    if scope is None:
        if type(cls) is type and cls.__base__ is object:  # class_attribute, without its frame
            namespace = cls.__dict__
            if "_injectq_scope" in namespace:  # not .get: usually absent; `in` binds no method
                scope = namespace["_injectq_scope"]
        else:
            scope = class_attribute(cls, "_injectq_scope")
        if scope is None:
            scope = SINGLETON
    # tuple.__new__: a class binding is the common case, and NamedTuple's own __new__
    # is a Python function
    return _new_binding(Binding, (key, cls, CLASS, scope, allow_none, None, None))


def is_factory_callable(obj: Any) -> bool:
    """Functions, lambdas, methods and partials are factories (DESIGN §3a)."""
    return isinstance(obj, functools.partial) or inspect.isfunction(obj) or inspect.ismethod(obj)


def context_factory_info(fn: Any) -> tuple[bool, dict[str, Any]] | None:
    """If ``fn`` is a generator/context-manager factory, return (is_async, resource options)."""
    options: dict[str, Any] | None = getattr(fn, "_injectq_resource_options", None)
    target = fn.func if isinstance(fn, functools.partial) else fn
    if inspect.isasyncgenfunction(target):
        return True, options or {}
    if inspect.isgeneratorfunction(target):
        return False, options or {}
    if options is not None:
        # @resource() on a function returning a context manager (e.g. @contextmanager)
        return bool(options.get("is_async", False)), options
    return None


def make_binding(
    key: Any,
    impl: Any,
    scope: Any,
    *,
    allow_none: bool = False,
    as_instance: bool = False,
    scope_given: bool = True,
) -> Binding:
    """Classify ``impl`` and build the binding record; raise ``BindingError`` on bad input."""
    if key is None:
        raise BindingError("Cannot bind the key None; use a type or a string key.")
    scope_name = scope if type(scope) is str and scope else normalize_scope(scope)
    if as_instance:
        if impl is None and not allow_none:
            raise BindingError(
                f"Implementation cannot be None for {describe_key(key)}: pass "
                "allow_none=True to bind None."
            )
        return Binding(key, impl, Kind.INSTANCE, SINGLETON, allow_none)
    if impl is _UNSET:
        if not isinstance(key, type):
            raise BindingError(
                f"bind({describe_key(key)}) needs an implementation: a class, a factory "
                "function or an instance."
            )
        impl = key
    elif impl is None:
        if not allow_none:
            raise BindingError(
                f"Implementation cannot be None for {describe_key(key)}: pass "
                "allow_none=True to bind None."
            )
        return Binding(key, None, Kind.INSTANCE, SINGLETON, True)
    if isinstance(impl, type):
        return class_binding(key, impl, None if not scope_given else scope_name, allow_none)
    if is_factory_callable(impl):
        info = context_factory_info(impl)
        if info is not None:
            _, options = info
            if not scope_given and options.get("scope"):
                scope_name = normalize_scope(options["scope"])
            return Binding(
                key,
                impl,
                Kind.CONTEXT,
                scope_name,
                allow_none,
                options.get("init_timeout"),
                options.get("dispose_timeout"),
            )
        return Binding(key, impl, Kind.FACTORY, scope_name, allow_none)
    return Binding(key, impl, Kind.INSTANCE, SINGLETON, allow_none)


def concrete_binding(binding: Binding) -> Binding | None:
    """For an instance bound to another class, the binding of its own class to it
    (InjectQ's ``allow_concrete``). Not for string keys (``c["db"] = Db(...)`` must not
    displace the binding of ``Db``, which parameters typed ``Db`` get first), nor for
    builtin types: their bindings feed parameters by type, so only an explicit binding
    may make one."""
    if binding.kind is not INSTANCE or binding.provider is None:
        return None
    if not isinstance(binding.key, type):
        return None
    concrete = type(binding.provider)
    if concrete is binding.key or not is_autowirable(concrete):
        return None
    return Binding(concrete, binding.provider, INSTANCE, SINGLETON, binding.allow_none)
