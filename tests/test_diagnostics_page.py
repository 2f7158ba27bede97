"""docs/diagnostics.md's examples run through Sybil with the other pages; here, that the
page's Mermaid graph of the demo is what ``injectq graph`` draws (it cannot go stale)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_diagnostics_page_shows_the_demos_graph_as_injectq_draws_it() -> None:
    page = (ROOT / "docs/diagnostics.md").read_text()
    shown = re.search(r"```mermaid\n(.*?)```", page, re.DOTALL)
    assert shown is not None
    drawn = subprocess.run(
        [sys.executable, "-m", "injectq", "graph", "injectq.cli.demo:app"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.group(1) == drawn
