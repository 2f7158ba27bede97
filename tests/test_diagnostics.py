"""Diagnostics (issue 13): the validator walks plans without constructing anything,
the visualizer renders the graph, the profiler times a container's resolutions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from injectq import (
    CircularDependencyError,
    InjectQ,
    InjectQError,
    scoped,
)
from injectq.diagnostics import (
    DependencyProfiler,
    DependencyValidator,
    DependencyVisualizer,
    ValidationResult,
)

built: list[str] = []


class Db:
    def __init__(self, url: str) -> None:
        built.append("Db")
        self.url = url


class Cache:
    def __init__(self) -> None:
        built.append("Cache")


class Repo:
    def __init__(self, db: Db, cache: Cache) -> None:
        built.append("Repo")


class Service:
    def __init__(self, repo: Repo, db: Db) -> None:
        built.append("Service")


class Loop1:
    def __init__(self, other: Loop2) -> None: ...


class Loop2:
    def __init__(self, other: Loop1) -> None: ...


@scoped("request")
class RequestUser:
    pass


class Holder:
    def __init__(self, user: RequestUser) -> None: ...


def app() -> InjectQ:
    c = InjectQ()
    c["url"] = "sqlite://"
    c.bind(Service)
    c.bind(Repo)
    return c


# ------------------------------------------------------------------ validator
def test_validator_collects_every_error_and_constructs_nothing() -> None:
    built.clear()
    c = InjectQ()
    c.bind(Service)  # Db(url: str) has no url
    c.bind(Loop1)
    result = DependencyValidator(c).validate()
    assert not result.is_valid
    assert sorted(e.kind for e in result.errors) == ["cycle", "missing"]  # type: ignore[attr-defined]
    assert "❌ Validation failed: 2 error(s)" in str(result)
    assert built == []
    c["url"] = "now"
    c.unbind(Loop1)
    assert DependencyValidator(c).validate().is_valid
    assert built == []


def test_validator_warns_about_a_singleton_holding_a_scoped_key() -> None:
    c = InjectQ()
    c.bind(Holder)  # singleton
    result = DependencyValidator(c).validate()
    assert not result.is_valid and not result.has_warnings
    assert "Singleton Holder holds RequestUser (request-scoped)" in str(result.errors[0])
    assert str(ValidationResult()) == "✅ Validation passed"


def test_validator_graph_and_chain() -> None:
    validator = DependencyValidator(app())
    graph = validator.get_dependency_graph()
    assert graph[Service] == {Repo, Db}
    assert graph[Repo] == {Db, Cache}
    assert graph["url"] == set()
    assert validator.get_dependency_chain(Service) == [Service, Repo, Db, "url", Cache]
    with pytest.raises(InjectQError, match="not in the graph"):
        validator.get_dependency_chain(Loop2)
    with pytest.raises(InjectQError, match="no container"):
        DependencyValidator().validate()


# ------------------------------------------------------------------ visualizer
def test_visualizer_renders_dot_json_and_text() -> None:
    built.clear()
    c = app()
    viz = c.visualize_dependencies()
    assert isinstance(viz, DependencyVisualizer) and viz.container is c
    dot = viz.to_dot()
    assert dot.startswith("digraph Dependencies {")
    nodes = {
        line.split(" [label=")[0].strip(): line.split('"')[1].split("\\n")[0]
        for line in dot.splitlines()
        if "[label=" in line and "->" not in line
    }
    edges = {
        (
            nodes[line.split("->")[0].strip()],
            nodes[line.split("->")[1].split("[")[0].strip()],
            line.split('label="')[1].split('"')[0],
        )
        for line in dot.splitlines()
        if "->" in line
    }
    assert edges == {
        ("Service", "Repo", "repo"),
        ("Service", "Db", "db"),
        ("Repo", "Db", "db"),
        ("Repo", "Cache", "cache"),
        ("Db", "'url'", "url"),
    }
    assert "Service\\n[singleton]" in viz.to_dot(include_scopes=True)
    assert "subgraph cluster_0" in viz.to_dot(cluster_by_scope=True)
    data = viz.to_json()
    json.dumps(data)  # serializable
    assert {n["id"]: n["kind"] for n in data["nodes"]} == {
        "Service": "class",
        "Repo": "class",
        "Db": "autowired",
        "'url'": "instance",
        "Cache": "autowired",
    }
    assert {"from": "Repo", "to": "Cache", "param": "cache"} in data["edges"]
    text = viz.to_ascii()
    assert "Service [singleton, class]\n  Dependencies: repo=Repo, db=Db" in text
    assert built == []


def test_visualizer_saves_statistics_cycles_and_paths(tmp_path: Path) -> None:
    c = app()
    viz = DependencyVisualizer(c)
    for fmt, marker in (("dot", "digraph"), ("json", '"nodes"'), ("ascii", "===")):
        target = tmp_path / f"graph.{fmt}"
        viz.save_graph(target, format=fmt)
        assert marker in target.read_text()
    viz.save_graph(tmp_path / "graph.mmd", format="mermaid")
    assert (tmp_path / "graph.mmd").read_text().startswith("flowchart LR")
    with pytest.raises(ValueError, match="format must be"):
        viz.save_graph(tmp_path / "x", format="png")
    stats = viz.get_statistics()
    assert stats["total_services"] == 5 and stats["total_dependencies"] == 5
    assert stats["services_by_type"] == {"class": 2, "autowired": 2, "instance": 1}
    assert viz.get_dependency_path(Service, Cache) == [Service, Repo, Cache]
    assert viz.get_dependency_path(Cache, Service) is None
    assert viz.find_cycles() == []
    c.bind(Loop1)
    assert viz.find_cycles() == [["Loop1", "Loop2", "Loop1"]]
    with pytest.raises(InjectQError, match="no container"):
        DependencyVisualizer().to_dot()


def test_container_compile_plans_everything_and_raises_like_validate() -> None:
    c = app()
    c.compile()
    c.bind(Loop1)
    with pytest.raises(CircularDependencyError):
        c.compile()


# ------------------------------------------------------------------ profiler
def test_profiler_times_a_containers_get_and_aget_while_started() -> None:
    c = app()
    profiler = DependencyProfiler(c)
    c.get(Cache)  # before: not recorded
    with profiler:
        c.get(Service)
        c.get(Service)
        c.get(Cache)  # autowired: transient, never ready
    c.get(Service)  # after: not recorded
    metrics = profiler.get_metrics()
    assert [(m.service_type, m.cache_hit) for m in metrics] == [
        (Service, False),
        (Service, True),
        (Cache, False),
    ]
    assert all(m.resolution_time >= 0 for m in metrics)
    service = profiler.get_aggregated_metrics()[Service]
    assert (service.total_resolutions, service.cache_hits, service.cache_misses) == (2, 1, 1)
    assert service.cache_hit_rate == 0.5
    assert c.get.__self__ is c._ready  # the one-dict-lookup get is back


async def test_profiler_times_aget() -> None:
    c = app()
    with DependencyProfiler(c) as profiler:
        await c.aget(Repo)
        await c.aget(Repo)
    assert [m.cache_hit for m in profiler.get_metrics()] == [False, True]
    assert c.aget.__func__ is InjectQ.aget  # type: ignore[attr-defined]  # unhooked


def test_profiler_manual_timing_decorator_and_mismatch() -> None:
    profiler = DependencyProfiler()
    profiler.begin_resolution("ignored")  # not started: nothing recorded
    profiler.start()

    @profiler.profile_method
    def work(n: int) -> int:
        return n * 2

    assert work(21) == 42
    with profiler.profile_resolution(Db, cache_hit=True):
        pass
    profiler.begin_resolution(Cache)
    profiler.begin_resolution(Cache)  # nested
    profiler.end_resolution(Cache)
    profiler.end_resolution(Cache)
    with pytest.raises(InjectQError, match="without a matching begin_resolution"):
        profiler.end_resolution(Repo)
    assert [m.service_type for m in profiler.get_metrics()] == [work.__wrapped__, Db, Cache, Cache]  # type: ignore[attr-defined]
    assert profiler.get_cache_performance() == {"hits": 1, "misses": 3, "hit_rate": 0.25}
    assert profiler.get_most_resolved(1)[0].service_type is Cache
    profiler.reset()
    assert profiler.get_metrics() == [] and profiler.get_aggregated_metrics() == {}
    assert profiler.get_timing_statistics()["total_time"] == 0.0


def test_profiler_report_and_exports(tmp_path: Path) -> None:
    c = app()
    with DependencyProfiler(c) as profiler:
        c.get(Service)
        c.get(Service)
    report = profiler.report(detailed=True)
    for text in (
        "Total resolutions: 2",
        "Cache hit rate: 50.0%",
        "Slowest Resolutions:",
        "Detailed Service Metrics:",
        "Service: 2 resolution(s)",
    ):
        assert text in report
    csv_file = tmp_path / "metrics.csv"
    profiler.export_csv(csv_file)
    rows = list(csv.reader(csv_file.open()))
    assert rows[0] == ["service_type", "resolution_time", "cache_hit"]
    assert [(r[0], r[2]) for r in rows[1:]] == [("Service", "False"), ("Service", "True")]
    json_file = tmp_path / "metrics.json"
    profiler.export_json(json_file)
    data = json.loads(json_file.read_text())
    assert data["aggregated_metrics"]["Service"]["total_resolutions"] == 2
    assert data["cache_performance"]["hit_rate"] == 0.5
    assert set(data["timing_statistics"]) == {
        "total_time",
        "average_time",
        "min_time",
        "max_time",
        "std_dev",
    }
