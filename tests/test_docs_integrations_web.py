"""Each web framework's section of docs/integrations.md runs as it stands, each in a
fresh interpreter (Django's settings are process-wide; so is a container's close at
exit)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"
SECTIONS = ["Starlette and plain ASGI", "Flask", "Django", "aiohttp", "Litestar", "FastMCP"]


def section_code(title: str) -> str:
    text = PAGE.read_text()
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, f"no python block under '## {title}'"
    return "\n".join(blocks)


@pytest.mark.parametrize("title", SECTIONS)
def test_section_runs(title: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(section_code(title))
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
