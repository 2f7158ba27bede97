"""Worker processes for the broker tests: started in their own session, output to a log
file, stopped by a signal with a bounded wait, and killed (whole group) if still alive."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker: this interpreter's, the support modules importable."""
    env = dict(os.environ)
    paths = [str(SUPPORT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env


class Worker:
    """One worker process (and its children, in its own process group)."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def children(self) -> list[int]:
        """The pids of the worker's child processes (Linux)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` to the worker's main process and wait for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.pid} did not exit within {timeout}s of {sig.name}; "
                f"log:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        """Kill the whole process group (cleanup: never leaves a worker behind)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log_file.close()

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-6000:]


@contextlib.contextmanager
def workers() -> Iterator[list[Worker]]:
    """A list to start workers into; every one is killed at the end, even on failure."""
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.kill()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05
) -> None:
    """Poll ``condition`` until it holds, at most ``timeout`` seconds (bounded loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)
