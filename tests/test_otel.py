"""injectq[otel]: the monitor's metrics through opentelemetry-api, read back with the SDK's
InMemoryMetricReader."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceInitializationError,
    ResourcePool,
    resource,
)
from injectq.integrations.otel import instrument

DB = Path()


@pytest.fixture(autouse=True)
def db(tmp_path: Path) -> Path:
    global DB
    DB = tmp_path / "otel.sqlite3"
    sqlite3.connect(DB).close()
    return DB


@resource(scope="request")
class Connection:
    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB)

    def dispose(self) -> None:
        self.conn.close()


@resource(scope="request")
class BrokenInit:
    def initialize(self) -> None:
        sqlite3.connect(DB.parent / "missing" / "x.sqlite3")


@resource(scope="request")
class BrokenDispose:
    def initialize(self) -> None:
        self.conn = sqlite3.connect(DB)

    def dispose(self) -> None:
        self.conn.close()
        self.conn.execute("SELECT 1")


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


def collect(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """``{metric name: [data points]}`` of everything recorded so far."""
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "injectq"
            for metric in sm.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def total(points: list[Any], **attrs: str) -> int:
    return sum(p.value for p in points if all(p.attributes.get(k) == v for k, v in attrs.items()))


def count(points: list[Any], **attrs: str) -> int:
    return sum(p.count for p in points if all(p.attributes.get(k) == v for k, v in attrs.items()))


def run_requests(c: InjectQ, n: int) -> None:
    for i in range(n):
        try:
            with c.scope("request"):
                c.get(Connection)
                if i % 2 == 0:
                    c.get(BrokenDispose)
                with pytest.raises(ResourceInitializationError):
                    c.get(BrokenInit)
        except ResourceDisposalError:
            assert i % 2 == 0


def test_records_the_same_metrics_as_the_monitor(
    provider: MeterProvider, reader: InMemoryMetricReader
) -> None:
    c = InjectQ()
    for cls in (Connection, BrokenInit, BrokenDispose):
        c.bind(cls, cls)
    uninstrument = instrument(c, meter_provider=provider)
    run_requests(c, 4)

    points = collect(reader)
    monitor = c.resource_metrics()
    for type_name in ("Connection", "BrokenInit", "BrokenDispose"):
        stats = monitor[type_name]
        t = {"injectq.resource.type": type_name}
        assert total(points["injectq.resource.created"], **t) == stats["created"]
        assert total(points.get("injectq.resource.initialized", []), **t) == stats["initialized"]
        assert total(points.get("injectq.resource.disposed", []), **t) == stats["disposed"]
        errors = points.get("injectq.resource.errors", [])
        assert total(errors, **t, **{"injectq.phase": "initialize"}) == stats["init_errors"]
        assert total(errors, **t, **{"injectq.phase": "dispose"}) == stats["dispose_errors"]
        assert total(points["injectq.resource.active"], **t) == stats["active"] == 0

    assert total(points["injectq.resource.created"], **{"injectq.scope": "request"}) == 4 + 2 + 4
    errors = points["injectq.resource.errors"]
    assert total(errors, **{"error.type": "OperationalError"}) == 4
    assert total(errors, **{"error.type": "ProgrammingError"}) == 2

    conn = {"injectq.resource.type": "Connection"}
    assert count(points["injectq.resource.init.duration"], **conn) == 4
    assert count(points["injectq.resource.dispose.duration"], **conn) == 4
    assert count(points["injectq.resource.lifetime"], **conn) == 4
    lifetimes = [
        p
        for p in points["injectq.resource.lifetime"]
        if p.attributes == {**conn, "injectq.scope": "request"}
    ]
    assert lifetimes[0].sum > 0
    failed_init = {"injectq.resource.type": "BrokenInit", "error.type": "OperationalError"}
    assert count(points["injectq.resource.init.duration"], **failed_init) == 4

    uninstrument()
    uninstrument()  # idempotent
    run_requests(c, 2)
    after = collect(reader)
    assert total(after["injectq.resource.created"], **conn) == 4  # no longer recorded
    assert after.get("injectq.resource.active", []) == []


def test_active_is_observed_while_resources_are_live(
    provider: MeterProvider, reader: InMemoryMetricReader
) -> None:
    c = InjectQ()
    c.bind(Connection, Connection)
    with c.scope("request"):
        c.get(Connection)  # live before instrumenting: still counted
        instrument(c.resource_monitor, meter_provider=provider)
        with c.scope("request"):
            c.get(Connection)
            points = collect(reader)
            assert (
                total(points["injectq.resource.active"], **{"injectq.resource.type": "Connection"})
                == 2
            )
        points = collect(reader)
        assert (
            total(points["injectq.resource.active"], **{"injectq.resource.type": "Connection"}) == 1
        )
    points = collect(reader)
    assert total(points["injectq.resource.active"], **{"injectq.resource.type": "Connection"}) == 0


async def test_watched_pools_record_acquisitions(
    provider: MeterProvider, reader: InMemoryMetricReader
) -> None:
    c = InjectQ()
    pool: ResourcePool[sqlite3.Connection] = ResourcePool(
        lambda: sqlite3.connect(DB, check_same_thread=False), max_size=2
    )
    c.resource_monitor.watch_pool(pool, "sqlite")
    instrument(c, meter_provider=provider)

    async def use() -> None:
        async with pool.acquire() as conn:
            conn.execute("SELECT 1")
            await asyncio.sleep(0)

    await asyncio.gather(*(use() for _ in range(10)))
    await pool.dispose()
    points = collect(reader)
    assert total(points["injectq.pool.acquired"], **{"injectq.pool": "sqlite"}) == 10
    assert count(points["injectq.pool.wait_time"], **{"injectq.pool": "sqlite"}) == 10


def test_global_meter_provider_is_the_default() -> None:
    # In a fresh interpreter: the global provider can be set only once per process.
    code = """
import sqlite3
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from injectq import InjectQ, resource
from injectq.integrations.otel import instrument

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

@resource
class Db:
    def initialize(self):
        self.conn = sqlite3.connect(":memory:")
    def dispose(self):
        self.conn.close()

c = InjectQ()
c.bind(Db, Db)
instrument(c)
c.get(Db)
c.close()
names = {
    m.name
    for rm in reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for m in sm.metrics
}
print(sorted(names))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "injectq.resource.created" in out.stdout
    assert "injectq.resource.lifetime" in out.stdout


def test_import_injectq_does_not_import_opentelemetry() -> None:
    code = "import sys, injectq; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
