"""The files in tests/typing pass ``mypy --strict`` and pyright (strict), issue 13.

They are user-style code: ``typing.assert_type`` pins each type, and each wrong use
carries the error each checker must report (``# type: ignore[code]`` for mypy, whose
``--strict`` flags an ignore that is not needed; ``# pyright: ignore[rule]`` for
pyright, with ``reportUnnecessaryTypeIgnoreComment``). See tests/typing/README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
FILES = sorted(TYPING.glob("*.py"))


def _mypy(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--warn-unused-ignores",
            "--no-incremental",
            "--cache-dir=/dev/null",
            "--python-version=3.11",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def _pyright(project: Path) -> tuple[dict[str, Any], str]:
    # the pyright wheel bundles pyright itself, its [nodejs] extra node: nothing is
    # downloaded; IGNORE_WARNINGS skips its "newer version?" look-up on PyPI
    env = dict(os.environ, PYRIGHT_PYTHON_IGNORE_WARNINGS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            "-p",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project,
        env=env,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"pyright did not run:\n{proc.stdout}\n{proc.stderr}") from None
    return report, proc.stdout


def test_the_typing_folder_has_files() -> None:
    names = {path.name for path in FILES}
    assert {"container_keys.py", "inject_markers.py", "framework_handlers.py"} <= names


def test_mypy_strict_passes_the_typing_files() -> None:
    proc = _mypy(*FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"no issues found in {len(FILES)} source files" in proc.stdout, proc.stdout


def test_pyright_strict_passes_the_typing_files() -> None:
    report, raw = _pyright(TYPING)
    summary = report["summary"]
    assert summary["filesAnalyzed"] == len(FILES), raw
    errors = [
        f"{Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule')})"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert not errors, "\n".join(errors)
    assert summary["errorCount"] == 0, raw


WRONG = """\
from injectq import InjectQ


class Database:
    pass


def main(container: InjectQ) -> None:
    wrong: int = container.get(Database)  # type: ignore[assignment]
    right: Database = container.get(Database)  # type: ignore[assignment]
    assert wrong and right
"""


def test_each_checker_fails_where_it_should(tmp_path: Path) -> None:
    """The set-up can fail: mypy flags an ignore that is not needed, and pyright does
    not take mypy's ``# type: ignore`` as its own, so a real error still shows."""
    target = tmp_path / "wrong_use.py"
    target.write_text(WRONG)
    proc = _mypy(target)
    assert proc.returncode == 1, proc.stdout
    assert 'wrong_use.py:10: error: Unused "type: ignore" comment' in proc.stdout, proc.stdout

    shutil.copy(TYPING / "pyrightconfig.json", tmp_path / "pyrightconfig.json")
    report, raw = _pyright(tmp_path)
    lines = [
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert lines == [9], raw
