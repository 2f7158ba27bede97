"""Instructions per request, counted by valgrind: a measure no other load moves.

    uv run --group bench python benchmarks/instructions.py [--only S3,S4]
        [--libs injectq,dishka,wireup,floor] [--src PATH ...] [--requests 2000]

Wall-clock figures on a shared or virtual machine move by 10 % between runs; the number
of machine instructions a request executes does not (``valgrind --tool=callgrind``
counts them, the same total twice for the same interpreter, code and inputs). Each
figure is a child process that builds the scenario with the benchmark's adapter
(``benchmarks/adapters``), warms it up, then runs it ``--requests`` times, minus the same
process run zero times, divided by ``--requests``.

``--src``: one or more ``src`` folders of other checkouts of injectq (a worktree of an
older commit, say), each counted as its own column for the ``injectq`` adapter, so that
commits are compared instruction for instruction. Needs ``valgrind`` on the PATH.
Instructions are not time (a Python frame or a C call costs more per instruction than
straight-line bytecode), so read them beside ``run.py``'s times, not instead of them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = {
    "floor": "floor",
    "injectq": "injectq_adapter",
    "dishka": "dishka_adapter",
    "wireup": "wireup_adapter",
}

CHILD = """
import asyncio, importlib, sys
sys.path.insert(0, {root!r})
from benchmarks import model
adapter = importlib.import_module("benchmarks.adapters." + {adapter!r})
scenario = getattr(adapter, {scenario!r})(model.make_model())
n = {n}
if {scenario!r} == "s4":
    async def run(k):
        for _ in range(k):
            await scenario()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(50))
    loop.run_until_complete(run(n))
else:
    for _ in range(50):
        scenario()
    for _ in range(n):
        scenario()
"""


def count(adapter: str, scenario: str, n: int, src: str | None) -> int:
    """Instructions the child executes, in total."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src is not None:
        env["PYTHONPATH"] = src
    code = CHILD.format(root=str(ROOT), adapter=adapter, scenario=scenario, n=n)
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or found is None:
        sys.exit(f"{adapter} {scenario} failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="S1,S2,S3,S4,S5")
    parser.add_argument("--libs", default="floor,injectq,dishka,wireup")
    parser.add_argument("--src", nargs="*", default=[], help="other injectq src folders")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on the PATH (Debian: apt-get install valgrind)")
    columns: list[tuple[str, str, str | None]] = []
    for lib in args.libs.split(","):
        columns.append((lib, ADAPTERS[lib], None))
        if lib == "injectq":
            columns += [(f"injectq@{src}", "injectq_adapter", src) for src in args.src]
    print("| scenario | " + " | ".join(name for name, _, _ in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for scenario in args.only.lower().split(","):
        cells = []
        for _, adapter, src in columns:
            per_request = (
                count(adapter, scenario, args.requests, src) - count(adapter, scenario, 0, src)
            ) / args.requests
            cells.append(f"{per_request:,.0f}")
        print(f"| {scenario.upper()} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
