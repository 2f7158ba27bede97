"""Core: InjectQ's public import paths keep working (DESIGN §7), and typing."""

import importlib
import subprocess
import sys

import pytest

PATHS = {
    "injectq": [
        "InjectQ",
        "inject",
        "Inject",
        "singleton",
        "transient",
        "scoped",
        "Module",
        "logger",
        "Provider",
        "AsyncProvider",
        "get_resource_manager",
        "async_managed_resource",
    ],
    "injectq.utils.logging": ["logger"],
    "injectq.utils.protocols": ["Provider", "AsyncProvider", "Factory", "ResourceProvider"],
    "injectq.core": ["InjectQ", "ContainerContext", "Scope", "ScopeType"],
    "injectq.decorators": [
        "inject",
        "Inject",
        "singleton",
        "transient",
        "scoped",
        "register_as",
        "resource",
        "get_resource_manager",
        "async_managed_resource",
    ],
    "injectq.decorators.inject": ["inject", "Inject"],
    "injectq.core.scopes": ["ScopeType"],
    "injectq.core.context": ["ContainerContext"],
    "injectq.testing.utilities": ["MockFactory", "TestModule", "mock_factory"],
    "injectq.decorators.singleton": ["singleton", "transient", "scoped", "register_as"],
    "injectq.decorators.resource": ["resource", "managed_resource"],
    "injectq.modules": [
        "Module",
        "SimpleModule",
        "ProviderModule",
        "ConfigurationModule",
        "provider",
    ],
    "injectq.testing": ["override_dependency", "test_container", "TestModule", "MockFactory"],
    "injectq.diagnostics": ["DependencyValidator", "DependencyVisualizer", "DependencyProfiler"],
    "injectq.diagnostics.validation": ["ValidationResult"],
    "injectq.utils": ["InjectQError", "DependencyNotFoundError", "ServiceKey"],
    "injectq.utils.exceptions": [
        "InjectQError",
        "DependencyNotFoundError",
        "CircularDependencyError",
        "BindingError",
        "InjectionError",
        "ScopeError",
        "AlreadyRegisteredError",
    ],
}


@pytest.mark.parametrize("module", sorted(PATHS))
def test_public_import_paths(module: str) -> None:
    mod = importlib.import_module(module)
    for name in PATHS[module]:
        assert hasattr(mod, name), f"{module}.{name}"


def test_same_objects_through_every_path() -> None:
    import injectq
    from injectq.core import InjectQ as CoreInjectQ
    from injectq.decorators.inject import inject
    from injectq.decorators.singleton import singleton
    from injectq.utils.exceptions import InjectQError

    assert CoreInjectQ is injectq.InjectQ
    assert inject is injectq.inject
    assert singleton is injectq.singleton
    assert InjectQError is injectq.InjectQError


def test_container_context_helpers() -> None:
    from injectq import ContainerContext, InjectQ

    c = InjectQ()
    assert ContainerContext.get_current() is None
    ContainerContext.set_current(c)
    try:
        assert ContainerContext.get_current() is c
        assert InjectQ.get_instance() is c
    finally:
        ContainerContext.clear_current()
    assert ContainerContext.get_current() is None


def test_import_is_light() -> None:
    code = (
        "import sys, injectq\n"
        "heavy = [m for m in ('fastapi', 'starlette', 'taskiq', 'pydantic', 'opentelemetry',"
        " 'httpx', 'aiohttp') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
