"""Every code example of the documentation site runs in the test suite, through Sybil.

- A ``python`` block runs as written; the blocks of one page share one namespace, in page
  order, as a reader would paste them. A block that starts with ``>>>`` is a doctest.
- An ``output`` block shows what the ``python`` blocks before it (since the previous
  ``output`` block) printed; the test compares the two (``...`` matches anything,
  whitespace is normalized).
- The web framework pages (Starlette, Flask, Django, aiohttp, Litestar) run each block in
  a fresh interpreter: Django's settings are process-wide, and so is a container's close
  at process exit.
- ``docs/resources.md`` quotes InjectQ's page verbatim; its examples need stand-ins
  (a database, an HTTP server, a key-value server) and run in tests/test_page_examples.py,
  which reads them with Sybil's lexers.
- ``<!-- skip: next -->`` and ``<!-- clear-namespace -->`` are Sybil's own directives.

The ``>>>`` examples in the docstrings of ``src/injectq`` run here too, one test per
docstring, each in a fresh copy of its module's namespace (Sybil imports the module at
its first example; collecting only reads the source). An example must leave nothing
behind: no default or active container, no container with live resources.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import (
    ClearNamespaceParser,
    CodeBlockParser,
    PythonCodeBlockParser,
    SkipParser,
)
from sybil.sybil import SybilCollection

OUTPUT_KEY = "__printed__"
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
WEB_PAGES = [
    f"docs/integrations/{name}.md"
    for name in ("starlette", "flask", "django", "aiohttp", "litestar")
]
OWN_HARNESS = ["docs/resources.md"]


class PrintingEvaluator:
    """Runs a block like Sybil's ``PythonEvaluator`` and keeps what it printed for the
    next ``output`` block (still echoing it, so a failing test shows it)."""

    def __init__(self) -> None:
        self.run = PythonEvaluator()

    def __call__(self, example: Example) -> None:
        __tracebackhide__ = True
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                self.run(example)
        finally:
            example.namespace[OUTPUT_KEY] = (
                example.namespace.get(OUTPUT_KEY, "") + buffer.getvalue()
            )
            sys.stdout.write(buffer.getvalue())


def check_output(example: Example) -> str | None:
    """An ``output`` block: what the blocks before it printed must match it."""
    want = example.parsed
    got = example.namespace.pop(OUTPUT_KEY, "")
    if doctest.OutputChecker().check_output(want, got, DOCTEST_FLAGS):
        return None
    return f"the page shows:\n{want}\nthe examples printed:\n{got}"


def run_in_fresh_interpreter(example: Example) -> str | None:
    """A web framework page's block, run as a script in its own interpreter."""
    folder = Path(example.namespace["tmp_path"])
    script = folder / f"example_{example.line}.py"
    script.write_text(example.parsed)
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    example.namespace[OUTPUT_KEY] = example.namespace.get(OUTPUT_KEY, "") + result.stdout
    if result.returncode != 0:
        return f"{example.path}:{example.line} exited with {result.returncode}:\n{result.stderr}"
    return None


class PythonParser(PythonCodeBlockParser):
    """Sybil's Python code block parser (doctests included), with printed output kept."""

    def __init__(self) -> None:
        super().__init__(doctest_optionflags=DOCTEST_FLAGS)
        self.codeblock_parser = CodeBlockParser("python", PrintingEvaluator())


def as_main(namespace: dict[str, Any]) -> None:
    # the examples are scripts: `if __name__ == "__main__":` blocks run
    namespace["__name__"] = "__main__"


@pytest.fixture
def doc_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each example runs in its own temporary directory; `logging.basicConfig` in an
    example does not leak into the other tests."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


class DocstringParser:
    """A docstring's ``>>>`` examples as one region: they run together, as one test."""

    def __call__(self, document: Document) -> Iterator[Region]:
        found = list(doctest.DocTestParser._EXAMPLE_RE.finditer(document.text))  # type: ignore[attr-defined]
        if found:
            text = document.text[found[0].start() : found[-1].end()]
            yield Region(found[0].start(), found[-1].end(), text, run_docstring)


def run_docstring(example: Example) -> str | None:
    """Run a docstring's examples in a fresh copy of the module's namespace, then check
    that they left no container behind: not the default, not an active one, and none
    that still holds live resources."""
    from injectq import ContainerContext
    from injectq.core import container as container_module

    default, active = container_module._default_container, ContainerContext.get_current()
    before = set(container_module._live_containers)
    test = doctest.DocTestParser().get_doctest(
        example.parsed, dict(example.namespace), example.path, example.path, example.line - 1
    )
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    left = [report.getvalue()] if runner.failures else []
    if container_module._default_container is not default:
        left.append("made the process-wide default container (use a fresh InjectQ())")
    if ContainerContext.get_current() is not active:
        left.append("left a container active (use `with c.context():`)")
    left += [
        f"left {c!r} with live resources {names} (close it)"
        for c in set(container_module._live_containers) - before
        if (names := [getattr(key, "__qualname__", key) for key in c.get_all_resources()])
    ]
    test.globs.clear()
    return "\n".join(left) or None


OUTPUT = CodeBlockParser("output", check_output)
pages = Sybil(
    parsers=[PythonParser(), OUTPUT, SkipParser(), ClearNamespaceParser()],
    patterns=["README.md", "docs/*.md", "docs/*/*.md"],
    excludes=WEB_PAGES + OWN_HARNESS,
    setup=as_main,
    fixtures=["doc_sandbox"],
    name="docs",
)
web_pages = Sybil(
    parsers=[CodeBlockParser("python", run_in_fresh_interpreter), OUTPUT, SkipParser()],
    patterns=WEB_PAGES,
    fixtures=["tmp_path"],
    name="web",
)
docstrings = Sybil(
    parsers=[DocstringParser()],
    # the integrations' examples would need their web frameworks: those run in the
    # integration pages and tests instead
    patterns=["src/injectq/*.py", "src/injectq/*/*.py"],
    excludes=["src/injectq/integrations/*"],
    fixtures=["doc_sandbox"],
    name="docstrings",
)
pytest_collect_file = SybilCollection((pages, web_pages, docstrings)).pytest()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n``, each file's tests run on one worker (``--dist loadfile``), not one by
    one: a page's examples share one namespace, in page order, and a worker given only the
    later ones would miss the names the earlier ones define. A ``--dist`` other than
    ``load`` (``-n``'s default) is kept."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadFileScheduling

    return LoadFileScheduling(config, log)
