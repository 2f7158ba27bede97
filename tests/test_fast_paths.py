"""``INJECTQ_FAST_PATHS=0`` really switches the specialised paths off.

The suite runs both ways (``.ci/run``) and shows that behaviour is the same; these tests
show that the *paths* differ, so that the second run is not the first one again. One
small program runs in a fresh interpreter with the switch on and off (it is read once,
at import), does the same work through the public API, and reports what ran: the
generated resolvers' source (registered in ``linecache``), which classes were read with
``inspect.signature``, how often a disposal took the state machine's transition lock,
and how often a pool checkout went through the pool's general methods. The same program
reports what it saw (values, metrics, errors), which must not differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

PROGRAM = r"""
import asyncio, inspect, json, linecache, sqlite3
from collections.abc import Iterator

seen_by_signature = []
_signature = inspect.signature

def counting_signature(obj, *args, **kwargs):
    seen_by_signature.append(getattr(obj, "__qualname__", repr(obj)))
    return _signature(obj, *args, **kwargs)

inspect.signature = counting_signature  # analysis looks it up on the module per call

from injectq import InjectQ, ResourceInitializationError, ResourcePool, resource
from injectq.lifecycle import machine

# the transition lock's acquisitions outside a `with` (_claim_dispose's locked path):
# the state machine calls these module globals, so wrapping them counts every claim
# that takes the lock
claims_locked = 0
_acquire = machine._acquire

def counting_acquire():
    global claims_locked
    claims_locked += 1
    return _acquire()

machine._acquire = counting_acquire

# the pool's general checkout and return (its public methods)
general_pool_calls = []
for name in ("acquire_item", "acquire_item_sync", "release", "arelease"):
    def wrap(method, name=name):
        def counted(self, *args, **kwargs):
            general_pool_calls.append(name)
            return method(self, *args, **kwargs)
        return counted
    setattr(ResourcePool, name, wrap(getattr(ResourcePool, name)))


class Repo:
    def __init__(self) -> None:
        self.rows = [1, 2, 3]


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


@resource(scope="request")
class Connection:
    def initialize(self) -> None:
        self.conn = sqlite3.connect(":memory:")

    def dispose(self) -> None:
        self.conn.close()


class Handler:
    def __init__(self, conn: Connection, service: Service) -> None:
        self.conn, self.service = conn, service


def cursor() -> Iterator[sqlite3.Cursor]:
    conn = sqlite3.connect(":memory:")
    try:
        yield conn.cursor()
    finally:
        conn.close()


def never_yields() -> Iterator[int]:
    return
    yield  # never reached


c = InjectQ()
c.bind(Repo, Repo, scope="transient")
c.bind(Service, Service, scope="transient")
c.bind(Connection, Connection, scope="request")
c.bind(Handler, Handler, scope="request")
c.bind(sqlite3.Cursor, resource()(cursor), scope="request")
c.bind("broken", resource()(never_yields), scope="request")

claims_before = claims_locked
with c.scope("request"):
    handler = c.get(Handler)
    rows = handler.conn.conn.execute("SELECT 40 + 2").fetchone()[0]
    one = c.get(sqlite3.Cursor).execute("SELECT 1").fetchone()[0]
    service = c.get(Service)
    try:
        c.get("broken")
    except ResourceInitializationError as error:
        broken = str(error)
claims = claims_locked - claims_before

pool = ResourcePool(
    lambda: sqlite3.connect(":memory:", check_same_thread=False), max_size=2, min_size=1
)
pool.initialize()
for _ in range(3):
    with pool.acquire() as conn:
        conn.execute("SELECT 1")

async def use_pool_async() -> None:
    for _ in range(3):
        async with pool.acquire() as conn:
            conn.execute("SELECT 1")

asyncio.run(use_pool_async())
pool.dispose()

sources = {
    name: "".join(lines)
    for name, (_size, _mtime, lines, _fullname) in linecache.cache.items()
    if name.startswith("<injectq")
}

def source_of(label: str) -> str:
    [found] = [text for name, text in sources.items() if f"resolver {label} #" in name]
    return found

print(json.dumps({
    "resolver Service": source_of("Service"),
    "resolver Handler": source_of("Handler"),
    "read by inspect.signature": sorted(set(seen_by_signature)),
    "claims under the lock": claims,
    "general pool calls": general_pool_calls,
    "seen": {
        "rows": rows,
        "one": one,
        "service": type(service.repo).__name__,
        "broken": broken,
        "metrics": {
            name: {k: v for k, v in stats.items() if isinstance(v, int)}
            for name, stats in c.resource_metrics().items()
        },
        "pool": pool.stats().acquired,
    },
}))
"""


@cache
def _run(fast_paths: str) -> dict[str, Any]:
    """What the program reports with ``INJECTQ_FAST_PATHS=fast_paths`` (cached: the two
    runs are shared by the tests below)."""
    env = dict(os.environ, INJECTQ_FAST_PATHS=fast_paths)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def on() -> dict[str, Any]:
    return _run("1")


def off() -> dict[str, Any]:
    return _run("0")


def test_the_same_work_gives_the_same_results_both_ways() -> None:
    assert on()["seen"] == off()["seen"]
    seen = on()["seen"]
    assert seen["rows"] == 42
    assert seen["one"] == 1
    assert seen["broken"] == (
        "Failed to initialize resource 'broken': RuntimeError(\"generator didn't yield\")"
    )
    # each count once per event: two entries (one failed), one resource class
    assert seen["metrics"]["Connection"]["created"] == 1
    assert seen["metrics"]["Connection"]["disposed"] == 1
    broken = seen["metrics"]["'broken'"]
    assert (broken["created"], broken["initialized"], broken["init_errors"]) == (1, 0, 1)


def test_off_a_scoped_resolver_looks_in_the_cache_of_an_empty_scope() -> None:
    lookup = "found = cache.get(KEY, NO_VALUE)"
    assert "if cache:" in on()["resolver Handler"]
    assert lookup in on()["resolver Handler"]
    assert "if cache:" not in off()["resolver Handler"]
    assert lookup in off()["resolver Handler"]


def test_off_a_plain_transient_resolver_looks_up_its_scope() -> None:
    assert "get_scope()" not in on()["resolver Service"]
    assert "scope = get_scope()" in off()["resolver Service"]
    assert "Service(Repo())" in on()["resolver Service"]
    assert "Service(Repo())" in off()["resolver Service"]


def test_off_every_signature_is_read_by_inspect_signature() -> None:
    # on: plain classes and functions are read from their code objects
    mine = {"Repo", "Service", "Handler", "cursor", "never_yields"}
    assert not mine & set(on()["read by inspect.signature"])
    assert mine <= set(off()["read by inspect.signature"])


def test_off_every_disposal_claim_takes_the_transition_lock() -> None:
    # the scope's exit disposes the resource class and the generator entry: on, it
    # claims both without the lock; off, each claim takes it
    assert on()["claims under the lock"] == 0
    assert off()["claims under the lock"] == 2


def test_off_every_pool_checkout_takes_the_general_path() -> None:
    # a warm pool, nobody waiting: on, checkout and return are the shortcuts
    assert on()["general pool calls"] == []
    general = off()["general pool calls"]
    assert general.count("acquire_item_sync") == 3
    assert general.count("release") == 3
    assert general.count("acquire_item") == 3
    assert general.count("arelease") == 3
