"""Every ```python block in the README and the docs pages listed here runs, so the
examples cannot rot. Pages with their own example tests are not listed again."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/pools.md", "docs/migrating.md", "docs/diagnostics.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text()
        for index, code in enumerate(BLOCK.findall(text)):
            found.append((page, index, code))
    return found


@pytest.mark.parametrize(("page", "index", "code"), _blocks(), ids=lambda v: str(v)[:30])
def test_doc_block_runs(
    page: str, index: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / f"block_{index}.py"
    script.write_text(code)
    runpy.run_path(str(script), run_name="__main__")


def test_diagnostics_page_shows_the_demos_graph_as_injectq_draws_it() -> None:
    import subprocess
    import sys

    page = (ROOT / "docs/diagnostics.md").read_text()
    shown = re.search(r"```mermaid\n(.*?)```", page, re.S)
    assert shown is not None
    drawn = subprocess.run(
        [sys.executable, "-m", "injectq", "graph", "injectq.cli.demo:app"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.group(1) == drawn
