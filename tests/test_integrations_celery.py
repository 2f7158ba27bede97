"""setup_celery in-process (eager tasks fire the same signals as a worker); the real
worker on Redis is tests/test_celery_redis_worker.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from injectq import Inject, InjectQ, inject, resource
from injectq.integrations.celery import setup_celery
from injectq.utils.exceptions import InjectQError, ScopeError


class Unit:
    """A request-scoped unit of work that records how its scope ended."""


def make(events: list[str]) -> tuple[InjectQ, Celery]:
    @resource()
    def unit() -> Iterator[Unit]:
        events.append("open")
        try:
            yield Unit()
        except Exception as exc:
            events.append(f"saw {type(exc).__name__}")
            raise
        finally:
            events.append("close")

    container = InjectQ()
    container.bind(Unit, unit, scope="request")
    app = Celery("t", broker="memory://")
    app.conf.task_always_eager = True
    setup_celery(container, app)
    return container, app


def test_one_scope_per_task_and_the_error_reaches_the_disposal() -> None:
    events: list[str] = []
    container, app = make(events)

    @app.task
    @inject
    def twice(fail: bool, a: Unit = Inject[Unit], b: Unit = Inject[Unit]) -> int:
        assert a is b  # one per task execution
        if fail:
            raise KeyError("boom")
        return id(a)

    twice.delay(False).get()
    twice.delay(False).get()
    result = twice.apply(args=(True,))
    assert isinstance(result.result, KeyError)
    assert events == ["open", "close", "open", "close", "open", "saw KeyError", "close"]
    assert container.get_all_resources() == {}


def test_tasks_of_another_app_get_no_scope() -> None:
    events: list[str] = []
    container, _app = make(events)
    other = Celery("other", broker="memory://")
    other.conf.task_always_eager = True

    @other.task
    def outside() -> None:
        container.get(Unit)

    with pytest.raises(ScopeError):
        outside.apply(throw=True)
    assert events == []


def test_setting_up_an_app_twice() -> None:
    container, app = make([])
    assert setup_celery(container, app) is setup_celery(container, app)
    with pytest.raises(InjectQError, match="already served"):
        setup_celery(InjectQ(), app)
