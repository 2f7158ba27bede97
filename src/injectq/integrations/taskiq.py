"""Taskiq integration: every task execution runs in its own ``request`` scope.

::

    from injectq import InjectQ
    from injectq.integrations.taskiq import InjectTask, setup_taskiq

    container = InjectQ()
    broker = InMemoryBroker()
    setup_taskiq(container, broker)

    @broker.task
    async def send_welcome(user_id: int, mailer: InjectTask[Mailer]) -> None:
        await mailer.send(user_id, "Welcome!")

``setup_taskiq`` attaches the container to ``broker.state`` (as
``broker.state.injectq_container``) and adds :class:`InjectQTaskiqMiddleware`, which
enters ``container.scope("request")`` (and makes the container active) in ``pre_execute``
and leaves it in ``post_execute``, on the worker side: request-scoped bindings are one
per task execution, and the resources a task activated are disposed when it finishes,
before its result is stored, also when it raised. A disposal failure after a successful
task becomes the task's error. With ``close_on_shutdown=True`` (the default)
``broker.shutdown()`` also runs ``await container.aclose()``.

``InjectTask[T]`` (alias ``InjectTaskiq[T]``) works as a parameter annotation
(``svc: InjectTask[T]``), as a default (``svc: T = InjectTask[T]``), and called, as
``Annotated`` metadata (``svc: Annotated[T, InjectTask(T)]``). Each is a taskiq
dependency resolving ``await container.aget(T)`` inside the task's scope.

Needs ``taskiq`` (``pip install injectq[taskiq]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import functools
import inspect
from collections import ChainMap
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

try:
    from taskiq import (
        NoResultError,
        TaskiqDepends,
        TaskiqEvents,
        TaskiqMiddleware,
        TaskiqState,
    )
    from taskiq_dependencies.dependency import Dependency
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.taskiq needs taskiq: pip install 'injectq[taskiq]'"
    ) from exc

from injectq.integrations._base import OpenScope, RequestScopes, claim, no_container
from injectq.integrations._markers import DependencyMarker, marker_class
from injectq.utils.exceptions import InjectionError, describe_key

if TYPE_CHECKING:
    from contextvars import Token

    from taskiq import TaskiqMessage, TaskiqResult

    from injectq.core.container import InjectQ

__all__ = [
    "InjectQTaskiqMiddleware",
    "InjectTask",
    "InjectTaskiq",
    "get_task_container",
    "setup_taskiq",
]

T = TypeVar("T")

#: attribute of ``broker.state`` holding the container
STATE_KEY = "injectq_container"


# --------------------------------------------------------------------------- resolution
def get_task_container(state: TaskiqState) -> InjectQ:
    """The container attached to a broker's state by :func:`setup_taskiq`."""
    container = getattr(state, STATE_KEY, None)
    if container is None:
        raise no_container("call setup_taskiq(container, broker)")
    return container  # type: ignore[no-any-return]


def _dependency(key: Any) -> Any:
    """The taskiq dependency that resolves ``key`` in the current task's scope.

    It takes no parameters: the running task's container comes from the execution that
    :class:`InjectQTaskiqMiddleware` entered (a context variable), so taskiq has no
    sub-dependency (``TaskiqState``) to resolve for it on every task. It returns
    ``container.aget(key)``'s coroutine, which taskiq awaits: no coroutine of its own."""

    def resolve() -> Awaitable[Any]:
        execution = _current_execution.get()
        if execution is None:
            raise InjectionError(
                "No InjectQ container serves this task: call "
                "setup_taskiq(container, broker) before running tasks."
            )
        return execution.container.aget(key)

    resolve.__name__ = f"inject_{getattr(key, '__name__', 'dependency')}"
    resolve.__qualname__ = f"InjectTask[{describe_key(key)}]"
    return resolve


