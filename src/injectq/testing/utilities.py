"""InjectQ's testing helpers, on top of ``InjectQ.override`` and ``InjectQ.test_mode``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from injectq.core.container import InjectQ
from injectq.modules.base import Module

__all__ = [
    "MockFactory",
    "TestModule",
    "create_test_module",
    "mock_factory",
    "override_dependency",
    "pytest_container_fixture",
    "test_container",
]


@contextlib.contextmanager
def override_dependency(
    service_type: Any, value: Any, container: InjectQ | None = None
) -> Iterator[Any]:
    """Override ``service_type`` in ``container`` (default: the active one) for a block."""
    target = container if container is not None else InjectQ.get_instance()
    with target.override(service_type, value) as overridden:
        yield overridden


@contextlib.contextmanager
def test_container(modules: list[Module] | None = None) -> Iterator[InjectQ]:
    """A fresh container, active for the block and closed after it."""
    with InjectQ.test_mode() as container:
        for module in modules or ():
            container.install_module(module)
        yield container


test_container.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class TestModule(Module):
    """A module built from calls recorded in a test: ``TestModule().bind(...)``."""

    __test__ = False

    def __init__(self, bindings: Mapping[Any, Any] | None = None) -> None:
        self._bindings: dict[Any, Any] = dict(bindings or {})

    def bind(self, service_type: Any, value: Any) -> TestModule:
        self._bindings[service_type] = value
        return self

    def bind_instance(self, service_type: Any, value: Any) -> TestModule:
        return self.bind(service_type, value)

    def configure(self, binder: InjectQ) -> None:
        for key, value in self._bindings.items():
            binder.bind_instance(key, value, allow_none=value is None)


def create_test_module(bindings: Mapping[Any, Any] | None = None) -> TestModule:
    return TestModule(bindings)


class MockFactory:
    """Records calls and returns a fixed value (or the result of ``side_effect``)."""

    def __init__(
        self, return_value: Any = None, side_effect: Callable[..., Any] | None = None
    ) -> None:
        self.return_value = return_value
        self.side_effect = side_effect
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if self.side_effect is not None:
            return self.side_effect(*args, **kwargs)
        return self.return_value


def mock_factory(
    return_value: Any = None, side_effect: Callable[..., Any] | None = None
) -> MockFactory:
    return MockFactory(return_value, side_effect)


def pytest_container_fixture() -> Callable[[], Iterator[InjectQ]]:
    """Return a generator function to register as a pytest fixture::

    container = pytest.fixture(pytest_container_fixture())
    """

    def fixture() -> Iterator[InjectQ]:
        with test_container() as container:
            yield container

    return fixture
