"""Resolution tracing: ``with container.trace() as trace:`` records each resolution made
in that context.

What is recorded: every ``get`` / ``aget`` of the container (the caller's, a factory's
or an ``@inject`` call's that resolves through them) made in the block's context, with
its key, lifetime, whether it created the instance or found it cached, its duration and
the resolution it was made within (its parent); and, as children of the resolution that
caused them, the resource initializations the container's monitor reports. Dependencies
that a generated resolver builds inline are part of their resolution's duration, not
records of their own.

Nothing costs anything when no trace is active: the container's ``get`` stays the
ready-dict lookup and the generated resolvers are never touched. The first trace entered
on a container replaces its ``get`` / ``aget`` attributes with traced ones, the last one
to end puts them back. While a trace is active, the traced entry points read one
``ContextVar``: only the block's own context (and the tasks it starts, which copy it)
records; another thread or task resolving meanwhile is served as before, unrecorded.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from injectq.core.bindings import SINGLETON, TRANSIENT, Kind
from injectq.core.container import InjectQ
from injectq.utils.exceptions import describe_key

if TYPE_CHECKING:
    from injectq.lifecycle.monitor import ResourceEvent

__all__ = ["Resolution", "ResolutionTrace"]

#: the traces recording in this context, each with its resolution in progress (or None)
_State = tuple[tuple["ResolutionTrace", "Resolution | None"], ...]
_current: ContextVar[_State] = ContextVar("injectq.trace", default=())
_Records = list[tuple["ResolutionTrace", "Resolution"]]


@dataclass
class Resolution:
    """One recorded resolution (or, ``via="initialize"``, a resource's initialization).

    ``duration`` is in seconds, the resolutions made within it included; ``created`` is
    False when the instance was found built (a singleton, or a scoped instance of the
    current scope); ``error`` is the exception's repr when it raised. For an
    initialization, ``lifetime`` is the label of the scope that owns the resource."""

    key: Any
    lifetime: str
    created: bool
    via: str  # "get", "aget" or "initialize"
    parent: Resolution | None = field(default=None, repr=False)
    duration: float = 0.0
    error: str | None = None
    children: list[Resolution] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        """The resolved key as messages and :meth:`ResolutionTrace.render` show it (a
        resource name for an initialization by name)."""
        return (
            self.key
            if isinstance(self.key, str) and self.via == "initialize"
            else (describe_key(self.key))
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with its children."""
        return {
            "key": self.label,
            "lifetime": self.lifetime,
            "created": self.created,
            "via": self.via,
            "duration_ms": round(self.duration * 1000, 6),
            "error": self.error,
            "children": [child.as_dict() for child in self.children],
        }


class ResolutionTrace:
    """The record of one ``with container.trace():`` block: :attr:`roots` (resolutions
    made directly in it), :attr:`resolutions` (all of them, in the order they began),
    :meth:`tree` and :meth:`to_json`."""

    def __init__(
        self, container: InjectQ, on_done: Callable[[Resolution], Any] | None = None
    ) -> None:
        self.container = container
        #: called with each get/aget record when it finishes (the profiler's feed)
        self.on_done = on_done
        self.roots: list[Resolution] = []
        self.resolutions: list[Resolution] = []
        self._lock = threading.Lock()
        self._token: Token[_State] | None = None

    # ------------------------------------------------------------------ the block
    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError("this trace is active already: use container.trace() again")
        self._token = _current.set((*_current.get(), (self, None)))
        _Hook.enter(self.container)
        return self

    def __exit__(self, *exc_info: object) -> None:  # stops whatever ended the block
        token, self._token = self._token, None
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # ended from another context (a profiler's stop()): that
                # context records no more for it; the block's own context is left as is
                _current.set(tuple(pair for pair in _current.get() if pair[0] is not self))
            _Hook.exit(self.container)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()

    # ------------------------------------------------------------------ recording
    def _begin(self, key: Any, parent: Resolution | None, via: str) -> Resolution:
        lifetime, created = _lifetime_and_created(self.container, key)
        record = Resolution(key, lifetime, created, via, parent)
        self._add(record, parent)
        return record

    def _add(self, record: Resolution, parent: Resolution | None) -> None:
        with self._lock:
            self.resolutions.append(record)
            (parent.children if parent is not None else self.roots).append(record)

    # ------------------------------------------------------------------ reading
    def tree(self) -> str:
        """The resolutions as an indented tree, one line each: key, lifetime, created or
        cached, duration (and the error, if it raised)."""
        lines: list[str] = []

        def add(record: Resolution, depth: int) -> None:
            if record.via == "initialize":  # its lifetime is the scope that owns it
                what = f"initialized, owned by {record.lifetime}"
            else:
                what = f"[{record.lifetime}] {'created' if record.created else 'cached'}"
            error = f"  raised {record.error}" if record.error else ""
            lines.append(
                f"{'  ' * depth}{record.label} {what} {record.duration * 1000:.3f} ms{error}"
            )
            for child in record.children:
                add(child, depth + 1)

        for root in self.roots:
            add(root, 0)
        return "\n".join(lines) + ("\n" if lines else "")

    def to_json(self) -> str:
        """The tree as JSON text: ``{"resolutions": [{key, lifetime, created, via,
        duration_ms, error, children}, ...]}``."""
        return json.dumps({"resolutions": [root.as_dict() for root in self.roots]}, indent=2)


def _lifetime_and_created(container: InjectQ, key: Any) -> tuple[str, bool]:
    """The key's lifetime, and whether resolving it now creates an instance."""
    ready = container._ready
    try:
        if key in ready:
            return SINGLETON, False
    except TypeError:  # an unhashable key: get() raises for it
        return "?", True
    binding = container._compiler.binding_for(key)
    if binding is None:
        return "?", True
    lifetime = SINGLETON if binding.kind is Kind.INSTANCE else binding.scope
    if lifetime in (SINGLETON, TRANSIENT):
        return lifetime, True
    scope = container.current_scope()
    while scope is not None:
        if scope.name == lifetime:
            return lifetime, key not in scope.cache
        scope = scope.parent
    return lifetime, True


class _Hook:
    """The traced entry points of one container, installed while any of its traces is
    active (a count), with what they replaced."""

    _installed: ClassVar[weakref.WeakKeyDictionary[InjectQ, _Hook]] = weakref.WeakKeyDictionary()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, container: InjectQ) -> None:
        self.count = 0
        self.container = container
        self.get: Callable[[Any], Any] = container.get
        self.aget: Callable[[Any], Coroutine[Any, Any, Any]] = container.aget
        # get is an instance attribute unless a subclass overrides it (see InjectQ)
        self.get_is_attribute = type(container).get is InjectQ.get
        self.aget_is_attribute = getattr(self.aget, "__func__", None) is not InjectQ.aget
        self.unsubscribe = container.resource_monitor.subscribe(self._on_event)

    @classmethod
    def enter(cls, container: InjectQ) -> None:
        with cls._lock:
            hook = cls._installed.get(container)
            if hook is None:
                hook = cls._installed[container] = cls(container)
                hook.install(container)
            hook.count += 1

    @classmethod
    def exit(cls, container: InjectQ) -> None:
        with cls._lock:
            hook = cls._installed.get(container)
            if hook is None:
                return
            hook.count -= 1
            if hook.count == 0:
                del cls._installed[container]
                hook.uninstall(container)

    def install(self, container: InjectQ) -> None:
        get, aget = self.get, self.aget
        clock = time.perf_counter
        current = _current

        def begin(state: _State, key: Any, via: str) -> tuple[_State, _Records]:
            # one record per trace of this container active here; the others' unchanged
            records: _Records = []
            pairs: list[tuple[ResolutionTrace, Resolution | None]] = []
            for trace, parent in state:
                if trace.container is container:
                    record = trace._begin(key, parent, via)
                    records.append((trace, record))
                    pairs.append((trace, record))
                else:
                    pairs.append((trace, parent))
            return tuple(pairs), records

        def finish(records: _Records, elapsed: float, error: str | None) -> None:
            for trace, record in records:
                record.duration = elapsed
                record.error = error
                if trace.on_done is not None:
                    trace.on_done(record)

        # traced_get and traced (with traced_aget) are twins, a `def` and an `async def`:
        # they cannot share a body, and sharing the timing through a context manager
        # would put its calls inside every span they measure. Change both together.
        def traced_get(key: Any) -> Any:
            state = current.get()
            if not state:
                return get(key)
            inner, records = begin(state, key, "get")
            if not records:
                return get(key)
            token = current.set(inner)
            error: str | None = None
            started = clock()
            try:
                return get(key)
            except BaseException as exc:
                error = repr(exc)
                raise
            finally:
                elapsed = clock() - started
                current.reset(token)
                finish(records, elapsed, error)

        async def traced(inner: _State, records: _Records, key: Any) -> Any:
            # the async twin of traced_get's timed part (see there)
            token = current.set(inner)
            error: str | None = None
            started = clock()
            try:
                return await aget(key)
            except BaseException as exc:
                error = repr(exc)
                raise
            finally:
                elapsed = clock() - started
                current.reset(token)
                finish(records, elapsed, error)

        def traced_aget(key: Any) -> Coroutine[Any, Any, Any]:
            state = current.get()
            if not state:
                return aget(key)
            inner, records = begin(state, key, "aget")
            if not records:
                return aget(key)
            return traced(inner, records, key)

        # instance attributes shadow the methods; set, never through __dict__ (see InjectQ)
        setattr(container, "get", traced_get)  # noqa: B010
        setattr(container, "aget", traced_aget)  # noqa: B010

    def uninstall(self, container: InjectQ) -> None:
        self.unsubscribe()
        if self.get_is_attribute:
            setattr(container, "get", self.get)  # noqa: B010
        else:
            delattr(container, "get")
        if self.aget_is_attribute:  # another hook's (a profiler's): put it back
            setattr(container, "aget", self.aget)  # noqa: B010
        else:
            delattr(container, "aget")

    def _on_event(self, event: ResourceEvent) -> None:
        # the monitor calls this in the thread (and context) that made the transition
        if event.kind != "initialized":
            return
        for trace, parent in _current.get():
            if trace.container is not self.container:
                continue
            record = Resolution(event.key, event.scope, True, "initialize", parent)
            record.duration = event.duration or 0.0
            trace._add(record, parent)
