"""Run InjectQ 0.5.0's own tests against this repository's injectq.

The sdist of injectq 0.5.0 is downloaded from PyPI with pip (through ``uvx``,
cached under ``.cache/upstream/``, checked against a pinned sha256), the test
files named in ``scripts/upstream/selection.txt`` (and the suite's conftest) are
extracted into a temporary directory, and pytest runs them against the injectq
installed in this environment, less the node ids in
``scripts/upstream/deselect.txt`` (each listed with its reason).

The sdist's own ``injectq/`` source is never extracted, and a guard plugin fails
the run if ``injectq`` would be imported from anywhere but this environment.

Usage:  uv run python scripts/upstream_tests.py [extra pytest arguments]
Exits with pytest's status (non-zero on any failure).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.5.0"
SDIST = f"injectq-{VERSION}.tar.gz"
SDIST_SHA256 = "39a151c0a76fc15b6a80ab45a0c9264be1a04b10043289844e5e48e93ecd0f79"

REPO = Path(__file__).resolve().parent.parent
LISTS = REPO / "scripts" / "upstream"
CACHE = REPO / ".cache" / "upstream"

# The upstream pytest settings, less its coverage options (they would measure the
# wrong package and fail the run on upstream's own coverage threshold).
PYTEST_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
python_files = test_*.py
addopts = -p no:cacheprovider --strict-markers
markers =
    slow: marks tests as slow
    integration: marks tests as integration tests
    asyncio: marks tests as async
"""

# Loaded before any test module: the injectq under test must be this environment's.
GUARD_PLUGIN = """\
import os
import injectq

_expected = os.environ["INJECTQ_UPSTREAM_EXPECTED"]
if os.path.realpath(injectq.__file__) != _expected:
    raise SystemExit(
        f"upstream tests would run against {injectq.__file__}, not {_expected}"
    )
"""


def read_list(path: Path) -> list[str]:
    """The entries of a list file: one a line, ``#`` starts a comment."""
    entries = []
    for line in path.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return entries


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist() -> Path:
    """The cached sdist, downloaded with pip on first use and always hash-checked."""
    sdist = CACHE / SDIST
    if not sdist.exists() or sha256_of(sdist) != SDIST_SHA256:
        CACHE.mkdir(parents=True, exist_ok=True)
        pip_download = [
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"injectq=={VERSION}",
            "-d",
            str(CACHE),
        ]
        uvx = shutil.which("uvx")
        command = [uvx, *pip_download] if uvx else [sys.executable, "-m", *pip_download]
        subprocess.run(command, check=True)
    digest = sha256_of(sdist)
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}; delete it and rerun")
    return sdist


def extract_tests(sdist: Path, names: list[str], dest: Path) -> None:
    """Copy the selected test files (and conftest.py) into ``dest/tests``; nothing else."""
    wanted = {f"injectq-{VERSION}/tests/{name}.py": f"{name}.py" for name in names}
    wanted[f"injectq-{VERSION}/tests/conftest.py"] = "conftest.py"
    tests = dest / "tests"
    tests.mkdir()
    with tarfile.open(sdist) as archive:
        for member_name, file_name in wanted.items():
            member = archive.extractfile(member_name)
            if member is None:
                raise SystemExit(f"{member_name} is not a file in {sdist}")
            (tests / file_name).write_bytes(member.read())


def main(argv: list[str]) -> int:
    import injectq

    expected = os.path.realpath(injectq.__file__)
    sdist = fetch_sdist()
    selection = read_list(LISTS / "selection.txt")
    deselected = read_list(LISTS / "deselect.txt")
    with tempfile.TemporaryDirectory(prefix="injectq-upstream-") as tmp:
        root = Path(tmp)
        extract_tests(sdist, selection, root)
        (root / "pytest.ini").write_text(PYTEST_INI)
        (root / "injectq_upstream_guard.py").write_text(GUARD_PLUGIN)
        command = [sys.executable, "-m", "pytest", "-p", "injectq_upstream_guard"]
        for node_id in deselected:
            command += ["--deselect", node_id]
        command += ["tests", *argv]
        env = dict(os.environ, INJECTQ_UPSTREAM_EXPECTED=expected, PYTHONPATH=str(root))
        # the temporary root holds the guard plugin and the tests, never an injectq/ package
        return subprocess.run(command, check=False, cwd=root, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
