"""The ``InjectQ`` façade: registration calls in, resolution and lifetimes out.

The hot path is deliberately tiny. ``container.get`` *is* the ``__getitem__`` of a dict
of ready objects (built singletons and plain instances); only a miss reaches Python code,
which runs a resolver generated once per key by :mod:`injectq.core.resolvers`.

The façade keeps every public name; the work of the parts that never run on the hot
path lives beside it: ``container_lifecycle`` (start, close, the live resources),
``container_overrides`` (entering and ending an override) and ``factory_bindings``
(``container.factories``).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import injectq.core.container_lifecycle as _lifecycle
from injectq.core.bindings import (
    INSTANCE,
    SINGLETON,
    TRANSIENT,
    Binding,
    Kind,
    class_binding,
    concrete_binding,
    make_binding,
    normalize_scope,
)
from injectq.core.calling import InjectedCalls
from injectq.core.compiler import Compiler
from injectq.core.container_overrides import end_override, enter_override
from injectq.core.context import active_container as _active_container
from injectq.core.factory_bindings import FactoryBindings
from injectq.core.host import ContainerHost
from injectq.core.overrides import MISS as _MISS
from injectq.core.overrides import OverrideStack
from injectq.core.registry import _UNSET, ServiceRegistry
from injectq.core.scopes import Scope
from injectq.lifecycle.machine import LIVE, resource_spec
from injectq.lifecycle.monitor import ResourceMonitor
from injectq.utils.exceptions import (
    BindingError,
    DependencyNotFoundError,
    ScopeError,
    describe_key,
)
from injectq.utils.validation import check_timeout

if TYPE_CHECKING:
    from injectq.diagnostics.tracing import ResolutionTrace
    from injectq.diagnostics.visualization import DependencyVisualizer
    from injectq.modules.base import Module

__all__ = ["FactoryBindings", "InjectQ"]

T = TypeVar("T")
_DEFAULT_SCOPE: Any = object()
_LIFETIMES = frozenset({SINGLETON, TRANSIENT, ""})

_default_container: InjectQ | None = None
_default_lock = threading.Lock()
_live_containers: weakref.WeakSet[InjectQ] = weakref.WeakSet()


async def _resolved(value: Any) -> Any:
    return value


async def _raising(error: Exception) -> Any:
    raise error


class _Ready(dict[Any, Any]):
    """Built singletons and plain instances; a miss falls through to resolution."""

    __slots__ = ("_bindings", "_build", "_compile", "_resolvers")
    _bindings: dict[Any, Binding]
    _build: Callable[[Any, Binding], Any]
    _compile: Callable[[Any], Any]
    _resolvers: dict[Any, Callable[[], Any]]

    def __missing__(self, key: Any) -> Any:
        # `in`, then [], not try/except (a KeyError costs a singleton's only miss
        # ~0.2 µs) nor .get (a compiled key ~20 ns more; `in` ~7 ns)
        resolvers = self._resolvers
        if key in resolvers:
            return resolvers[key]()  # compiled already: one call, no extra frame
        binding = self._bindings.get(key)
        if binding is not None and binding.scope == SINGLETON and binding.kind is not INSTANCE:
            # built once, then a ready-dict hit: nothing worth compiling
            return self._build(key, binding)
        return self._compile(key)


class InjectQ:
    """A dependency-injection container that owns the lifecycle of what it creates.

    ``bind`` maps a key (a class, a string) to a class, a factory or an instance; ``get``
    builds what a key asks for, its constructor's parameters resolved by their
    annotations. A binding's lifetime is ``"singleton"`` (the default: one per container),
    ``"transient"`` (one per ``get``) or a scope's name (one per ``with c.scope(name):``
    block). Resources are initialized when first built and disposed, in reverse order,
    when their scope ends or the container closes (``close()``, or leaving ``with
    InjectQ() as c:``).

    Examples:
        >>> from injectq import InjectQ
        >>> class Settings:
        ...     url = "sqlite:///:memory:"
        >>> class Session:
        ...     def __init__(self, settings: Settings) -> None:
        ...         self.settings = settings
        >>> with InjectQ() as container:
        ...     container.bind(Settings, Settings)
        ...     container.bind(Session, Session, scope="request")
        ...     with container.scope("request"):
        ...         first, again = container.get(Session), container.get(Session)
        ...     with container.scope("request"):
        ...         other = container.get(Session)
        >>> first is again, first is other  # one Session per request scope
        (True, False)
        >>> first.settings is other.settings  # one Settings per container
        True
    """

    def __init__(
        self,
        modules: Iterable[Module] | None = None,
        *,
        thread_safe: bool = True,
        allow_override: bool = True,
        default_init_timeout: float | None = None,
        default_dispose_timeout: float | None = None,
        monitor: ResourceMonitor | None = None,
        use_async_scopes: bool = True,
        validate: bool = False,
    ) -> None:
        # use_async_scopes is InjectQ 0.5's switch between thread-local and contextvar
        # scopes; injectq's scopes are always contextvar-based, right for both threads
        # and tasks, so the flag is kept for compatibility and changes nothing.
        self.use_async_scopes = use_async_scopes
        self.thread_safe = thread_safe
        self.allow_override = allow_override
        self._default_init_timeout = check_timeout("default_init_timeout", default_init_timeout)
        self._default_dispose_timeout = check_timeout(
            "default_dispose_timeout", default_dispose_timeout
        )
        self.resource_monitor = monitor if monitor is not None else ResourceMonitor()
        self._bindings = ServiceRegistry()
        self._ready = _Ready()
        self._ready._bindings = self._bindings
        self._ready._compile = self._compile_miss
        self._ready_get = self._ready.get
        self._resolvers: dict[Any, Callable[[], Any]] = {}
        self._ready._resolvers = self._resolvers
        self._aresolvers: dict[Any, Callable[[], Any]] = {}
        self._inflight: dict[Any, Any] = {}  # key -> creation claim (see core.claims)
        self._pending_singletons: dict[Any, Any] = {}
        self._overrides: dict[Any, OverrideStack] = {}  # key -> overrides in effect
        self._slot_lock = threading.Lock()
        self._registry_lock = threading.RLock()
        self._root = Scope(self, None, "root")
        self._scope_var: ContextVar[Scope] = ContextVar(
            f"injectq.scope.{id(self)}", default=self._root
        )
        self._compiler = Compiler(
            ContainerHost(
                bindings=self._bindings,
                ready=self._ready,
                inflight=self._inflight,
                pending_singletons=self._pending_singletons,
                slot_lock=self._slot_lock,
                scope_var=self._scope_var,
                root=self._root,
                monitor=self.resource_monitor,
                default_init_timeout=self._default_init_timeout,
                default_dispose_timeout=self._default_dispose_timeout,
                publish_singleton=self._publish_singleton,
            )
        )
        self._ready._build = self._compiler.singleton_now
        # calling a function with injection (@inject, invoke): set as attributes, once
        calls = InjectedCalls(self, self._compiler)
        self._callers = calls.callers
        self._caller_for = calls.caller_for
        self._call_with_injection = calls.call
        self._acall_with_injection = calls.acall
        self._call_partial = calls.call_partial
        self._version = 0  # bumped by every registry change; stale compiles are not kept
        self._bindings[InjectQ] = Binding(InjectQ, self, Kind.INSTANCE, SINGLETON)
        self._bindings[ResourceMonitor] = Binding(
            ResourceMonitor, self.resource_monitor, Kind.INSTANCE, SINGLETON
        )
        # get() is the ready-dict's own __getitem__: a hit costs one C call. Set as an
        # attribute, never through self.__dict__: on 3.11 touching __dict__ turns the
        # instance's attributes into a dict whose reads are ~4x slower on every path.
        if type(self).get is InjectQ.get:
            setattr(self, "get", self._ready.__getitem__)  # noqa: B010 (mypy: get is a method)
        _live_containers.add(self)
        if modules:
            for module in modules:
                self.install_module(module)
        if validate:  # after the modules: their bindings are the graph to check
            self.validate()

    def __repr__(self) -> str:
        return f"<InjectQ {len(self._bindings)} binding(s)>"

    # ------------------------------------------------------------------ default instance
    @classmethod
    def get_instance(cls) -> InjectQ:
        """The container active in this context (``with c.context()``), else the
        process-wide default, created on first use."""
        active = _active_container.get()
        if active is not None:
            return active
        global _default_container
        if _default_container is None:
            with _default_lock:
                if _default_container is None:
                    _default_container = cls()
        return _default_container

    @classmethod
    def reset_instance(cls) -> None:
        """Forget the process-wide default container; the next ``get_instance()`` makes a new
        one. For tests: the old default is not closed (close it first if it holds resources)."""
        global _default_container
        with _default_lock:
            _default_container = None

    @contextlib.contextmanager
    def context(self) -> Iterator[InjectQ]:
        """Make this the container ``InjectQ.get_instance()`` and ``@inject`` use here."""
        token = _active_container.set(self)
        try:
            yield self
        finally:
            _active_container.reset(token)

    def activate(self) -> contextlib.AbstractContextManager[InjectQ]:
        """Activate for the rest of this context; also usable as ``with c.activate():``."""
        token = _active_container.set(self)

        @contextlib.contextmanager
        def undo() -> Iterator[InjectQ]:
            try:
                yield self
            finally:
                _active_container.reset(token)

        return undo()

    @classmethod
    @contextlib.contextmanager
    def test_mode(cls) -> Iterator[InjectQ]:
        """A fresh container, active (and the default) for the block; nothing leaks out."""
        global _default_container
        container = cls()
        with _default_lock:
            saved, _default_container = _default_container, container
        token = _active_container.set(container)
        try:
            yield container
        finally:
            _active_container.reset(token)
            with _default_lock:
                _default_container = saved
            with contextlib.suppress(Exception):
                container.close()

    # ------------------------------------------------------------------ registration
    def _invalidate(self) -> None:
        """Drop everything compiled: it may have inlined a binding that changed."""
        self._version += 1  # also for a compile in flight, which holds no plan yet
        if self._resolvers or self._aresolvers or self._callers or self._compiler.nodes:
            self._drop_compiled()

    def _drop_compiled(self) -> None:
        self._resolvers.clear()
        self._aresolvers.clear()
        self._callers.clear()
        self._compiler.reset()  # everything else compiled comes from a plan

    def _store(self, binding: Binding, concrete: Binding | None = None) -> None:
        """Store ``binding`` (and ``concrete``, the binding of an instance's own class,
        see ``allow_concrete``): both or, when an override is refused, neither."""
        key = binding.key
        lock = self._registry_lock
        lock.acquire()  # not `with`: binding many classes is the common case, and
        try:  # `with` costs a bound __enter__ and __exit__ more per call
            if concrete is None and self.allow_override:
                self._bindings[key] = binding
            else:
                stored = (binding,) if concrete is None else (binding, concrete)
                self._bindings.add(stored, allow_override=self.allow_override)
                if concrete is not None:
                    self._ready.pop(concrete.key, None)
                    self._pending_singletons.pop(concrete.key, None)
            if key in self._ready:  # rebinding after use; `in` first: a fresh key is usual
                self._ready.pop(key, None)  # (not del: close() may drop it meanwhile)
            if self._pending_singletons:
                self._pending_singletons.pop(key, None)
            # _invalidate, inlined
            self._version += 1
            if self._resolvers or self._aresolvers or self._callers or self._compiler.nodes:
                self._drop_compiled()
        finally:
            lock.release()

    def bind(
        self,
        service_type: Any,
        implementation: Any = _UNSET,
        scope: Any = _DEFAULT_SCOPE,
        allow_none: bool = False,
        to: Any = None,
        allow_concrete: bool = True,
    ) -> None:
        """Bind a key to a class (autowired), a factory function, or an instance.

        Classes and factories default to ``"singleton"``; ``scope=`` may name any
        lifetime: ``"singleton"``, ``"transient"``, ``"request"``, ``"action"`` or your own.
        ``bind(K)`` binds the class ``K`` to itself; binding ``None`` needs
        ``allow_none=True``. An instance bound to a class is also bound to its own class
        unless ``allow_concrete=False`` (InjectQ's rule; builtin types excepted).
        """
        impl = to if implementation is _UNSET and to is not None else implementation
        if scope is _DEFAULT_SCOPE and isinstance(impl, type) and service_type is not None:
            binding = class_binding(service_type, impl, None, allow_none)  # the common case
        else:
            given = scope is not _DEFAULT_SCOPE
            binding = make_binding(
                service_type,
                impl,
                scope if given else SINGLETON,
                allow_none=allow_none,
                scope_given=given,
            )
        concrete = (
            concrete_binding(binding) if allow_concrete and binding.kind is INSTANCE else None
        )
        self._store(binding, concrete)

    def bind_instance(
        self,
        service_type: Any,
        instance: Any,
        allow_none: bool = False,
        allow_concrete: bool = True,
    ) -> None:
        """Bind a ready object, returned as it is (callables included); bound to a class,
        it is also bound to its own class unless ``allow_concrete=False`` (builtin types
        excepted)."""
        binding = make_binding(
            service_type, instance, SINGLETON, allow_none=allow_none, as_instance=True
        )
        self._store(binding, concrete_binding(binding) if allow_concrete else None)

    def bind_factory(
        self,
        service_type: Any,
        factory: Callable[..., Any],
        scope: Any = TRANSIENT,
        allow_none: bool = False,
    ) -> None:
        """Bind a factory whose parameters are injected; transient unless ``scope=``."""
        if not callable(factory):
            raise BindingError(f"bind_factory needs a callable, got {factory!r}")
        if isinstance(factory, type):
            binding = make_binding(service_type, factory, scope, allow_none=allow_none)
        else:
            binding = make_binding(service_type, factory, scope, allow_none=allow_none)
            if binding.kind is Kind.INSTANCE:  # a callable object: call it as a factory
                binding = Binding(
                    service_type, factory, Kind.FACTORY, normalize_scope(scope), allow_none
                )
        self._store(binding)

    def unbind(self, service_type: Any) -> None:
        """Remove the binding of ``service_type``, and its singleton if one was built (not
        closed): the next ``c.get(service_type)`` autowires it anew, or fails if it can't.

        Raises DependencyNotFoundError if nothing is bound to it."""
        with self._registry_lock:
            if service_type not in self._bindings:
                raise DependencyNotFoundError(
                    f"{describe_key(service_type)} is not bound", key=service_type
                )
            del self._bindings[service_type]
            self._ready.pop(service_type, None)
            self._pending_singletons.pop(service_type, None)
            self._invalidate()

    def __setitem__(self, key: Any, value: Any) -> None:
        self.bind(key, value, allow_none=value is None)

    def __delitem__(self, key: Any) -> None:
        self.unbind(key)

    def __contains__(self, key: Any) -> bool:
        return self.has(key)

    def has(self, key: Any) -> bool:
        """Whether ``key`` is bound (an unbound class that ``get`` would autowire is not)."""
        return key in self._bindings

    def install_module(self, module: Module) -> None:
        """Apply a module's bindings; if ``configure`` fails, nothing is changed."""
        with self._registry_lock:
            saved = dict(self._bindings)
            saved_ready = dict(self._ready)
            saved_pending = dict(self._pending_singletons)
            try:
                module.configure(self)
            except BaseException:
                self._bindings.clear()
                self._bindings.update(saved)
                with self._slot_lock:  # built singletons of the old bindings come back
                    self._ready.clear()
                    self._ready.update(saved_ready)
                    self._pending_singletons.clear()
                    self._pending_singletons.update(saved_pending)
                self._invalidate()
                raise

    def install(self, module: Module) -> None:
        """Apply a module's bindings: the same as :meth:`install_module`."""
        self.install_module(module)

    @property
    def bindings(self) -> dict[Any, Binding]:
        """A copy of the registry, for diagnostics."""
        return dict(self._bindings)

    def clear(self) -> None:
        """Dispose what the container owns (as :meth:`close`), then remove every binding:
        the container is as new, and can be bound and used again."""
        self.close()
        with self._registry_lock:
            kept = {key: self._bindings[key] for key in (InjectQ, ResourceMonitor)}
            self._bindings.clear()
            self._bindings.update(kept)
            with self._slot_lock:
                self._pending_singletons.clear()
            self._invalidate()

    def clear_scope(self, scope_name: Any) -> None:
        """Forget the cached instances of a scope (InjectQ's), so the next resolution
        builds new ones. ``"singleton"``: the container's singletons, disposed first as
        :meth:`close` disposes them (dropping a live resource would leak it); a named
        scope (``"request"``): the innermost one active in this context, whose resources
        stay its own and are disposed at its exit as always; ``"transient"``: nothing is
        cached. Raises ``ScopeError`` when no such scope is active here."""
        name = normalize_scope(scope_name)
        if name == SINGLETON:
            self.close()
            return
        if name == TRANSIENT:
            return
        scope: Scope | None = self._scope_var.get()
        while scope is not None and scope.name != name:
            scope = scope.parent
        if scope is None or scope is self._root:
            raise ScopeError(
                f"No {name!r} scope is active here to clear; enter one with "
                f"container.scope({name!r})."
            )
        scope.cache.clear()

    def clear_all_scopes(self) -> None:
        """Forget the cached instances of every scope active in this context, and the
        singletons (disposed first, as :meth:`clear_scope` says) (InjectQ's)."""
        scope: Scope | None = self._scope_var.get()
        while scope is not None and scope is not self._root:
            scope.cache.clear()
            scope = scope.parent
        self.close()

    # ------------------------------------------------------------------ resolution
    # The key overloads, here and below: type[T] gives a concrete class its exact type;
    # Callable[..., T] catches what mypy refuses for type[T] (an abstract class or a
    # Protocol, its type-abstract rule), so those keep their type too. A class that still
    # gets past both met a mistyped target (mypy solves T from the target when it is
    # generic, `rows: list[str] = c.get(Db)`): type[object] gives it `object`, so the
    # mistake is reported instead of falling through to Any. Any other key (a string)
    # resolves to Any. (Both checkers call type[object] unreachable; mypy reaches it.)
    @overload
    def get(self, service_type: type[T]) -> T: ...
    @overload
    def get(self, service_type: Callable[..., T]) -> T: ...
    @overload
    def get(self, service_type: type[object]) -> object: ...  # type: ignore[overload-cannot-match]
    @overload
    def get(self, service_type: Any) -> Any: ...
    def get(self, service_type: Any) -> Any:
        """Resolve ``service_type``. Singletons already built cost one dict lookup."""
        return self._ready[service_type]

    __getitem__ = get  # ``container[key]``: the same function and overloads as get

    def _compile_miss(self, key: Any) -> Any:
        """The first miss of a key that is not a bound singleton: compile its resolver."""
        with self._compiler.lock:
            version = self._version
            resolver, complete = self._compiler.root_resolver(key)
            if complete and version == self._version:
                self._resolvers[key] = resolver
        return resolver()

    @overload
    def aget(self, service_type: type[T]) -> Coroutine[Any, Any, T]: ...
    @overload
    def aget(self, service_type: Callable[..., T]) -> Coroutine[Any, Any, T]: ...
    @overload
    def aget(self, service_type: type[object]) -> Coroutine[Any, Any, object]: ...  # type: ignore[overload-cannot-match]
    @overload
    def aget(self, service_type: Any) -> Coroutine[Any, Any, Any]: ...
    def aget(self, service_type: Any) -> Coroutine[Any, Any, Any]:
        """Resolve in async code (``await c.aget(T)``): async factories are awaited,
        resources come back initialized. Returns the resolving coroutine itself (no
        coroutine of its own to wrap it); errors are raised where it is awaited."""
        value = self._ready_get(service_type, _MISS)
        if value is not _MISS:
            return _resolved(value)
        resolver = self._aresolvers.get(service_type)
        if resolver is None:
            try:
                with self._compiler.lock:
                    resolver, complete = self._compiler.aroot_resolver(service_type)
                    if complete:
                        self._aresolvers[service_type] = resolver
            except Exception as exc:
                return _raising(exc)
        return resolver()  # type: ignore[no-any-return]

    @overload
    def try_get(self, service_type: type[T], default: T | None = None) -> T | None: ...
    @overload
    def try_get(self, service_type: Callable[..., T], default: T | None = None) -> T | None: ...
    @overload
    def try_get(self, service_type: type[object], default: object = None) -> object: ...  # type: ignore[overload-cannot-match]
    @overload
    def try_get(self, service_type: Any, default: Any = None) -> Any: ...
    def try_get(self, service_type: Any, default: Any = None) -> Any:
        """Like ``get``, but ``default`` when nothing is bound or autowirable."""
        try:
            return self.get(service_type)
        except DependencyNotFoundError as exc:
            if exc.key is service_type or exc.key == service_type:
                return default
            raise

    @overload
    async def atry_get(self, service_type: type[T], default: T | None = None) -> T | None: ...
    @overload
    async def atry_get(
        self, service_type: Callable[..., T], default: T | None = None
    ) -> T | None: ...
    @overload
    async def atry_get(self, service_type: type[object], default: object = None) -> object: ...  # type: ignore[overload-cannot-match]
    @overload
    async def atry_get(self, service_type: Any, default: Any = None) -> Any: ...
    async def atry_get(self, service_type: Any, default: Any = None) -> Any:
        """The async twin of :meth:`try_get`: ``await c.atry_get(Cache)`` is ``default`` when
        nothing is bound or autowirable; any other error (a failing dependency) is raised."""
        try:
            return await self.aget(service_type)
        except DependencyNotFoundError as exc:
            if exc.key is service_type or exc.key == service_type:
                return default
            raise

    def _publish_singleton(self, key: Any, value: Any) -> bool:
        """Make the built singleton ``get``-able; False when it is parked as pending."""
        if resource_spec(type(value)) is not None:
            state = getattr(value, "_injectq_resource_state", None)
            if state is not None and state.status != LIVE:
                # get() in a loop scheduled its async initialize(): ready once it is done
                self._pending_singletons[key] = value
                return False
        if self._pending_singletons:
            self._pending_singletons.pop(key, None)
        # nothing generated is dropped: generated functions are kept only when every
        # singleton they use was built already (inlined), so none calls out to this one
        self._ready[key] = value
        return True

    def _factory_of(self, service_type: Any) -> Callable[..., Any]:
        binding = self._bindings.get(service_type)
        if binding is None:
            raise DependencyNotFoundError(
                f"No binding for {describe_key(service_type)}", key=service_type
            )
        if binding.kind is Kind.INSTANCE:
            raise BindingError(
                f"{describe_key(service_type)} is bound to an instance, not a factory"
            )
        return binding.provider  # type: ignore[no-any-return]

    def get_factory(self, service_type: Any) -> Callable[..., Any]:
        """The raw factory (or class) bound to ``service_type``."""
        return self._factory_of(service_type)

    async def aget_factory(self, service_type: Any) -> Callable[..., Any]:
        """:meth:`get_factory` for async code (InjectQ's API; the lookup itself is sync)."""
        return self._factory_of(service_type)

    @property
    def factories(self) -> FactoryBindings:
        """The factory bindings as a mapping: ``c.factories[K] = fn`` is
        ``c.bind_factory(K, fn)``; ``c.factories[K]`` is ``c.get_factory(K)``."""
        return FactoryBindings(self)

    def call_factory(self, service_type: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the bound factory with exactly these arguments (nothing injected)."""
        return self._factory_of(service_type)(*args, **kwargs)

    async def acall_factory(self, service_type: Any, *args: Any, **kwargs: Any) -> Any:
        """The async twin of :meth:`call_factory`: an ``async def`` factory's result is awaited."""
        import asyncio

        result = self.call_factory(service_type, *args, **kwargs)
        if asyncio.iscoroutine(result):
            return await result
        return result

    def invoke(self, service_type: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the bound factory with some arguments given, the rest injected."""
        fn = self._factory_of(service_type)
        return self._call_partial(fn, args, kwargs)

    async def ainvoke(self, service_type: Any, *args: Any, **kwargs: Any) -> Any:
        """The async twin of :meth:`invoke`: some arguments given, the rest injected (async
        dependencies and an ``async def`` factory awaited)."""
        return await self._acall_with_injection(self._factory_of(service_type), args, kwargs)

    # ------------------------------------------------------------------ scopes
    def scope(self, name: Any = "request") -> Scope:
        """A new scope: ``with c.scope("request"):`` or ``async with c.scope("request"):``.

        Inside the block, bindings of that scope's name give one instance per block; at
        its end the resources activated in it are disposed, in reverse order.

        Examples:
            >>> from injectq import InjectQ, resource
            >>> @resource
            ... class Transaction:
            ...     def initialize(self) -> None:
            ...         self.open = True
            ...     def dispose(self) -> None:
            ...         self.open = False
            >>> with InjectQ() as container:
            ...     container.bind(Transaction, Transaction, scope="request")
            ...     with container.scope("request"):
            ...         tx = container.get(Transaction)
            ...         inside = tx.open, tx is container.get(Transaction)
            >>> inside, tx.open  # one per scope, disposed when the scope ends
            ((True, True), False)
        """
        if type(name) is str and name not in _LIFETIMES:  # the common case, checked cheaply
            return Scope(self, name)
        scope_name = normalize_scope(name)
        if scope_name in _LIFETIMES:
            raise BindingError(f"{scope_name!r} is a lifetime, not a scope you can enter")
        return Scope(self, scope_name)

    def async_scope(self, name: Any = "request") -> Scope:
        """Alias of :meth:`scope` (InjectQ compatibility); use with ``async with``."""
        return self.scope(name)

    def resource_scope(self) -> Scope:
        """An anonymous scope that owns the resources activated in it."""
        return Scope(self, None)

    def current_scope(self) -> Scope | None:
        """The scope entered in this context (``with c.scope(...)``), or None outside any."""
        scope = self._scope_var.get()
        return None if scope is self._root else scope

    # ------------------------------------------------------------------ overrides
    @contextlib.contextmanager
    def override(self, service_type: Any, value: Any, *, scope: Any = None) -> Iterator[Any]:
        """Temporarily bind ``service_type`` to ``value``; restores everything on exit.

        ``value`` is classified as ``bind`` does (a class is autowired, a function is a
        factory, anything else is an instance); when the original binding is an instance,
        the override is one too. Singletons built before the override are kept and never
        rebuilt; of those built during it, only the ones that depend on the overridden key
        are dropped at exit.

        The overrides of one key form a stack whose top is in effect, and any of them may
        end first (overlapping, not nested, blocks in concurrent tasks or threads): an
        exit removes just that override, so the others' stay as they were and the
        original binding is back once the last one has ended.
        """
        stack, layer = enter_override(self, service_type, value, scope)
        try:
            yield value
        finally:
            end_override(self, service_type, stack, layer)

    # ------------------------------------------------------------------ lifecycle
    # the work is in core/container_lifecycle.py; these are the public names
    def get_all_resources(self) -> dict[Any, Any]:
        """``{binding key: instance}`` of live resources of the root and the current
        scope chain (the first instance per key)."""
        result: dict[Any, Any] = {}
        for key, instance in self._live_resource_entries():
            result.setdefault(key, instance)
        return result

    def _live_resource_entries(self) -> list[tuple[Any, Any]]:
        return _lifecycle.live_resource_entries(self)

    def resource_metrics(self) -> dict[str, dict[str, Any]]:
        """Snapshot of the resource monitor: per resource type counters and timings."""
        return self.resource_monitor.snapshot()

    def _after_root_close(self) -> None:
        with self._slot_lock:
            keep = {InjectQ, ResourceMonitor}
            for key in list(self._ready):
                if key not in keep:
                    del self._ready[key]
            self._pending_singletons.clear()
        self._invalidate()
        self._root.closed = False

    def close(self) -> None:
        """Dispose everything the container owns (singletons, root-owned transients),
        in reverse order. Async disposals run on a private loop when no loop is running.

        ``with InjectQ() as container:`` closes it at the end of the block. A closed
        container can still be used: what it builds next is new.

        Examples:
            >>> from injectq import InjectQ, resource
            >>> closed = []
            >>> @resource
            ... class Database:
            ...     def dispose(self) -> None:
            ...         closed.append("Database")
            >>> @resource
            ... class Repository:
            ...     def __init__(self, db: Database) -> None:
            ...         self.db = db
            ...     def dispose(self) -> None:
            ...         closed.append("Repository")
            >>> container = InjectQ()
            >>> container.bind(Repository, Repository)
            >>> container.bind(Database, Database)
            >>> repo = container.get(Repository)
            >>> container.close()
            >>> closed  # the dependent first, then what it depends on
            ['Repository', 'Database']
        """
        _lifecycle.close(self)

    async def aclose(self) -> None:
        """Dispose everything the container owns, awaiting async disposals."""
        await _lifecycle.aclose(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self, *keys: Any) -> None:
        """Initialize singleton resources eagerly, dependencies first; on failure
        dispose what was started (reverse order) and raise. The graph is validated
        first (:meth:`validate`): a broken graph raises before anything starts.

        With ``keys``, only those (and what they depend on) are started.

        Examples:
            >>> import asyncio
            >>> from injectq import InjectQ, resource
            >>> @resource
            ... class Cache:
            ...     async def initialize(self) -> None:
            ...         self.data = {"ready": True}
            ...     async def dispose(self) -> None:
            ...         self.data.clear()
            >>> async def main() -> dict[str, bool]:
            ...     async with InjectQ() as container:
            ...         container.bind(Cache, Cache)
            ...         await container.start()  # initialized now, not at the first get
            ...         cache = await container.aget(Cache)
            ...         return dict(cache.data)
            >>> asyncio.run(main())
            {'ready': True}
        """
        await _lifecycle.start(self, keys)

    def start_sync(self, *keys: Any) -> None:
        """Sync twin of :meth:`start` for resources with sync ``initialize``."""
        _lifecycle.start_sync(self, keys)

    # ------------------------------------------------------------------ diagnostics
    def validate(self) -> list[Any]:
        """Check the whole graph without building anything (no constructor, factory or
        ``initialize()`` runs): raise :class:`~injectq.diagnostics.ValidationError`
        listing every problem (missing bindings, cycles, captive lifetimes, and the
        ``async_only`` warnings) when there is an error; else return the warnings."""
        from injectq.diagnostics.validation import validate_container

        return validate_container(self)

    def compile(self) -> None:
        """Plan every binding now (signatures read, missing dependencies and cycles
        found), so that first resolutions do not pay for it; raises the first missing
        dependency or cycle (:meth:`validate` lists them all)."""
        with self._compiler.lock:
            for key in list(self._bindings):
                self._compiler.plan(key)

    def trace(self) -> ResolutionTrace:
        """``with container.trace() as trace:`` records each resolution made in this
        context (key, lifetime, created or cached, duration, parent): ``trace.tree()``,
        ``trace.to_json()``. Costs nothing when no trace is active."""
        from injectq.diagnostics.tracing import ResolutionTrace

        return ResolutionTrace(self)

    def visualize_dependencies(self) -> DependencyVisualizer:
        """A :class:`~injectq.diagnostics.DependencyVisualizer` of this container."""
        from injectq.diagnostics.visualization import DependencyVisualizer

        return DependencyVisualizer(self)

    def get_dependency_graph(self) -> dict[Any, list[Any]]:
        """``{key: [keys it depends on]}`` for every bound key and every class autowired
        below one (read from the plans: nothing is built; a broken key keeps the
        dependencies that plan, :meth:`validate` says what is wrong)."""
        from injectq.diagnostics.graph import read_graph

        nodes = read_graph(self).nodes
        return {key: list(node.dependencies) for key, node in nodes.items()}

    def __del__(self) -> None:
        try:
            live = [entry.label for entry in self._root.stack if entry.is_live]
        except Exception:
            return
        if live:
            warnings.warn(
                f"InjectQ container garbage-collected with live resources: {', '.join(live)}. "
                "Call close()/aclose() (or use `with container:`) to dispose them.",
                ResourceWarning,
                stacklevel=1,
            )
