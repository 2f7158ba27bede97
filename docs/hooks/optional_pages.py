"""MkDocs hook: a nav entry for a page that another branch is still writing is dropped
(with a note in the build log) until the page exists, so `mkdocs build --strict` passes
both before and after that branch is merged. Any other missing page stays an error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

OPTIONAL_PAGES = {"diagnostics.md"}
log = logging.getLogger("mkdocs.hooks.optional_pages")


def _keep(entry: Any, docs_dir: Path) -> bool:
    target = next(iter(entry.values())) if isinstance(entry, dict) else entry
    if isinstance(target, str) and target in OPTIONAL_PAGES and not (docs_dir / target).exists():
        log.info("nav: %s is not written yet; its entry is left out", target)
        return False
    return True


def on_config(config: Any) -> Any:
    """MkDocs' config event: drops the nav entries of optional pages not written yet."""
    docs_dir = Path(config["docs_dir"])
    config["nav"] = [entry for entry in config["nav"] if _keep(entry, docs_dir)]
    return config
