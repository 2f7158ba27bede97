"""Imports point one way (docs/design.md, "The shape of the code").

Module-level imports are read from the source (imports under ``if TYPE_CHECKING:`` and
inside functions are not module-level: they run after every module is loaded), and:

- no module of ``injectq`` takes part in an import cycle;
- each module imports only from its own layer or the layers below it;
- each module of ``injectq.core`` imports on its own in a fresh interpreter.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: lowest first. A module may import from its own layer and the ones before it. Each
#: entry is a module or a package prefix (``injectq.diagnostics`` covers its modules).
LAYERS: list[tuple[str, list[str]]] = [
    ("utilities", ["injectq.utils"]),
    # the state machine and the counters it reports to: they import no part of the core,
    # and the core's planning and runtime call them
    ("lifecycle", ["injectq.lifecycle"]),
    (
        "registration",
        ["injectq.core.markers", "injectq.core.registry", "injectq.core.analysis"],
    ),
    ("bindings", ["injectq.core.bindings"]),
    ("planning", ["injectq.core.planning"]),
    (
        "code generation and runtime parts",
        [
            "injectq.core.codegen",
            "injectq.core.claims",
            "injectq.core.host",
            "injectq.core.context",
            "injectq.core._anyio",
            "injectq.core.activation",
            "injectq.core.overrides",
        ],
    ),
    ("resolvers", ["injectq.core.resolvers", "injectq.core.singletons"]),
    ("compiler", ["injectq.core.compiler", "injectq.core.calling", "injectq.core.scopes"]),
    (
        "container",
        [
            # the façade's parts: they import the container only under TYPE_CHECKING
            "injectq.core.container_lifecycle",
            "injectq.core.container_overrides",
            "injectq.core.factory_bindings",
            "injectq.core.container",
            "injectq.core",
        ],
    ),
    (
        "add-ons",
        [
            "injectq.resources",
            "injectq.decorators",
            "injectq.modules",
            "injectq.diagnostics",
            "injectq.testing",
            "injectq.integrations",
        ],
    ),
    ("entry points", ["injectq.cli", "injectq.__main__", "injectq"]),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer_of(module: str) -> int:
    """The layer of ``module``: its most specific entry in LAYERS."""
    best, best_len = -1, -1
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if (module == entry or module.startswith(entry + ".")) and len(entry) > best_len:
                best, best_len = index, len(entry)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def _module_level_imports(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" in ast.unparse(node.test):
                    visit(node.orelse)
                else:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    visit(block)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                # ``from package import module`` runs the package's __init__ too: an
                # import of both (``core.context`` once imported ``core`` so, a cycle)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)

    visit(ast.parse(path.read_text()).body)
    # importing ``a.b.c`` runs ``a.b``'s __init__ first (what it imports is loaded too):
    # an import of each enclosing package, but the root's, which every module imports,
    # and this module's own packages, which Python has begun to import before it
    for name in list(found):
        parts = name.split(".")
        found.update(
            package
            for package in (".".join(parts[:end]) for end in range(2, len(parts)))
            if not module.startswith(package + ".")
        )
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _module_level_imports(module, path) for module, path in MODULES.items()}


def test_no_module_level_import_cycles() -> None:
    # depth-first search; a back edge is a cycle, reported as its path
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(GRAPH[module]):
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{module} ({LAYERS[_layer_of(module)][0]}) imports {imported} "
        f"({LAYERS[_layer_of(imported)][0]})"
        for module, imports in sorted(GRAPH.items())
        for imported in sorted(imports)
        if _layer_of(imported) > _layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_checker_sees_the_imports_it_checks() -> None:
    # guards the reader above: if it read nothing, the two tests above would pass vacuously
    assert "injectq.core.planning" in GRAPH["injectq.core.resolvers"]
    assert "injectq.core.codegen" in GRAPH["injectq.core.resolvers"]
    assert "injectq.core.container" not in GRAPH["injectq.core.context"]  # TYPE_CHECKING only
    # an import of a module is one of its package's __init__ too
    assert "injectq.lifecycle" in GRAPH["injectq.core.scopes"]


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith("injectq.core.") and m != "injectq.core")
)
def test_each_core_module_imports_on_its_own_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
