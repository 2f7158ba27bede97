"""Run the self-contained examples of InjectQ's documentation on injectq and on InjectQ 0.5.0.

A developer tool, not part of CI: the documentation is read at run time and never
copied into this repository.

Where the docs come from (``--source``):
  mirror  the ``docs/`` folder of a local bare clone of github.com/10xHub/injectq
          (default ``/work/.mirror/10xHub+injectq/repo``, ``--git-dir`` to change; the
          ref is ``--ref``, default HEAD);
  sdist   the ``docs/`` folder of the injectq 0.5.0 sdist (downloaded and hash-checked
          by scripts/upstream_tests.py's ``fetch_sdist``).
  The default is ``mirror`` when that directory exists, else ``sdist``.

Which examples run: every fenced ```python block of every ``docs/**/*.md`` page is an
example. An example is *self-contained* when all of these hold:
  1. it compiles as a module (after removing a common indentation): a fragment with a
     top-level ``await`` / ``async with`` is not a program;
  2. it imports injectq (``import injectq`` / ``from injectq... import``);
  3. every module it imports is the standard library, injectq, or one of
     ``THIRD_PARTY`` (installed in both environments), and none is in ``NETWORK``
     (no external services);
  4. it uses no undefined name: every name it reads is bound somewhere in the block
     (assignment, def, class, import, parameter, comprehension...), a builtin, or a
     module dunder. Checked with :mod:`symtable`, so the rule is Python's own scoping.

Each self-contained example runs as ``python block.py`` (so ``if __name__ ==
"__main__"`` code runs) in a fresh subprocess, in an empty temporary directory, with a
timeout; it *runs* when it exits with status 0. Interpreters: this environment's (the
injectq under test) and a throwaway venv with injectq==0.5.0 plus ``THIRD_PARTY``
(``--v050``, created with uv on first use under ``.cache/injectq-docs/``).

Output: the counts (examples found, self-contained, run on 0.5.0, run on injectq), each
example failing on either side with the last line of its error, and the regressions
(run on 0.5.0, fail on injectq) not listed in ``KNOWN_DIFFERENCES``. Exit status 1 if
there is any such regression.

Usage:  uv run python scripts/injectq_docs_examples.py [--source mirror|sdist] [-v]
"""

from __future__ import annotations

import argparse
import ast
import builtins
import hashlib
import io
import os
import re
import shutil
import subprocess
import symtable
import sys
import tarfile
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from upstream_tests import VERSION, fetch_sdist

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GIT_DIR = Path("/work/.mirror/10xHub+injectq/repo")
DEFAULT_V050 = REPO / ".cache" / "injectq-docs" / "v050"
TIMEOUT_SECONDS = 30

# Third-party packages an example may import: the frameworks InjectQ integrates with,
# installed (same names) in this environment's dev group and in the 0.5.0 venv.
THIRD_PARTY = frozenset({"fastapi", "pydantic", "starlette", "taskiq", "pytest"})
# Standard-library modules that reach outside the machine or the process: an example
# importing one needs a service this tool does not provide.
NETWORK = frozenset({"socket", "ssl", "smtplib", "http", "urllib", "ftplib", "subprocess"})
MODULE_DUNDERS = frozenset({"__name__", "__file__", "__doc__", "__builtins__", "__spec__"})

# Examples that run on InjectQ 0.5.0 and deliberately not on injectq, keyed by
# (page, sha256 of the block's code, first 12 hex digits): each relies on a 0.5 defect
# that injectq fixes. docs/migrating.md explains each one.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}

FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Example:
    page: str
    index: int  # position among the page's python blocks, from 0
    line: int  # line of the opening fence, from 1
    code: str

    @property
    def name(self) -> str:
        return f"{self.page}#{self.index} (line {self.line})"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str  # empty when ok