def _depends(key: Any) -> Dependency:
    # use_cache=True: taskiq resolves a cached dependency in its main pass; an uncached
    # one costs a sub-context per parameter and task. Every `InjectTask[T]` written out
    # is its own dependency, so two parameters asking for a transient still get two
    # instances; only one marker object reused for two parameters (an alias) is resolved
    # once per task, as any taskiq dependency is.
    depends: Dependency = TaskiqDepends(_dependency(key), use_cache=True)
    return depends


_Marker = marker_class(Dependency, vars, Dependency)


if TYPE_CHECKING:
    # What type checkers see: the annotation form, so ``svc: InjectTask[Mailer]`` is a
    # ``Mailer`` in the task's body. (One name cannot also be typed as a value returning
    # ``Mailer``: the default and call forms are not typed.)
    InjectTask: TypeAlias = Annotated[T, Dependency]
    InjectTaskiq: TypeAlias = Annotated[T, Dependency]
else:

    class InjectTask(DependencyMarker[T]):
        """Inject ``T`` from the broker's container into a taskiq task.

        - ``svc: InjectTask[Mailer]``: as the parameter's annotation (typed);
        - ``svc: Mailer = InjectTask[Mailer]``: as its default;
        - ``svc: Annotated[Mailer, InjectTask(Mailer)]``: as ``Annotated`` metadata
          (InjectQ style).

        The value is ``await container.aget(Mailer)`` in the task's scope: resources come
        back initialized, request-scoped bindings are shared within one task execution.
        """

        __slots__ = ()
        depends = staticmethod(_depends)
        marker = _Marker

    InjectTaskiq = InjectTask


#: names a task's string annotations can always use, wherever they were imported
_OWN_NAMES = {"InjectTask": InjectTask, "InjectTaskiq": InjectTaskiq}


# --------------------------------------------------------------------------- middleware
@dataclass(slots=True)
class _Execution:
    """One task execution: its container, its open scope, and the context token to undo."""

    container: InjectQ
    opened: OpenScope
    token: Token[_Execution | None] | None = None


#: the execution the current task runs in (set in pre_execute, reset in post_execute;
#: nested in-place executions stack through the tokens)
_current_execution: ContextVar[_Execution | None] = ContextVar(
    "injectq.taskiq.execution", default=None
)


class InjectQTaskiqMiddleware(TaskiqMiddleware):
    """A fresh ``container.scope(scope_name)`` around every task execution (worker
    side), with the container active; optionally ``aclose()`` at broker shutdown.

    ``pre_execute``, the task (its dependencies included) and ``post_execute`` run in one
    asyncio task, so the scope entered in ``pre_execute`` is the one the task sees (sync
    tasks run in a thread with a copy of that context).
    """

    def __init__(
        self,
        container: InjectQ,
        *,
        scope_name: str = "request",
        close_on_shutdown: bool = False,
    ) -> None:
        super().__init__()
        self.container = container
        self.scope_name = scope_name
        self.close_on_shutdown = close_on_shutdown
        self._scopes = RequestScopes(container, scope_name)  # checks the name now

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """Enter the task's scope before the task runs, with the container active."""
        opened = await self._scopes.aenter()
        execution = _Execution(self.container, opened)
        execution.token = _current_execution.set(execution)
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        """Exit the task's scope after the task, handing its disposals the task's error, if
        any."""
        execution = _current_execution.get()
        if execution is None or execution.container is not self.container:
            return  # pragma: no cover - pre_execute did not run here
        error = result.error if result.is_err else None
        if isinstance(error, NoResultError):
            error = None  # taskiq's way to store no result, not a failure
        try:
            # the scope's exit is itself cancellation-safe (DESIGN §3.5): cancelling the
            # task still lets every disposal run to its end before it is re-raised
            await self._scopes.aexit(execution.opened, error)
        except Exception as exc:
            # the task succeeded but disposing its resources failed: that is its outcome
            # (the failures were also logged by the scope)
            result.is_err = True
            result.error = exc
        finally:
            if execution.token is not None:
                _current_execution.reset(execution.token)

    async def shutdown(self) -> None:
        """At broker shutdown, ``aclose()`` the container when ``close_on_shutdown=True``."""
        if self.close_on_shutdown:
            await self.container.aclose()


