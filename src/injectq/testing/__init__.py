"""Test helpers: overrides that leave nothing behind, throwaway containers, mocks."""

from injectq.testing.utilities import (
    Mock,
    MockFactory,
    TestModule,
    create_test_module,
    mock_factory,
    override_dependency,
    pytest_container_fixture,
    test_container,
)

__all__ = [
    "Mock",
    "MockFactory",
    "TestModule",
    "create_test_module",
    "mock_factory",
    "override_dependency",
    "pytest_container_fixture",
    "test_container",
]
