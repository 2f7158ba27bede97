"""The ``redis`` fixture runs a real redis-server on 127.0.0.1 and stops it afterwards."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from support.redis_server import RedisServer, redis_server


def test_the_session_server_answers(redis: RedisServer) -> None:
    assert redis.host == "127.0.0.1"
    assert redis.command("SET", "fixture:key", "value") == b"+OK\r\n"
    assert redis.command("GET", "fixture:key") == b"$5\r\nvalue\r\n"
    assert redis.url == f"redis://127.0.0.1:{redis.port}"


def test_a_server_is_stopped_when_its_block_ends(tmp_path: Path) -> None:
    with redis_server(tmp_path / "r") as server:
        assert server.command("PING") == b"+PONG\r\n"
        process, port = server.process, server.port
    assert process.poll() is not None  # the process has exited
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def test_a_server_is_stopped_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(KeyError), redis_server(tmp_path / "r") as server:
        process = server.process
        raise KeyError("test failed")
    assert process.poll() is not None
