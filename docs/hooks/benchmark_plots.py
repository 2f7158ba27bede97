"""MkDocs hook: the plots of the Benchmarks page, drawn at build time from the results.

The results are the table `benchmarks/run.py` prints, as published under "## Results" in
docs/benchmarks.md: each cell reads ``<time> ×<ratio>``, the ratio being the time over
the scenario's floor (the same work, hand-written, with no container). For each scenario
the hook draws every library's ratio (log scale; a library that failed the scenario's
correctness checks, or cannot express it, has no bar) and adds the SVG to the site as
``benchmarks/ratios.svg``: nothing is written into docs/, and nothing is drawn by hand.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

RATIO = re.compile(r"×\s*([\d.]+)")
PLOT_URI = "benchmarks/ratios.svg"


def read_ratios(page: str) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Libraries (in the table's order) and ``{scenario: {library: ratio}}`` from the
    first table under "## Results"; failed and not-applicable cells are left out."""
    section = page.split("\n## Results\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    libraries = [name for name in header[2:] if name != "injectq target"]
    ratios: dict[str, dict[str, float]] = {}
    for row in rows[2:]:
        if not row.startswith("| S"):
            break
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        scenario = cells[0]
        ratios[scenario] = {}
        for library, cell in zip(libraries, cells[2:], strict=False):
            match = RATIO.search(cell)
            if match and not cell.startswith("FAIL"):
                ratios[scenario][library] = float(match.group(1))
    return libraries, ratios


def draw(libraries: list[str], ratios: dict[str, dict[str, float]]) -> str:
    """The plot as SVG: per scenario, a bar per library, its time over the hand-written floor."""
    import matplotlib as mpl

    mpl.use("Agg")
    mpl.rcParams["svg.hashsalt"] = "injectq"  # the same results draw the same file
    from matplotlib import pyplot as plt

    scenarios = list(ratios)
    width = 0.8 / len(libraries)
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for index, library in enumerate(libraries):
        xs = [
            i + (index - (len(libraries) - 1) / 2) * width
            for i, s in enumerate(scenarios)
            if library in ratios[s]
        ]
        ys = [ratios[s][library] for s in scenarios if library in ratios[s]]
        axes.bar(xs, ys, width, label=library)
    axes.set_yscale("log")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(scenarios)), scenarios)
    axes.set_ylabel("time / floor (log scale; lower is better)")
    axes.set_title("Cost over the hand-written floor, per scenario")
    axes.legend(ncols=3, fontsize="small")
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    plt.close(figure)
    return out.getvalue()


def on_files(files: Any, config: Any) -> Any:
    """MkDocs' files event: adds the plot, drawn from the Benchmarks page, to the site."""
    from mkdocs.structure.files import File

    page = (Path(config["docs_dir"]) / "benchmarks.md").read_text(encoding="utf-8")
    svg = draw(*read_ratios(page))
    files.append(File.generated(config, PLOT_URI, content=svg))
    return files
