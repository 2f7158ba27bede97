"""Every ```python block of docs/monitoring.md and docs/health.md runs as written."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ("monitoring.md", "health.md")
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for index, match in enumerate(_BLOCK.finditer(text), start=1):
            found.append((page, index, match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_pages_have_examples() -> None:
    pages = {page for page, _, _ in BLOCKS}
    assert pages == set(PAGES)
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize(
    ("page", "index", "code"), BLOCKS, ids=[f"{page}-{index}" for page, index, _ in BLOCKS]
)
def test_example_runs(
    page: str,
    index: int,
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        compiled = compile(code, f"{page}:example {index}", "exec")
        exec(compiled, {"__name__": "__main__"})
    finally:  # logging.basicConfig in an example must not leak into other tests
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    assert capsys.readouterr().out.strip(), "every example prints what it shows"
