"""The wheel that `uv build` makes holds the package, its `py.typed` marker and the CLI
entry point, and nothing else; the version it carries is the package's `__version__`."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import injectq

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "injectq"


def build_wheel(out: Path) -> Path:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    assert uv is not None, "uv builds the wheel; install it (pip install uv)"
    subprocess.run(
        [uv, "build", "--wheel", "-o", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("injectq-*.whl")
    return wheel


def test_the_wheel_holds_the_package_and_nothing_else(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    version = injectq.__version__
    assert wheel.name == f"injectq-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"injectq-{version}.dist-info/"
        entry_points = archive.read(info + "entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read(info + "METADATA").decode())

    package = {
        "injectq/" + path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert "injectq/py.typed" in package
    assert "injectq/cli/__init__.py" in package or "injectq/cli.py" in package
    expected = package | {
        info + "METADATA",
        info + "WHEEL",
        info + "RECORD",
        info + "entry_points.txt",
        info + "licenses/LICENSE",
    }
    assert names == expected

    assert "[console_scripts]\ninjectq = injectq.cli:main" in entry_points
    assert metadata["Version"] == version
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier") or []
    for minor in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {minor}" in classifiers
    # the long description renders on the package index: no relative links left in it
    description = metadata.get_payload()
    assert "](docs/" not in description and "](CHANGELOG" not in description
