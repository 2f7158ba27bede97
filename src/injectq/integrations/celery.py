"""Celery integration: every task execution runs in its own ``request`` scope.

::

    from celery import Celery
    from injectq import Inject, InjectQ, inject
    from injectq.integrations.celery import setup_celery

    container = InjectQ()
    app = Celery("jobs", broker="redis://127.0.0.1:6379/0")
    setup_celery(container, app)

    @app.task
    @inject
    def send_welcome(user_id: int, mailer: Mailer = Inject[Mailer]) -> None:
        mailer.send(user_id, "Welcome!")

``setup_celery`` connects to Celery's signals, for the tasks of ``celery_app`` only:

- ``task_prerun``: enter ``container.scope("request")`` with the container active (what
  ``@inject`` and ``InjectQ.get_instance()`` use), one scope per task execution;
- ``task_failure``: remember the task's exception;
- ``task_postrun``: leave the scope, passing that exception to the disposals (a
  generator resource sees it thrown at its ``yield``), so the resources the task
  activated are disposed when it ends;
- ``worker_process_init`` (each prefork child) or ``worker_init`` (solo and thread
  pools: the worker's own process): ``container.start_sync()``, the app-lifetime
  resources started once per process that runs tasks, never in a prefork parent whose
  connections its children would share;
- ``worker_process_shutdown`` / ``worker_shutdown``: ``container.close()``.

Celery tasks are sync functions: their resources must have sync ``initialize`` and
``dispose`` (an async disposal in the task's sync scope is a ``ScopeError`` when the
resource is first used). A disposal that fails after the task succeeded cannot change
its stored result (Celery has stored it by then): it is logged by the scope and by
Celery's signal dispatch.

Needs ``celery`` (``pip install injectq[celery]``); importing :mod:`injectq` does not
import this module.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

try:
    from celery import signals  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.celery needs celery: pip install 'injectq[celery]'"
    ) from exc

from injectq.utils.exceptions import InjectQError

if TYPE_CHECKING:
    import contextlib

    from injectq.core.container import InjectQ
    from injectq.core.scopes import Scope

__all__ = ["CeleryIntegration", "setup_celery"]

logger = logging.getLogger("injectq.integrations.celery")

#: attribute of the Celery app holding its integration
APP_KEY = "injectq_integration"


class _Execution:
    """One task execution: its scope, the activation to undo, the task's exception."""

    __slots__ = ("activation", "error", "scope")

    def __init__(self, scope: Scope, activation: contextlib.AbstractContextManager[Any]) -> None:
        self.scope = scope
        self.activation = activation
        self.error: BaseException | None = None


class CeleryIntegration:
    """The signal receivers :func:`setup_celery` connects for one Celery app."""

    def __init__(
        self,
        container: InjectQ,
        celery_app: Any,
        *,
        scope_name: str = "request",
        start: bool = True,
        close_on_shutdown: bool = True,
    ) -> None:
        container.scope(scope_name)  # an invalid name fails here, not at the first task
        self.container = container
        self.app = celery_app
        self.scope_name = scope_name
        self.start = start
        self.close_on_shutdown = close_on_shutdown
        # task id -> execution; a dict, not a context variable: Celery sends prerun and
        # postrun from the same thread, but a thread pool runs several tasks at once
        self._executions: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    # -- one scope per task ----------------------------------------------------------
    def _serves(self, task: Any) -> bool:
        return getattr(task, "app", None) is self.app

    def task_prerun(self, task_id: str, task: Any, **_: Any) -> None:
        """``task_prerun`` receiver: enter the task's scope, with the container active."""
        if not self._serves(task):
            return
        activation = self.container.activate()
        scope = self.container.scope(self.scope_name)
        try:
            scope.__enter__()
        except BaseException:
            activation.__exit__(None, None, None)
            raise
        with self._lock:
            self._executions[task_id] = _Execution(scope, activation)

    def task_failure(self, task_id: str, exception: BaseException, **_: Any) -> None:
        """``task_failure`` receiver: remember the task's exception, which its scope's
        disposals receive when the scope exits."""
        with self._lock:
            execution = self._executions.get(task_id)
        if execution is not None:
            execution.error = exception

    def task_postrun(self, task_id: str, task: Any, **_: Any) -> None:
        """``task_postrun`` receiver: exit the task's scope (running its disposals) and
        deactivate the container."""
        if not self._serves(task):
            return
        with self._lock:
            execution = self._executions.pop(task_id, None)
        if execution is None:
            return  # pragma: no cover - prerun did not run for this task
        error = execution.error
        tb: TracebackType | None = error.__traceback__ if error is not None else None
        try:
            execution.scope.__exit__(type(error) if error else None, error, tb)
        finally:
            execution.activation.__exit__(None, None, None)

    # -- the container per worker process --------------------------------------------
    def process_init(self, **_: Any) -> None:
        """``worker_process_init`` receiver: start the container (``start_sync()``) in a
        worker process, unless ``start=False``."""
        if self.start:
            self.container.start_sync()

    def worker_init(self, sender: Any = None, **_: Any) -> None:
        """``worker_init`` receiver: start the container in the worker itself, except under
        the prefork pool, whose children each start their own."""
        # prefork: the children start their own (worker_process_init); starting here
        # would hand the parent's connections to every forked child
        pool = getattr(sender, "pool_cls", None)
        name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
        if "prefork" not in str(name):
            self.process_init()

    def shutdown(self, **_: Any) -> None:
        """``worker_shutdown`` and ``worker_process_shutdown`` receiver: close the container,
        unless ``close_on_shutdown=False``."""
        if self.close_on_shutdown:
            self.container.close()

    def connect(self) -> None:
        """Connect the receivers to Celery's signals (:func:`setup_celery` calls it)."""
        # weak=False: these bound methods live as long as the app holds the integration
        signals.task_prerun.connect(self.task_prerun, weak=False)
        signals.task_failure.connect(self.task_failure, weak=False)
        signals.task_postrun.connect(self.task_postrun, weak=False)
        signals.worker_process_init.connect(self.process_init, weak=False)
        signals.worker_init.connect(self.worker_init, weak=False)
        signals.worker_process_shutdown.connect(self.shutdown, weak=False)
        signals.worker_shutdown.connect(self.shutdown, weak=False)


def setup_celery(
    container: InjectQ,
    celery_app: Any,
    *,
    scope_name: str = "request",
    start: bool = True,
    close_on_shutdown: bool = True,
) -> CeleryIntegration:
    """Serve ``celery_app``'s tasks from ``container``: each task execution in its own
    ``scope_name`` scope (the task's exception passed to its disposals), the container
    started (``start_sync()``, unless ``start=False``) in every worker process that runs
    tasks and closed at its shutdown (unless ``close_on_shutdown=False``)."""
    existing = getattr(celery_app, APP_KEY, None)
    if existing is not None:
        if existing.container is container:
            return existing  # type: ignore[no-any-return]
        raise InjectQError("setup_celery: this Celery app is already served by another container")
    integration = CeleryIntegration(
        container,
        celery_app,
        scope_name=scope_name,
        start=start,
        close_on_shutdown=close_on_shutdown,
    )
    integration.connect()
    setattr(celery_app, APP_KEY, integration)
    return integration
