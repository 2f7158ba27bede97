"""InjectQ's testing helpers, on top of ``InjectQ.override`` and ``InjectQ.test_mode``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from injectq.core.container import InjectQ
from injectq.modules.base import Module

# the public names are listed once, in injectq.testing's __all__


@contextlib.contextmanager
def override_dependency(
    service_type: Any, value: Any, container: InjectQ | None = None
) -> Iterator[Any]:
    """Override ``service_type`` in ``container`` (default: the active one) for a block.

    Examples:
        >>> from injectq import InjectQ
        >>> from injectq.testing import override_dependency
        >>> with InjectQ() as container:
        ...     container.bind_instance("api_url", "https://api.example.com")
        ...     with override_dependency("api_url", "http://127.0.0.1:8000", container):
        ...         during = container.get("api_url")
        ...     after = container.get("api_url")
        >>> during, after
        ('http://127.0.0.1:8000', 'https://api.example.com')
    """
    target = container if container is not None else InjectQ.get_instance()
    with target.override(service_type, value) as overridden:
        yield overridden


@contextlib.contextmanager
def test_container(modules: list[Module] | None = None) -> Iterator[InjectQ]:  # noqa: PT028  # a helper of InjectQ's API, not a test
    """A fresh container, active for the block and closed after it.

    Examples:
        >>> from injectq import InjectQ, inject
        >>> from injectq.testing import test_container
        >>> @inject
        ... def greeting(name: str) -> str:
        ...     return f"hello {name}"
        >>> with test_container() as container:
        ...     container.bind_instance("name", "test")
        ...     greeting()
        'hello test'
    """
    with InjectQ.test_mode() as container:
        for module in modules or ():
            container.install_module(module)
        yield container


test_container.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class TestModule(Module):
    """A module of test values: ``TestModule().bind_value(str, "x").mock(Mailer)``.

    Installed after the production modules, its bindings replace theirs."""

    __test__ = False

    def __init__(self, bindings: Mapping[Any, Any] | None = None) -> None:
        self._bindings: dict[Any, Any] = dict(bindings or {})

    def bind_value(self, service_type: Any, value: Any) -> TestModule:
        """Bind ``service_type`` to ``value`` itself (an instance binding)."""
        self._bindings[service_type] = value
        return self

    bind = bind_value
    bind_instance = bind_value

    def mock(self, service_type: type, **attributes: Any) -> TestModule:
        """Bind ``service_type`` to the shared :data:`mock_factory`'s mock of it."""
        return self.bind_value(service_type, mock_factory.create_mock(service_type, **attributes))

    def configure(self, binder: InjectQ) -> None:
        """Bind every value of the module as an instance (None included)."""
        for key, value in self._bindings.items():
            binder.bind_instance(key, value, allow_none=value is None)


def create_test_module(bindings: Mapping[Any, Any] | None = None) -> TestModule:
    """A :class:`TestModule` binding each key of ``bindings`` to its value."""
    return TestModule(bindings)


class Mock:
    """A stand-in for a service: the attributes it was given, and any other attribute a
    method returning ``"mock_<name>_result"``. Every such call is recorded in ``calls``
    as ``(name, args, kwargs)``."""

    def __init__(self, service_type: type, **attributes: Any) -> None:
        self.service_type = service_type
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for name, value in attributes.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("__"):  # protocols (copy, pickle, ...) must not see a method
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> str:
            self.calls.append((name, args, kwargs))
            return f"mock_{name}_result"

        method.__name__ = name
        return method

    def __repr__(self) -> str:
        return f"<Mock of {self.service_type.__qualname__}>"


class MockFactory:
    """Makes one :class:`Mock` per service type (InjectQ's ``MockFactory``)."""

    def __init__(self) -> None:
        self._mocks: dict[type, Mock] = {}

    def create_mock(self, service_type: type, **attributes: Any) -> Mock:
        """The mock of ``service_type``: made with ``attributes`` on first request, the
        same object afterwards (until :meth:`reset`)."""
        mock = self._mocks.get(service_type)
        if mock is None:
            mock = self._mocks[service_type] = Mock(service_type, **attributes)
        return mock

    def reset(self) -> None:
        """Forget every mock made: the next ``create_mock`` makes a new one."""
        self._mocks.clear()


#: The shared factory :meth:`TestModule.mock` uses (InjectQ's global ``mock_factory``).
mock_factory = MockFactory()


def pytest_container_fixture() -> Callable[[], Iterator[InjectQ]]:
    """Return a generator function to register as a pytest fixture::

    container = pytest.fixture(pytest_container_fixture())
    """

    def fixture() -> Iterator[InjectQ]:
        with test_container() as container:
            yield container

    return fixture