# --------------------------------------------------------------------------- annotations
def _resolve_annotations(func: Any, namespace: Mapping[str, Any]) -> None:
    """Evaluate ``func``'s string annotations (``from __future__ import annotations``)
    with ``namespace`` (the locals of the code declaring the task) after its module's
    globals, and store the results on ``func``.

    Taskiq reads a task's annotations with ``typing.get_type_hints(func)``, which looks
    names up in the module's globals only: ``InjectTask`` (or a service class) imported
    or defined inside the function that declares the task is a ``NameError`` there.
    Resolved here, where those locals are known, the annotations are plain objects by the
    time taskiq reads them. One that still cannot be evaluated is left as it was."""
    annotations = getattr(func, "__annotations__", None)
    if not annotations:
        return
    globalns = getattr(inspect.unwrap(func), "__globals__", {})
    # the declaring code's locals first, then the module (as Python would), then ours
    localns = ChainMap(dict(namespace), globalns, _OWN_NAMES)
    for name, annotation in list(annotations.items()):
        if isinstance(annotation, str):
            try:  # what typing.get_type_hints does, with the locals as well
                annotations[name] = eval(annotation, globalns, localns)  # noqa: S307  # the task's own annotation
            except Exception:  # noqa: S112  # not lost: taskiq's own get_type_hints raises it
                continue


def _caller_locals() -> Mapping[str, Any]:
    """The locals of the code that called our caller (the code applying a decorator).

    ``inspect.currentframe()`` is the standard library's public way to the stack (no
    private ``sys._getframe``); it returns None on an interpreter without Python stack
    frames, and then there are no locals: the annotations are resolved against the
    module alone, as taskiq itself would."""
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
        return caller.f_locals if caller is not None else {}
    finally:
        del frame  # a frame kept in its own locals is a reference cycle


def _declaring_tasks_with_locals(task: Callable[..., Any]) -> Callable[..., Any]:
    """``broker.task`` that first resolves the task's string annotations with the locals
    of the code applying the decorator (see :func:`_resolve_annotations`)."""

    @functools.wraps(task)
    def declare(task_name: Any = None, **labels: Any) -> Any:
        caller = _caller_locals()
        if callable(task_name):  # @broker.task
            _resolve_annotations(task_name, caller)
            return task(task_name, **labels)
        decorate = task(task_name, **labels)  # @broker.task("name", ...)

        @functools.wraps(decorate)
        def declare_with(func: Any) -> Any:
            _resolve_annotations(func, _caller_locals())
            return decorate(func)

        return declare_with

    return declare


def setup_taskiq(
    container: InjectQ,
    broker: Any,
    *,
    scope_name: str = "request",
    close_on_shutdown: bool = True,
) -> None:
    """Serve ``broker``'s tasks from ``container``: attach it to ``broker.state``, run
    each task execution in its own ``scope_name`` scope (resources it activated are
    disposed when it finishes), and ``await container.aclose()`` at
    ``broker.shutdown()`` unless ``close_on_shutdown=False``."""
    state = broker.state
    if claim(getattr(state, STATE_KEY, None), container, "setup_taskiq: this broker"):
        return
    container.scope(scope_name)  # an invalid name fails here, not at the first task
    broker.add_middlewares(InjectQTaskiqMiddleware(container, scope_name=scope_name))
    if close_on_shutdown:
        # a shutdown event, not the middleware's shutdown(): taskiq up to 0.12.4's
        # InMemoryBroker.shutdown() runs the event handlers but not the middlewares'.
        # aclose() twice (that broker fires both events) is harmless: the second finds
        # nothing live.
        async def close_container(state: TaskiqState) -> None:
            await container.aclose()

        for event in (TaskiqEvents.WORKER_SHUTDOWN, TaskiqEvents.CLIENT_SHUTDOWN):
            broker.add_event_handler(event, close_container)
    broker.task = _declaring_tasks_with_locals(broker.task)
    setattr(state, STATE_KEY, container)