def pages_from_mirror(git_dir: Path, ref: str) -> dict[str, str]:
    """The text of every docs/**/*.md page at ``ref`` of a bare clone."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
        ).stdout

    names = git("ls-tree", "-r", "--name-only", ref, "docs/").split()
    return {name: git("show", f"{ref}:{name}") for name in names if name.endswith(".md")}


def pages_from_sdist() -> dict[str, str]:
    """The text of every docs/**/*.md page in the injectq 0.5.0 sdist."""
    prefix = f"injectq-{VERSION}/"
    pages = {}
    with tarfile.open(fetch_sdist()) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix(prefix)
            if name.startswith("docs/") and name.endswith(".md") and member.isfile():
                data = archive.extractfile(member)
                assert data is not None
                pages[name] = io.TextIOWrapper(data, encoding="utf-8").read()
    return pages


def examples_of(pages: dict[str, str]) -> list[Example]:
    found = []
    for page in sorted(pages):
        text = pages[page]
        for index, match in enumerate(FENCE.finditer(text)):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Example(page, index, line, textwrap.dedent(match.group(2))))
    return found


def imported_modules(tree: ast.Module) -> set[str]:
    """Top-level names of the modules a block imports (relative imports give "")."""
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add("" if node.level else (node.module or "").split(".")[0])
    return modules


def undefined_names(code: str) -> set[str]:
    """Names read as globals somewhere in ``code`` that nothing in it binds."""
    top = symtable.symtable(code, "<example>", "exec")
    bound = {symbol.get_name() for symbol in top.get_symbols() if not _is_unbound_read(symbol)}
    known = bound | set(dir(builtins)) | MODULE_DUNDERS
    missing: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        for symbol in table.get_symbols():
            global_read = symbol.is_referenced() and (
                table is top or symbol.is_global() or symbol.is_declared_global()
            )
            if global_read and symbol.get_name() not in known:
                missing.add(symbol.get_name())
    return missing


def _is_unbound_read(symbol: symtable.Symbol) -> bool:
    return not (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace())


def why_not_self_contained(example: Example) -> str | None:
    """None if the example is self-contained, else the rule it breaks."""
    try:
        tree = ast.parse(example.code)
        compile(tree, "<example>", "exec")
    except SyntaxError as error:
        return f"does not compile ({error.msg}, line {error.lineno})"
    modules = imported_modules(tree)
    if "injectq" not in modules:
        return "does not import injectq"
    foreign = modules - sys.stdlib_module_names - THIRD_PARTY - {"injectq"}
    if foreign:
        return f"imports {', '.join(sorted(m or '<relative>' for m in foreign))}"
    network = modules & NETWORK
    if network:
        return f"needs a service ({', '.join(sorted(network))})"
    missing = undefined_names(example.code)
    if missing:
        return f"undefined names: {', '.join(sorted(missing))}"
    return None


def run(python: Path, example: Example) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="injectq-doc-") as tmp:
        script = Path(tmp) / "example.py"
        script.write_text(example.code)
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        try:
            done = subprocess.run(
                [str(python), str(script)],
                check=False,  # the return code is the result
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return Outcome(False, f"timed out after {TIMEOUT_SECONDS}s")
    if done.returncode == 0:
        return Outcome(True, "")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return Outcome(False, lines[-1] if lines else f"exit status {done.returncode}")


def ensure_v050(venv: Path) -> Path:
    """The python of a venv holding injectq 0.5.0 and THIRD_PARTY (made with uv)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to create the injectq 0.5.0 venv; or pass --v050")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "-q", "-p", version, str(venv)], check=True)
    packages = [f"injectq=={VERSION}", *sorted(THIRD_PARTY)]
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *packages], check=True)
    return python


def injectq_version(python: Path) -> str:
    code = "import importlib.metadata as m, injectq; print(m.version('injectq'), injectq.__file__)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", choices=["mirror", "sdist"])
    parser.add_argument("--git-dir", type=Path, default=DEFAULT_GIT_DIR)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--v050", type=Path, default=DEFAULT_V050, help="venv with 0.5.0")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every example")
    options = parser.parse_args(argv)

    source = options.source or ("mirror" if options.git_dir.exists() else "sdist")
    if source == "mirror":
        pages = pages_from_mirror(options.git_dir, options.ref)
        origin = f"{options.git_dir} @ {options.ref}"
    else:
        pages = pages_from_sdist()
        origin = f"injectq-{VERSION} sdist"
    examples = examples_of(pages)
    reasons = {example: why_not_self_contained(example) for example in examples}
    runnable = [example for example in examples if reasons[example] is None]

    ours = Path(sys.executable)
    theirs = ensure_v050(options.v050)
    print(f"docs: {origin}: {len(pages)} pages")
    print(f"injectq under test: {injectq_version(ours)}")
    print(f"InjectQ 0.5.0:      {injectq_version(theirs)}")
    with ThreadPoolExecutor(options.jobs) as pool:
        on_ours = dict(zip(runnable, pool.map(lambda e: run(ours, e), runnable), strict=True))
        on_050 = dict(zip(runnable, pool.map(lambda e: run(theirs, e), runnable), strict=True))

    if options.verbose:
        for example in examples:
            if reasons[example] is not None:
                print(f"  skip {example.name}: {reasons[example]}")
    print()
    regressions = []
    for example in runnable:
        mine, old = on_ours[example], on_050[example]
        if mine.ok and old.ok:
            if options.verbose:
                print(f"  both   {example.name}")
            continue
        label = {(True, False): "ours  ", (False, True): "0.5.0 ", (False, False): "neither"}
        print(f"  {label[(mine.ok, old.ok)]} {example.name} [{example.digest}]")
        if not old.ok:
            print(f"      0.5.0:   {old.error}")
        if not mine.ok:
            print(f"      injectq: {mine.error}")
            known = KNOWN_DIFFERENCES.get((example.page, example.digest))
            if known:
                print(f"      known difference: {known}")
            elif old.ok:
                regressions.append(example)
    print()
    print(f"examples found:          {len(examples)}")
    print(f"self-contained:          {len(runnable)}")
    print(f"run on InjectQ 0.5.0:    {sum(o.ok for o in on_050.values())}")
    print(f"run on injectq:          {sum(o.ok for o in on_ours.values())}")
    print(f"run on 0.5.0, not ours:  {sum(o.ok and not on_ours[e].ok for e, o in on_050.items())}")
    print(f"  of which unexplained:  {len(regressions)}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
