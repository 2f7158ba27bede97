"""The docs tests' own rules (conftest.py at the root): an ``output`` block fails when the
examples before it printed something else, a block that raises fails, and a web page's
block fails when its interpreter exits with an error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sybil import Sybil
from sybil.example import SybilFailure

ROOT = Path(__file__).resolve().parent.parent


def docs_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcomes(page: Path, sybil: Sybil, **namespace: object) -> list[str | None]:
    document = sybil.parse(page)
    document.namespace.update(namespace)
    results: list[str | None] = []
    for example in document:
        try:
            example.evaluate()
            results.append(None)
        except SybilFailure as failure:  # the evaluator's verdict
            results.append(str(failure))
        except Exception as error:  # a block that raises is a failing example
            results.append(f"raised {type(error).__name__}")
    return results


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_output_blocks_are_compared_with_what_was_printed(tmp_path: Path) -> None:
    rules = docs_conftest()
    text = (
        "```python\nprint('a', 1)\n```\n\n```output\na 1\n```\n\n"
        "```python\nprint('took 0.123 ms')\n```\n\n```output\ntook ... ms\n```\n\n"
        "```python\nprint(42)\n```\n\n```output\n43\n```\n\n"
        "```python\nraise ValueError('no')\n```\n"
    )
    results = outcomes(page(tmp_path, text), rules.pages)
    assert results[:5] == [None, None, None, None, None]  # the block that printed 42 ran
    assert results[5] is not None and "43" in results[5] and "42" in results[5]
    assert results[6] == "raised ValueError"


def test_a_web_page_block_fails_when_its_interpreter_fails(tmp_path: Path) -> None:
    rules = docs_conftest()
    text = "```python\nprint('served')\n```\n\n```output\nserved\n```\n\n```python\nraise SystemExit(3)\n```\n"
    results = outcomes(page(tmp_path, text), rules.web_pages, tmp_path=tmp_path)
    assert results[:2] == [None, None]
    assert results[2] is not None and "exited with 3" in results[2]


DOCSTRINGS = '''"""A module whose docstring examples the runner checks."""

from injectq import InjectQ, resource

OPENED: list[InjectQ] = []


@resource
class Resource:
    def dispose(self) -> None:
        pass


def right() -> None:
    """
    >>> with InjectQ() as c:
    ...     c.bind(Resource, Resource)
    ...     c.get(Resource) is c.get(Resource)
    True
    """


def wrong() -> None:
    """
    >>> 1 + 1
    3
    """


def uses_the_default() -> None:
    """
    >>> InjectQ.get_instance() is not None
    True
    """


def leaves_a_resource_open() -> None:
    """
    >>> c = InjectQ()
    >>> OPENED.append(c)
    >>> c.bind(Resource, Resource)
    >>> _ = c.get(Resource)
    """
'''


def test_a_docstring_example_fails_when_it_fails_or_leaves_a_container_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from injectq.core import container as container_module

    # the default the third example makes is dropped again after this test
    monkeypatch.setattr(container_module, "_default_container", None)
    monkeypatch.syspath_prepend(tmp_path)
    module = tmp_path / "docstring_examples_sample.py"
    module.write_text(DOCSTRINGS)
    monkeypatch.delitem(sys.modules, module.stem, raising=False)
    results = outcomes(module, docs_conftest().docstrings)
    for opened in sys.modules[module.stem].OPENED:  # the examples' namespace shares the list
        opened.close()
    assert results[0] is None
    assert results[1] is not None and "Expected:\n    3\nGot:\n    2" in results[1]
    assert results[2] is not None and "default container" in results[2]
    assert results[3] is not None and "live resources ['Resource']" in results[3]
