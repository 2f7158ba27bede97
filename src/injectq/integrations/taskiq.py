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

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

try:
    from taskiq import NoResultError, TaskiqDepends, TaskiqMiddleware, TaskiqState
    from taskiq_dependencies.dependency import Dependency
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.taskiq needs taskiq: pip install 'injectq[taskiq]'"
    ) from exc

from injectq.integrations._markers import make_marker, marker_class
from injectq.utils.exceptions import InjectionError, InjectQError, describe_key

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from contextvars import Token

    from taskiq import TaskiqMessage, TaskiqResult

    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope

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
        raise InjectionError(
            "No InjectQ container is attached to this broker: call "
            "setup_taskiq(container, broker) before running tasks."
        )
    return container  # type: ignore[no-any-return]


def _dependency(key: Any) -> Any:
    """The taskiq dependency that resolves ``key`` in the current task's scope."""

    async def resolve(state: Annotated[TaskiqState, TaskiqDepends()]) -> Any:
        return await get_task_container(state).aget(key)

    resolve.__name__ = f"inject_{getattr(key, '__name__', 'dependency')}"
    resolve.__qualname__ = f"InjectTask[{describe_key(key)}]"
    return resolve


def _depends(key: Any) -> Dependency:
    # use_cache=False: two parameters asking for a transient get two instances, as
    # container.aget would give them; scoped and singleton keys are cached by injectq.
    depends: Dependency = TaskiqDepends(_dependency(key), use_cache=False)
    return depends


_Marker = marker_class(Dependency, vars, Dependency)


def _marker(key: Any) -> Any:
    return make_marker(_Marker, key, _depends(key))


class InjectTask(Generic[T]):
    """Inject ``T`` from the broker's container into a taskiq task.

    - ``svc: InjectTask[Mailer]``: as the parameter's annotation;
    - ``svc: Mailer = InjectTask[Mailer]``: as its default;
    - ``svc: Annotated[Mailer, InjectTask(Mailer)]``: as ``Annotated`` metadata
      (InjectQ style).

    The value is ``await container.aget(Mailer)`` in the task's scope: resources come
    back initialized, request-scoped bindings are shared within one task execution.
    """

    __slots__ = ()

    def __new__(cls, service_type: Any) -> Any:
        return _depends(service_type)

    def __class_getitem__(cls, service_type: Any) -> Any:
        if isinstance(service_type, TypeVar):
            return super().__class_getitem__(service_type)  # type: ignore[misc]
        return _marker(service_type)


InjectTaskiq = InjectTask


# --------------------------------------------------------------------------- middleware
@dataclass(slots=True)
class _Execution:
    scope: Scope
    activation: AbstractContextManager[InjectQ]
    token: Token[_Execution | None] | None = None


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
        container.scope(scope_name)  # validate the name now, not on the first task
        self._current: ContextVar[_Execution | None] = ContextVar(
            f"injectq.taskiq.{id(self)}", default=None
        )

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        activation = self.container.context()
        activation.__enter__()
        scope = self.container.scope(self.scope_name)
        try:
            await scope.__aenter__()
        except BaseException:
            activation.__exit__(None, None, None)
            raise
        execution = _Execution(scope, activation)
        execution.token = self._current.set(execution)
        return message

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        execution = self._current.get()
        if execution is None:  # pragma: no cover - pre_execute did not run here
            return
        error = result.error if result.is_err else None
        if isinstance(error, NoResultError):
            error = None
        try:
            await _exit_scope(execution.scope, error)
        except Exception as exc:
            # the task succeeded but disposing its resources failed: that is its outcome
            # (the failures were also logged by the scope)
            result.is_err = True
            result.error = exc
        finally:
            if execution.token is not None:
                self._current.reset(execution.token)
            execution.activation.__exit__(None, None, None)

    async def shutdown(self) -> None:
        if self.close_on_shutdown:
            await self.container.aclose()


async def _exit_scope(scope: Scope, error: BaseException | None) -> None:
    """Leave ``scope``, disposing what it owns. The scope's exit is itself
    cancellation-safe (DESIGN §3.5): cancelling the task's task, as servers do when a
    client goes away, still lets every disposal run to its end before it is re-raised."""
    await scope.__aexit__(
        type(error) if error is not None else None,
        error,
        error.__traceback__ if error is not None else None,
    )


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
    existing = getattr(state, STATE_KEY, None)
    if existing is not None:
        if existing is container:
            return
        raise InjectQError("setup_taskiq: this broker is already served by another container")
    container.scope(scope_name)  # an invalid name fails here, not at the first task
    broker.add_middlewares(
        InjectQTaskiqMiddleware(
            container, scope_name=scope_name, close_on_shutdown=close_on_shutdown
        )
    )
    setattr(state, STATE_KEY, container)
