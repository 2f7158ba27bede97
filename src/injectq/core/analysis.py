"""Planning, step one: read a callable's signature.

The result depends only on the callable, never on the registry. It is not cached here: a
container reads each binding once and keeps the result in its plan (or, for a singleton,
needs it once), and a process-wide cache would keep every class it saw alive. Forward
references are resolved here, lazily: at the first resolution, not at decoration time,
so classes may refer to ones defined later.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from injectq.core.markers import EMPTY, Inject, inject_key_of
from injectq.utils.exceptions import InjectionError
from injectq.utils.internals import FAST_PATHS

__all__ = [
    "EMPTY",
    "PRIMITIVES",
    "Param",
    "analyze",
    "is_autowirable",
    "is_primitive",
    "may_return_none",
    "simple_hints",
]


PRIMITIVES: Final = frozenset(
    {
        str,
        int,
        float,
        bool,
        bytes,
        bytearray,
        complex,
        list,
        dict,
        set,
        frozenset,
        tuple,
        type,
        object,
        types.NoneType,
        # a class since 3.11, but a promise about nothing: never constructed, filled as
        # an unannotated parameter is
        typing.Any,
    }
)


class Param(NamedTuple):
    """One injectable parameter (a tuple: cheap to build for thousands of classes)."""

    name: str
    annotation: Any  # the resolved type, or EMPTY
    default: Any  # the default value, or EMPTY
    keyword_only: bool
    inject_key: Any  # from an ``Inject[T]`` default, or EMPTY
    optional: bool  # annotated ``T | None``

    def describe(self) -> str:
        """The parameter as it reads in a signature (``db: Database``), for error messages."""
        if self.annotation is EMPTY:
            return self.name
        ann = self.annotation
        name = getattr(ann, "__qualname__", None) or getattr(ann, "__name__", None) or repr(ann)
        return f"{self.name}: {name.rpartition('<locals>.')[2]}"


def is_primitive(tp: Any) -> bool:
    """Whether ``tp`` is in :data:`PRIMITIVES` (``int``, ``str``, ``Any``...): never autowired."""
    return tp in PRIMITIVES


def is_autowirable(tp: Any) -> bool:
    """Concrete, non-builtin classes can be built from their type hints."""
    if not isinstance(tp, type) or tp in PRIMITIVES:
        return False
    if inspect.isabstract(tp) or getattr(tp, "_is_protocol", False):
        return False
    return tp.__module__ != "builtins"


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if type(tp) is type:  # a plain class: the common case, no typing machinery needed
        return tp, False
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not types.NoneType]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(tp)[0])
    return tp, False


def _target_function(fn: Any) -> tuple[Callable[..., Any], bool]:
    """The function whose signature describes a call of ``fn``; and whether to skip self."""
    if isinstance(fn, type):
        init = fn.__init__  # type: ignore[misc]
        if init is object.__init__:
            return init, True
        return init, True
    return fn, False


def _hints(fn: Any, owner: type | None) -> dict[str, Any]:
    target = fn.func if isinstance(fn, functools.partial) else fn
    target = inspect.unwrap(target) if callable(target) else target
    globalns: dict[str, Any] = dict(getattr(target, "__globals__", {}) or {})
    if owner is not None:
        module = sys.modules.get(owner.__module__)
        if module is not None:
            globalns = {**vars(module), **globalns}
    localns: dict[str, Any] | None = dict(vars(owner)) if owner is not None else None
    try:
        return typing.get_type_hints(target, globalns, localns, include_extras=False)
    except NameError:
        pass  # maybe only the return annotation (never injected): resolve one by one
    except Exception:
        return dict(getattr(target, "__annotations__", {}) or {})
    hints: dict[str, Any] = {}
    for pname, raw in (getattr(target, "__annotations__", {}) or {}).items():
        if pname == "return":
            continue
        try:
            hints[pname] = typing.get_type_hints(
                _Annotated(pname, raw), globalns, localns, include_extras=False
            )[pname]
        except NameError as exc:
            name = getattr(owner or target, "__qualname__", repr(target))
            raise InjectionError(
                f"Cannot resolve the type hint of parameter '{pname}' of {name}: {exc}. "
                "Define the referenced class at module level before resolving, or import it "
                "in the module that uses it."
            ) from exc
        except Exception:
            hints[pname] = raw
    return hints


def may_return_none(fn: Any) -> bool:
    """Whether ``fn``'s return annotation admits None (``-> T | None``, ``Optional[T]``):
    a factory that says so may return None without ``allow_none=True``."""
    returned = _hints(fn, None).get("return", EMPTY)
    if returned is None or returned is types.NoneType:
        return True
    origin = typing.get_origin(returned)
    if origin is typing.Union or origin is types.UnionType:
        return types.NoneType in typing.get_args(returned)
    return False


class _Annotated:
    """A stand-in carrying one annotation, so ``get_type_hints`` evaluates just that one."""

    __slots__ = ("__annotations__",)

    def __init__(self, name: str, annotation: Any) -> None:
        self.__annotations__ = {name: annotation}


def analyze(fn: Any) -> tuple[Param, ...]:
    """The injectable parameters of a class constructor or a callable.

    Not cached here: a container keeps what it needs in its plans, and a process-wide
    cache would keep every class it ever saw alive."""
    if FAST_PATHS:  # off: inspect.signature reads every signature
        params = _analyze_plain(fn)
        if params is not None:
            return params
    return _analyze_general(fn)


_type_call: Final[Any] = type.__call__
_object_new: Final[Any] = object.__new__
_FunctionType: Final = types.FunctionType
_new_param = tuple.__new__  # Param(...) without NamedTuple's Python-level __new__


def _plain_function(fn: Any) -> tuple[Any, int] | None:
    """The plain Python function whose parameters are exactly those of a call of ``fn``,
    and how many leading ones that call fills itself (``self``); None when no such
    function tells the whole signature: a ``__signature__``, a metaclass ``__call__``, a
    custom ``__new__``, a wrapper, or no Python function (``object.__init__`` included).

    A plain class is read through its own ``__dict__`` along the MRO: on a class nothing
    has looked at yet, an attribute look-up misses the type cache and costs several
    times more, and classes are typically read once, right after they were defined."""
    if isinstance(fn, type):
        if type(fn) is type:
            namespace = fn.__dict__
            if "__signature__" in namespace or "__new__" in namespace:
                return None
            init: Any = namespace.get("__init__")
            mro = fn.__mro__
            if len(mro) > 2:  # bases other than object: as fn.__new__ / fn.__init__ look
                for base in mro[1:-1]:
                    namespace = base.__dict__
                    if "__new__" in namespace:
                        return None
                    if init is None:
                        init = namespace.get("__init__")
            if init is None:
                return None  # object.__init__: no parameters, the general path says so
        else:  # a metaclass may supply __call__, __new__ or __init__ itself
            if type(fn).__call__ is not _type_call or fn.__new__ is not _object_new:
                return None
            if "__signature__" in fn.__dict__:
                return None
            init = fn.__init__  # type: ignore[misc]
        skip_self = 1
    else:
        init, skip_self = fn, 0
    if type(init) is not _FunctionType or _wrapper(init):
        return None  # object.__init__ (no parameters) included: the general path says so
    return init, skip_self


def _wrapper(function: Any) -> bool:
    """Whether a function stands for another one (its signature is not its own)."""
    extra = function.__dict__
    return bool(extra) and ("__wrapped__" in extra or "__signature__" in extra)


def simple_hints(fn: Any) -> list[Any] | None:
    """The classes that feed ``fn``'s parameters by type, when its signature is that
    simple: each parameter positional, annotated with a plain class that is not a
    builtin, no default, no ``Inject`` marker. None for anything else: use
    :func:`analyze`. This is what a singleton walk reads, with no ``Param`` per
    parameter."""
    # a class of its own, the usual case (object its only base: `__base__` is read
    # cheaper than `len(__mro__) == 2`)
    if type(fn) is type and fn.__base__ is object:
        namespace = fn.__dict__  # what _plain_function reads, without its frame
        if "__new__" in namespace or "__signature__" in namespace:
            return None
        if "__init__" not in namespace:
            return []  # object.__init__: no parameters
        init = namespace["__init__"]  # [], not .get: binds no method
        if type(init) is not _FunctionType:
            return None
        extra = init.__dict__  # _wrapper, without its frame
        if extra and ("__wrapped__" in extra or "__signature__" in extra):
            return None
        skip_self = 1
    else:
        found = _plain_function(fn)
        if found is None:
            return None
        init, skip_self = found
    code = init.__code__
    if code.co_kwonlyargcount or init.__defaults__:
        return None
    argc = code.co_argcount
    if argc == skip_self:
        return []  # nothing to read (annotations are built into a dict when first read)
    annotations = init.__annotations__
    hints = []
    try:
        for name in code.co_varnames[skip_self:argc]:
            annotation = annotations[name]
            if type(annotation) is not type or annotation in PRIMITIVES:
                return None  # a forward reference, Optional, generic or builtin
            hints.append(annotation)
    except KeyError:  # not annotated
        return None
    return hints


def _analyze_plain(fn: Any) -> tuple[Param, ...] | None:
    """Read the parameters from the plain Python function behind ``fn`` (its code
    object, defaults and annotations): ~10x cheaper than ``inspect.signature``. None
    when that function does not tell the whole signature (see _plain_function)."""
    found = _plain_function(fn)
    if found is None:
        return None
    init, skip_self = found
    code = init.__code__
    argc = code.co_argcount
    names = code.co_varnames[skip_self : argc + code.co_kwonlyargcount]
    if not names:
        return ()
    defaults = init.__defaults__ or ()
    kwdefaults = init.__kwdefaults__ or {}
    annotations = init.__annotations__
    first_default = argc - len(defaults)
    resolved = False
    params: list[Param] = []
    for index, name in enumerate(names, skip_self):
        if index >= argc:
            keyword_only = True
            default = kwdefaults.get(name, EMPTY)
        else:
            keyword_only = False
            default = defaults[index - first_default] if index >= first_default else EMPTY
        annotation = annotations.get(name, EMPTY)
        optional = False
        if type(annotation) is not type and annotation is not EMPTY:
            if type(annotation) is str and not resolved:  # forward references: resolve once
                annotations = _hints(init, fn if skip_self else None)
                annotation = annotations.get(name, EMPTY)
                resolved = True
            if isinstance(annotation, str):
                annotation = EMPTY  # unresolvable: inject by name only
            elif annotation is not EMPTY:
                annotation, optional = _unwrap_optional(annotation)
        inject_key = EMPTY
        if type(default) is Inject:
            inject_key, default = inject_key_of(default), EMPTY
        params.append(
            _new_param(Param, (name, annotation, default, keyword_only, inject_key, optional))
        )
    return tuple(params)


def _analyze_general(fn: Any) -> tuple[Param, ...]:
    """Through ``inspect.signature``: wrappers, ``__signature__``, builtins, partials."""
    if isinstance(fn, type) and fn.__init__ is object.__init__ and fn.__new__ is object.__new__:  # type: ignore[misc,comparison-overlap]
        return ()
    owner = fn if isinstance(fn, type) else None
    target, _skip_self = _target_function(fn)
    if target is object.__init__:
        return ()
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ()
    hints = _hints(target if owner is not None else fn, owner)
    params: list[Param] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, EMPTY if p.annotation is p.empty else p.annotation)
        if isinstance(annotation, str):
            annotation = EMPTY  # an unresolvable string annotation: inject by name only
        optional = False
        if annotation is not EMPTY:
            annotation, optional = _unwrap_optional(annotation)
        default = EMPTY if p.default is p.empty else p.default
        inject_key = inject_key_of(default)
        if inject_key is not EMPTY:
            default = EMPTY
        params.append(
            Param(
                name=p.name,
                annotation=annotation,
                default=default,
                keyword_only=p.kind is p.KEYWORD_ONLY,
                inject_key=inject_key,
                optional=optional,
            )
        )
    return tuple(params)
