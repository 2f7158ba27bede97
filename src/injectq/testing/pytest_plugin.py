"""An opt-in pytest plugin: ``-p injectq.testing.pytest_plugin`` or
``pytest_plugins = ["injectq.testing.pytest_plugin"]`` in a ``conftest.py``.

- ``injectq_container``: the container of the test: a fresh ``InjectQ()`` (closed after
  the test), or the app's, named by the ini option
  ``injectq_container = pkg.module:attribute``;
- a test that asks for it runs in its own ``request`` scope (``with`` for a sync test,
  ``async with`` for an async one, pytest-asyncio or anyio) with the container active
  (what ``@inject`` uses); the scope's resources are disposed when the test ends;
- ``injectq_override(key, value)``: overrides undone at the test's end, whatever happens,
  so they cannot leak into the next test;
- a test that leaves live resources behind (activated during the test and still live
  once its scope is closed, e.g. a singleton first started by a test on the app's
  container) fails at teardown, naming them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from injectq.core.container import InjectQ
from injectq.utils.exceptions import describe_key

__all__ = ["injectq_container", "injectq_override"]

INI_NAME = "injectq_container"
_STATE = pytest.StashKey["_TestContainer"]()


class _TestContainer:
    """The container one test uses, and whether the plugin owns (closes) it."""

    def __init__(self, container: InjectQ, owned: bool) -> None:
        self.container = container
        self.owned = owned
        self.live_before = set(container.get_all_resources())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_NAME,
        "the app's InjectQ container for the injectq_container fixture, as "
        "pkg.module:attribute (default: a fresh InjectQ() per test)",
        default="",
    )


def _load(spec: str) -> InjectQ:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise pytest.UsageError(
            f"{INI_NAME} = {spec!r}: write it as pkg.module:attribute (an InjectQ container)"
        )
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not isinstance(target, InjectQ):
        raise pytest.UsageError(f"{INI_NAME} = {spec!r} is {target!r}, not an InjectQ container")
    return target


@pytest.fixture
def injectq_container(request: pytest.FixtureRequest) -> Iterator[InjectQ]:
    """The test's container (see the module docstring); the test runs in its scope."""
    spec = str(request.config.getini(INI_NAME) or "").strip()
    state = _TestContainer(_load(spec), owned=False) if spec else _TestContainer(InjectQ(), True)
    request.node.stash[_STATE] = state
    with state.container.activate():
        yield state.container
    leaked = {
        key: instance
        for key, instance in state.container.get_all_resources().items()
        if key not in state.live_before
    }
    if state.owned:
        state.container.close()
    if leaked:
        names = ", ".join(sorted(describe_key(key) for key in leaked))
        pytest.fail(
            f"{request.node.nodeid} left live resources behind: {names}. Start app-lifetime "
            "resources before the tests (container.start()), or use them in a scope.",
            pytrace=False,
        )


@pytest.fixture
def injectq_override(injectq_container: InjectQ) -> Iterator[Callable[[Any, Any], Any]]:
    """``injectq_override(key, value)``: override ``key`` for the rest of the test."""
    with contextlib.ExitStack() as stack:

        def override(key: Any, value: Any) -> Any:
            return stack.enter_context(injectq_container.override(key, value))

        yield override


def _in_scope(function: Callable[..., Any], item: pytest.Function) -> Callable[..., Any]:
    """``function`` (the test) run in the test container's scope, the container active."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            container = item.stash[_STATE].container
            with container.activate():
                async with container.scope("request"):
                    return await function(*args, **kwargs)

        return run_async

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        container = item.stash[_STATE].container
        with container.activate(), container.scope("request"):
            return function(*args, **kwargs)

    return run


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    if not isinstance(item, pytest.Function) or _STATE not in item.stash:
        return (yield)
    original = item.obj
    item.obj = _in_scope(original, item)
    try:
        return (yield)
    finally:
        item.obj = original
