"""Importing injectq stays light: a sync program never loads asyncio (a loop cannot be
running before asyncio is imported, so injectq asks sys.modules instead)."""

import subprocess
import sys

SYNC_PROGRAM = """
import sys
import injectq
assert "asyncio" not in sys.modules, "import injectq loaded asyncio"

from injectq import InjectQ, resource

@resource
class Db:
    def initialize(self): self.open = True
    def dispose(self): self.open = False

class Repo:
    def __init__(self, db: Db): self.db = db

c = InjectQ()
c.bind(Db, Db, scope="request")
c.bind(Repo, Repo, scope="request")
with c.scope("request"):
    repo = c.get(Repo)
    assert repo.db.open
assert not repo.db.open
c.close()
assert "asyncio" not in sys.modules, "a sync program loaded asyncio"
assert "concurrent.futures" not in sys.modules
print("ok")
"""


def test_a_sync_program_never_imports_asyncio() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SYNC_PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
