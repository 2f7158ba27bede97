"""Shared pytest fixtures."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# --- real stand-ins for the resource-management page (tests/support) ---------------------
# Fixtures: ``db_path`` (seeded SQLite file), ``http_server`` (base URL of a local HTTP
# server; ``.server`` has its stats), ``kv_server`` (a local TCP key-value server) and
# ``page_env`` (all of them together, as a ``support.page_helpers.Environment``).
sys.path.insert(0, str(Path(__file__).parent))

from support import page_helpers
from support.http_server import BaseURL
from support.http_server import http_server as _http_server
from support.kv_server import KVServer
from support.kv_server import kv_server as _kv_server
from support.redis_server import RedisServer
from support.redis_server import redis_server as _redis_server
from support.web import Tracker, make_db


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return page_helpers.init_database(tmp_path / "app.sqlite3")


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    """The web-framework tests' request resource log, on a fresh SQLite file (a test
    module may override it, as the Django one does)."""
    return Tracker(make_db(tmp_path / "app.sqlite3"))


@pytest.fixture
def http_server() -> Iterator[BaseURL]:
    with _http_server() as url:
        yield url


@pytest.fixture
def kv_server() -> Iterator[KVServer]:
    with _kv_server() as server:
        yield server


@pytest.fixture
def page_env(
    db_path: Path, kv_server: KVServer, http_server: BaseURL, tmp_path: Path
) -> page_helpers.Environment:
    files = tmp_path / "files"
    files.mkdir()
    return page_helpers.Environment(
        db_path=db_path, kv_url=kv_server.url, http_url=str(http_server), files_dir=files
    )


# --- end of the resource-page stand-ins -----------------------------------------------------


# --- a real Redis server (tests/support/redis_server.py) ----------------------------------
@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session; tests keep apart by their own queue names."""
    with _redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server
