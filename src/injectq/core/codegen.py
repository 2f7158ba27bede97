r"""The one way injectq turns generated source into a function.

Every generated function (a resolver, a caller, an async build) is made by a
:class:`FunctionBuilder`, so that each one can be read and debugged like code a person
wrote (the standard library's ``dataclasses`` and ``namedtuple`` do the same):

- the objects the source refers to get names that say what they are (``Service``,
  ``Db_key``, ``activate_Conn``, ``default_url``), unique within the function;
- the function is compiled under a filename of its own that names its key and its
  job, ``<injectq resolver Service #12>`` (the number keeps the names unique:
  ``linecache`` keys its entries by filename);
- its source is registered in :mod:`linecache`, so a traceback through it shows the
  generated line and ``inspect.getsource`` returns the source. The entry lives as long
  as the function: a weak reference drops it when the function is collected, so a
  process that creates and drops containers keeps no source of theirs.

Example::

    builder = FunctionBuilder()
    db = builder.ref(Db, "Db")
    fn = builder.build(f"def resolve_Db():\n    return {db}()\n", "resolve_Db",
                       "resolver", "Db")
    # fn.__code__.co_filename == "<injectq resolver Db #1>"
"""

from __future__ import annotations

import itertools
import keyword
import linecache
import weakref
from typing import Any

__all__ = ["RESERVED_NAMES", "FunctionBuilder", "identifier", "live_sources"]

#: Names the generated sources use for their own helpers and locals, and the builtins
#: they call: never given to a referenced object, so a user's class named ``Claim`` or
#: ``type`` cannot shadow them (it becomes ``Claim_2``).
RESERVED_NAMES = frozenset(
    {
        *keyword.kwlist,
        # builtins the sources use
        "type",
        "BaseException",
        "AttributeError",
        # helpers and locals of the resolvers (see core/resolvers.py)
        "scope",
        "cache",
        "claim",
        "found",
        "error",
        "state",
        "get_scope",
        "root_scope",
        "raise_closed",
        "raise_scope_missing",
        "warn_root_transient",
        "Claim",
        "NO_VALUE",
        "abort_claim",
        "wake_waiters",
        "join_claim",
        "pending_state",
        "thread_claims",
        "new_thread_claim",
        "get_ident",
        "current_task",
        "Coroutine",
        "KEY",
        "SCOPE_NAME",
    }
)
_MAX_NAME = 40  # a long generic type's name is cut: the filename still names it in full
_numbers = itertools.count(1)


class _SourceRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a generated function that knows its linecache filename."""

    __slots__ = ("filename",)
    filename: str


#: filename -> the weak reference whose callback drops the linecache entry (it must be
#: kept alive somewhere for the callback to run)
_live: dict[str, _SourceRef] = {}


def _forget(ref: _SourceRef) -> None:
    # the function was collected: its source goes too
    linecache.cache.pop(ref.filename, None)
    _live.pop(ref.filename, None)


def live_sources() -> int:
    """How many generated functions are alive with their source in ``linecache``."""
    return len(_live)


def identifier(text: str, fallback: str = "value") -> str:
    """``text`` made a Python identifier: ``list[int]`` -> ``list_int``, ``'db'`` ->
    ``db``; ``fallback`` when nothing is left of it."""
    if len(text) <= _MAX_NAME and text.isidentifier():
        return text  # the usual case: a class name
    chars = [ch if ch.isalnum() or ch == "_" else "_" for ch in text[:_MAX_NAME]]
    name = "_".join(part for part in "".join(chars).split("_") if part)
    if not name:
        return fallback
    if not name.isidentifier():  # starts with a digit
        name = f"_{name}"
    return name


class FunctionBuilder:
    """Collects the objects one generated function refers to, under readable names
    unique within it, then compiles it (see the module docstring)."""

    __slots__ = ("by_id", "namespace", "taken")

    def __init__(self) -> None:
        #: the function's globals: name -> object
        self.namespace: dict[str, Any] = {}
        #: every name given out, globals and locals alike (a local may not shadow a global)
        self.taken: set[str] = set()
        #: (id(object), hint) -> its name: an object referred to twice in one role has
        #: one name (the namespace keeps it alive, so its id is not reused meanwhile)
        self.by_id: dict[tuple[int, str], str] = {}

    def _fresh(self, hint: str) -> str:
        base = identifier(hint)
        name, n = base, 1
        taken = self.taken
        while name in taken or name in RESERVED_NAMES:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    def ref(self, obj: Any, hint: str) -> str:
        """A name, made from ``hint``, under which the source refers to ``obj`` (the
        same name each time for the same object)."""
        seen = (id(obj), hint)
        name = self.by_id.get(seen)
        if name is None:
            name = self.by_id[seen] = self._fresh(hint)
            self.namespace[name] = obj
        return name

    def local(self, hint: str) -> str:
        """A name, made from ``hint``, for a local variable of the function."""
        return self._fresh(hint)

    def helpers(self, **named: Any) -> None:
        """Put the generated source's own helpers in the namespace under fixed names
        (each in :data:`RESERVED_NAMES`, so no ``ref`` can take it)."""
        self.namespace.update(named)

    def build(self, source: str, name: str, job: str, label: str) -> Any:
        """Compile ``source``, which defines the function ``name``, under its own
        filename ``<injectq {job} {label} #n>``; register the source in ``linecache``
        for as long as the function lives, and return the function."""
        filename = f"<injectq {job} {label} #{next(_numbers)}>"
        namespace = dict(self.namespace)
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102  # injectq-generated source
        fn = namespace[name]
        # (size, mtime, lines, fullname): mtime None tells linecache.checkcache there is
        # no file to check against, so the entry stays until _forget drops it
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        ref = _SourceRef(fn, _forget)
        ref.filename = filename
        _live[filename] = ref
        return fn
