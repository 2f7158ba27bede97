"""A real ``redis-server`` on a free 127.0.0.1 port, started and stopped by the tests.

``.ci/run`` installs Debian's ``redis-server`` when the machine lacks it; a missing binary
is an error here (never a skip), so a CI run without Redis fails loudly.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_START_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it
_READY_POLLS = 500  # x 10 ms


@dataclass(frozen=True)
class RedisServer:
    """A running server: ``url`` is ``redis://127.0.0.1:<port>``."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def command(self, *args: str) -> bytes:
        """Send one command (RESP) and return the raw reply: for readiness and checks."""
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            parts = [f"*{len(args)}\r\n".encode()]
            for arg in args:
                data = arg.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
            sock.sendall(b"".join(parts))
            return sock.recv(65536)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: RedisServer) -> bool:
    for _ in range(_READY_POLLS):
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            if server.command("PING").startswith(b"+PONG"):
                return True
        time.sleep(0.01)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """Start ``redis-server`` (no persistence) on a free loopback port; stop it after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: run `apt-get install -y redis-server` "
            "(.ci/run does this on CI)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--logfile",
                str(log),
                "--protected-mode",
                "yes",
            ],
            stdin=subprocess.DEVNULL,
        )
        server = RedisServer("127.0.0.1", port, process)
        try:
            if _wait_ready(server):
                yield server
                return
        finally:
            _stop(process)
    raise RuntimeError(f"redis-server did not start; see {log}")
