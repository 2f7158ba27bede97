"""Resolution tracing (issue 14): ``with container.trace() as trace:`` records each
resolution made in that context, nothing outside it, and leaves ``get`` untouched when
no trace is active."""

import asyncio
import json
import threading
from typing import Any

import pytest

from injectq import InjectQ, resource, scoped
from injectq.diagnostics import DependencyProfiler


class Settings:
    pass


class Repo:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@resource
class Conn:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.open = False

    def initialize(self) -> None:
        self.open = True

    def dispose(self) -> None:
        self.open = False


@scoped("request")
class Session:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


def app() -> InjectQ:
    c = InjectQ()
    c.bind(Settings)
    c.bind(Repo, Repo, scope="transient")
    c.bind(Conn)
    c.bind(Session)

    def report(conn: Conn) -> str:  # a factory that resolves on its own, through get
        return f"report {c.get(Repo).settings is c.get(Settings)}"

    c.bind_factory("report", report)
    return c


def test_trace_records_key_lifetime_created_or_cached_duration_and_parent() -> None:
    c = app()
    c.get(Settings)  # before the block: not recorded
    with c.trace() as trace:
        c.get(Settings)
        assert c.get("report") == "report True"
        with c.scope("request"):
            first = c.get(Session)
            assert c.get(Session) is first
    c.get(Repo)  # after the block: not recorded
    summary = [(r.label, r.lifetime, r.created, r.via) for r in trace.roots]
    assert summary == [
        ("Settings", "singleton", False, "get"),
        ("'report'", "transient", True, "get"),
        ("Session", "request", True, "get"),
        ("Session", "request", False, "get"),
    ]
    report = trace.roots[1]
    children = [(r.label, r.lifetime, r.created, r.via) for r in report.children]
    assert children == [
        ("Conn", "root", True, "initialize"),  # the singleton resource it built
        ("Repo", "transient", True, "get"),
        ("Settings", "singleton", False, "get"),
    ]
    assert all(child.parent is report for child in report.children)
    assert report.duration >= sum(child.duration for child in report.children if child.via == "get")
    assert len(trace.resolutions) == 7
    tree = trace.tree().splitlines()
    assert tree[0].startswith("Settings [singleton] cached ")
    assert tree[1].startswith("'report' [transient] created ")
    assert tree[2].startswith("  Conn initialized, owned by root ")
    assert tree[3].startswith("  Repo [transient] created ")
    data = json.loads(trace.to_json())
    assert data["resolutions"][1]["children"][1]["key"] == "Repo"
    assert data["resolutions"][1]["created"] is True
    c.close()


def test_get_is_the_plain_lookup_outside_every_trace() -> None:
    c = app()
    plain_get, plain_aget = c.get, c.aget
    with c.trace():
        assert c.get is not plain_get
        with c.trace():  # nested: the hook stays until the last one ends
            pass
        assert c.get is not plain_get
    assert c.get == plain_get and c.get.__self__ is c._ready  # type: ignore[attr-defined]
    assert c.aget == plain_aget and c.aget.__func__ is InjectQ.aget  # type: ignore[attr-defined]
    other = app()
    with other.trace():
        assert c.get.__self__ is c._ready  # type: ignore[attr-defined]  # another container


def test_a_failed_resolution_is_recorded_with_its_error() -> None:
    c = InjectQ()

    class NeedsUrl:
        def __init__(self, url: str) -> None: ...

    with c.trace() as trace, pytest.raises(Exception, match="url"):
        c.get(NeedsUrl)
    (record,) = trace.roots
    assert record.error is not None and "DependencyNotFoundError" in record.error
    assert "raised DependencyNotFoundError" in trace.tree()


def test_only_the_blocks_own_context_records() -> None:
    c = app()
    c.get(Settings)
    outside: list[Any] = []
    started = threading.Event()
    finish = threading.Event()

    def other_thread() -> None:
        started.set()
        finish.wait(5)
        # resolves while the block is active, in another context
        outside.extend(c.get(Repo) for _ in range(50))

    thread = threading.Thread(target=other_thread)
    thread.start()
    started.wait(5)
    with c.trace() as trace:
        finish.set()
        for _ in range(3):
            c.get(Repo)
        thread.join(5)
    assert len(outside) == 50
    assert [r.label for r in trace.resolutions] == ["Repo"] * 3


def test_async_trace_records_aget_in_its_task_and_not_in_others() -> None:
    async def main() -> tuple[Any, Any]:
        c = app()
        release = asyncio.Event()

        async def untraced() -> None:
            await release.wait()
            for _ in range(5):
                await c.aget(Repo)

        other = asyncio.create_task(untraced())  # made before the block: its own context
        async with c.trace() as trace:
            await c.aget(Settings)
            release.set()
            await asyncio.sleep(0)
            await c.aget(Settings)
            child = asyncio.create_task(c.aget(Repo))  # a task made in the block copies it
            await child
        await other
        await c.aclose()
        return trace, c

    trace, _ = asyncio.run(main())
    assert [(r.label, r.created, r.via) for r in trace.roots] == [
        ("Settings", True, "aget"),
        ("Settings", False, "aget"),
        ("Repo", True, "aget"),
    ]


def test_profiler_is_a_trace_kept_open() -> None:
    c = app()
    profiler = DependencyProfiler(c)
    profiler.start()
    c.get(Settings)
    c.get(Settings)
    assert getattr(c.get, "__self__", None) is not c._ready
    profiler.stop()
    assert c.get.__self__ is c._ready  # type: ignore[attr-defined]
    assert [(m.service_type, m.cache_hit) for m in profiler.get_metrics()] == [
        (Settings, False),
        (Settings, True),
    ]
    with profiler, c.trace() as trace:  # a profiler and a trace together
        c.get(Repo)
    assert [r.label for r in trace.roots] == ["Repo"]
    assert len(profiler.get_metrics()) == 3
    assert c.get.__self__ is c._ready  # type: ignore[attr-defined]


def _traced_round(c: InjectQ) -> tuple[dict[int, list[str]], list[BaseException]]:
    """Four threads, each with its own trace, all active at once; what each recorded."""
    barrier = threading.Barrier(4)
    seen: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait(5)
            with c.trace() as trace:
                for _ in range(n + 1):
                    c.get(Repo)
                barrier.wait(5)  # every trace active at once here
            seen[n] = [r.label for r in trace.resolutions]
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return seen, errors


def test_concurrent_traces_in_threads_each_record_only_their_own() -> None:
    c = app()
    c.get(Settings)
    for _ in range(20):  # the hook installed and removed under contention, repeatedly
        seen, errors = _traced_round(c)
        assert errors == []
        assert seen == {n: ["Repo"] * (n + 1) for n in range(4)}
        assert c.get.__self__ is c._ready  # type: ignore[attr-defined]
