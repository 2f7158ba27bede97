"""Every example of the resource-management page runs, as written, against real stand-ins.

The page's code lives verbatim in ``docs/resources.md`` (``<!-- example: NAME -->`` before
each ``python`` block); the minimal corrections of DESIGN §3b sit next to it as
``NAME-corrected`` blocks. Each test executes the blocks it needs, in page order, in one
fresh module whose namespace is pre-filled with the real stand-ins of ``tests/support``
(SQLite, a local HTTP server, a local TCP key-value server), then drives the page's
functions and asserts real effects: rows, file contents, JSON, opened-then-closed
connections, exactly-once disposal.
"""

import ast
import gc
import inspect
import itertools
import json
import linecache
import logging
import re
import sqlite3
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from sybil import Document
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

import injectq
from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceExhaustedError,
    ResourceInitializationError,
    ResourceTimeoutError,
    resource,
)
from support import page_helpers
from support.http_server import ITEMS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "resources.md"
_NAME = re.compile(r"<!-- example: ([\w-]+) -->")
_counter = itertools.count()


def load_examples() -> dict[str, str]:
    """The page's ``python`` blocks, found by Sybil's Markdown lexer, each by the name of
    the ``<!-- example: NAME -->`` comment on the line above it."""
    text = DOCS.read_text(encoding="utf-8")
    found = []
    for region in FencedCodeBlockLexer("python")(Document(text, str(DOCS))):
        line_above = text[: region.start].rstrip("\n").rsplit("\n", 1)[-1]
        name = _NAME.fullmatch(line_above)
        assert name, f"a python block of docs/resources.md has no example name: {line_above!r}"
        found.append((name.group(1), str(region.lexemes["source"]).rstrip("\n")))
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), "duplicate example names in docs/resources.md"
    return dict(found)


EXAMPLES = load_examples()

# Every example in docs/resources.md, and the test(s) below that run it.
EXERCISED = {
    "lib-aget",
    "lib-pool",
    "lib-health",
    "basic-verbatim",
    "scopes-verbatim",
    "scopes-corrected",
    "pool-verbatim",
    "pool-corrected",
    "files-verbatim",
    "files-corrected",
    "http-verbatim",
    "factory-verbatim",
    "decorator-verbatim",
    "decorator-corrected",
    "generic-pool-verbatim",
    "generic-pool-corrected",
    "good-cleanup-verbatim",
    "good-errors-verbatim",
    "good-errors-primary",
    "good-monitoring-verbatim",
    "good-monitoring-corrected",
    "bad-manual-verbatim",
    "bad-manual-corrected",
    "bad-exhaustion-verbatim",
    "bad-errors-verbatim",
    "bad-errors-corrected",
    "monitor-verbatim",
    "monitor-corrected",
    "health-verbatim",
    "health-corrected",
}


def page_namespace(env: page_helpers.Environment) -> dict[str, Any]:
    """What the page's module has in scope: its first block's imports, the injectq names
    it uses unimported, and the stand-ins for everything it never defines."""
    return {
        "resource": resource,
        "InjectQ": InjectQ,
        "ResourceExhaustedError": ResourceExhaustedError,
        "ResourceInitializationError": ResourceInitializationError,
        **page_helpers.make_stand_ins(env),
    }


class Page:
    """Builds modules from the docs' examples and forgets them after the test."""

    def __init__(self, env: page_helpers.Environment) -> None:
        self.env = env
        self.modules: list[str] = []

    def source(self, name: str, substitutions: dict[str, str] | None = None) -> str:
        text = EXAMPLES[name]
        for old, new in (substitutions or {}).items():
            assert old in text, f"{old!r} not in example {name}"
            text = text.replace(old, new)
        return text

    def module(self, **extra: Any) -> types.ModuleType:
        name = f"page_example_{next(_counter)}"
        module = types.ModuleType(name)
        module.__dict__.update(page_namespace(self.env))
        module.__dict__.update(extra)
        sys.modules[name] = module  # the container may look classes' modules up
        self.modules.append(name)
        return module

    def __call__(
        self, *names: str, substitutions: dict[str, str] | None = None, **extra: Any
    ) -> types.ModuleType:
        module = self.module(**extra)
        for name in names:
            self.run(module, name, substitutions)
        return module

    @staticmethod
    def _compile(source: str, name: str, flags: int = 0) -> types.CodeType:
        filename = f"<docs/resources.md:{name}>"
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)  # readable tracebacks
        return compile(source, filename, "exec", flags=flags)

    def run(self, module: types.ModuleType, name: str, substitutions=None) -> None:
        exec(self._compile(self.source(name, substitutions), name), module.__dict__)  # noqa: S102

    async def run_top_level_await(self, module: types.ModuleType, name: str) -> None:
        """Run a block the way the asyncio REPL / a notebook does (top-level ``await``)."""
        code = self._compile(self.source(name), name, ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, module.__dict__)  # noqa: S307  (the page's own code)
        if inspect.isawaitable(result):
            await result

    def cleanup(self) -> None:
        for name in self.modules:
            sys.modules.pop(name, None)


@pytest.fixture
def page(page_env):
    p = Page(page_env)
    yield p
    p.cleanup()


def lines_starting(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def assert_db_all_closed(env: page_helpers.Environment) -> None:
    assert env.db_live == 0, f"{env.db_live} SQLite connection(s) still open"
    assert env.db_opened == env.db_closed
    assert env.db_fds() == 0, "a file descriptor still points at the database"


def user_rows(*ids: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": n, "email": e} for i, n, e in page_helpers.USERS if not ids or i in ids
    ]


# --- the docs themselves ----------------------------------------------------------------


def test_every_python_block_in_the_docs_is_a_tested_example():
    text = DOCS.read_text(encoding="utf-8")
    assert text.count("```python") == len(EXAMPLES), "an untagged python block in the docs"
    assert set(EXAMPLES) == EXERCISED


def test_examples_compile_except_the_one_the_page_gets_wrong():
    for name, source in EXAMPLES.items():
        if name == "generic-pool-verbatim":
            continue
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if name == "health-verbatim" else 0
        compile(source, name, "exec", flags=flags)


# --- the library's own examples ---------------------------------------------------------


async def test_lib_aget_scope_owns_the_transient_resource(page, page_env):
    mod = page("lib-aget")
    assert await mod.count_users(InjectQ()) == 3
    assert page_env.db_opened == 1
    assert_db_all_closed(page_env)


async def test_lib_pool_limits_and_closes(page, page_env):
    mod = page("lib-pool")
    rows, exhausted = await mod.two_at_most(InjectQ())
    assert rows == [{"name": "Ada Lovelace"}]
    assert exhausted is True
    assert page_env.db_opened == 2
    assert_db_all_closed(page_env)


# --- Basic resource pattern ---------------------------------------------------------------


async def test_basic_main_initializes_queries_and_disposes(page, page_env, capsys):
    mod = page("basic-verbatim")
    await mod.main()
    out = capsys.readouterr().out
    init = lines_starting(out, "Database connection initialized: ")
    disposed = lines_starting(out, "Database connection disposed: ")
    query = lines_starting(out, "Query result: ")
    assert len(init) == len(disposed) == len(query) == 1
    assert init[0].split(": ")[1] == disposed[0].split(": ")[1]  # the same connection
    assert query[0] == f"Query result: {user_rows()}"
    lines = out.splitlines()
    assert lines.index(init[0]) < lines.index(query[0]) < lines.index(disposed[0])
    assert page_env.db_opened == 1
    assert_db_all_closed(page_env)


# --- Resource scope management --------------------------------------------------------------


async def test_handle_request_as_written_fails_but_disposes(page, page_env, kv_server):
    mod = page("basic-verbatim", "scopes-verbatim")
    container = InjectQ()
    db = mod.DatabaseConnection(mod.DatabaseConfig())
    container.bind(mod.DatabaseConnection, db)
    with pytest.raises(NameError, match="request"):
        await mod.handle_request(container)
    mod.request = mod.Request(user_id=2)
    with pytest.raises(TypeError, match="positional argument"):
        await mod.handle_request(container)
    assert db.is_initialized is False
    assert_db_all_closed(page_env)
    assert await kv_server.await_connections(0) == 0


async def test_handle_request_corrected(page, page_env, kv_server):
    mod = page("basic-verbatim", "scopes-verbatim", "scopes-corrected")
    container = InjectQ()
    db = mod.DatabaseConnection(mod.DatabaseConfig())
    container.bind(mod.DatabaseConnection, db)

    result = await mod.handle_request(container, mod.Request(user_id=2))
    assert result == {"user": user_rows(2)}
    assert json.loads(kv_server.data["user:2"]) == user_rows(2)
    assert db.is_initialized is False
    assert_db_all_closed(page_env)
    assert await kv_server.await_connections(0) == 0

    # the bound instance is activated again by the next request's scope
    result = await mod.handle_request(container, mod.Request(user_id=3))
    assert result == {"user": user_rows(3)}
    assert page_env.db_opened == 2
    assert_db_all_closed(page_env)
    assert page_env.events.count("CacheConnection.initialize") == 2
    assert page_env.events.count("CacheConnection.dispose") == 2
    assert await kv_server.await_connections(0) == 0
    assert kv_server.stats()["total_connections"] == 2


async def test_complex_operation_as_written_commits_without_a_transaction(page, page_env):
    mod = page("basic-verbatim", "scopes-verbatim")
    container = InjectQ()
    container.bind(mod.DatabaseConnection, mod.DatabaseConnection(mod.DatabaseConfig()))
    with pytest.raises(sqlite3.OperationalError, match="no transaction is active"):
        await mod.complex_operation(container)
    assert_db_all_closed(page_env)
    assert page_env.events.count("CacheConnection.dispose") == page_env.events.count(
        "CacheConnection.initialize"
    )


async def test_complex_operation_corrected_nested_scopes(page, page_env, kv_server):
    mod = page("basic-verbatim", "scopes-verbatim", "scopes-corrected")
    container = InjectQ()
    db = mod.DatabaseConnection(mod.DatabaseConfig())
    container.bind(mod.DatabaseConnection, db)
    await mod.complex_operation(container)
    events = page_env.events
    # the inner scope's cache was initialized and disposed at the inner exit, while the
    # outer scope's connection stayed live for the COMMIT
    order = [
        events.index("sql:BEGIN"),
        events.index("CacheConnection.initialize"),
        events.index("CacheConnection.dispose"),
        events.index("sql:COMMIT"),
    ]
    assert order == sorted(order)
    assert db.is_initialized is False
    assert page_env.db_opened == 1
    assert_db_all_closed(page_env)
    assert await kv_server.await_connections(0) == 0


# --- Connection pool resources ----------------------------------------------------------------


def pool_container(mod) -> InjectQ:
    container = InjectQ()
    container.bind(mod.DatabaseConfig, mod.DatabaseConfig(min_connections=1, max_connections=2))
    container.bind(mod.DatabasePool, mod.DatabasePool)  # a class binding: a singleton
    return container


async def test_query_with_pool_as_written(page, page_env):
    mod = page("pool-verbatim")
    container = pool_container(mod)
    # the page's un-awaited coroutine warns when collected, after the TypeError
    with pytest.warns(RuntimeWarning, match="never awaited"):  # noqa: PT031
        with pytest.raises(TypeError, match="asynchronous context manager"):
            await mod.query_with_pool(container)
        gc.collect()
    await container.aclose()
    assert_db_all_closed(page_env)


async def test_query_with_pool_corrected(page, page_env, capsys):
    mod = page("pool-verbatim", "pool-corrected")
    container = pool_container(mod)
    assert await mod.query_with_pool(container) == user_rows()
    pool = await container.aget(mod.DatabasePool)  # the same singleton, still live
    assert pool.active_connections == 0
    assert pool.pool.stats() == {"size": 1, "idle": 1, "in_use": 0}  # went back

    # the page's own limit: max_connections wrappers at once, then ResourceExhaustedError
    wrappers = [await pool.acquire_connection() for _ in range(2)]
    with pytest.raises(ResourceExhaustedError):
        await pool.acquire_connection()
    for wrapper in wrappers:
        async with wrapper as conn:
            assert await conn.execute("SELECT count(*) AS n FROM users") == [{"n": 3}]
    assert pool.pool.stats() == {"size": 2, "idle": 2, "in_use": 0}

    assert page_env.db_live == 2  # a singleton outlives the request scope ...
    await container.aclose()  # ... and is disposed by the container
    assert_db_all_closed(page_env)
    out = capsys.readouterr().out
    assert out.count("Database pool initialized with 2 max connections") == 1
    assert out.count("Database pool disposed") == 1


# --- File handle resources ----------------------------------------------------------------------


def file_container(mod, env) -> InjectQ:
    container = InjectQ()
    container["base_path"] = str(env.files_dir)  # FileManager(base_path: str)
    container.bind(mod.FileManager, mod.FileManager)
    return container


async def test_process_file_as_written(page, page_env):
    mod = page("files-verbatim")
    (page_env.files_dir / "data.txt").write_text("hello\n")
    container = file_container(mod, page_env)
    # the page's un-awaited coroutine warns when collected, after the TypeError
    with pytest.warns(RuntimeWarning, match="never awaited"):  # noqa: PT031
        with pytest.raises(TypeError, match="asynchronous context manager"):
            await mod.process_file(container)
        gc.collect()
    await container.aclose()


async def test_process_file_corrected(page, page_env, capsys):
    mod = page("files-verbatim", "files-corrected")
    data = page_env.files_dir / "data.txt"
    data.write_text("real file content\nsecond line\n")
    container = file_container(mod, page_env)
    assert await mod.process_file(container) == "real file content\nsecond line\n"
    assert page_helpers.open_fds_on(data) == 0  # FileWrapper closed it
    manager = await container.aget(mod.FileManager)
    assert list(manager.open_files) == [str(data)]
    await container.aclose()
    assert manager.open_files == {}
    out = capsys.readouterr().out
    assert out.count(f"File manager initialized at {page_env.files_dir}") == 1
    assert out.count(f"Closed file: {data}") == 1


# --- Network connection resources -------------------------------------------------------------


async def test_fetch_data_from_the_local_server(page, http_server, capsys):
    mod = page("http-verbatim", substitutions={"https://api.example.com": str(http_server)})
    container = InjectQ()
    container.bind(mod.HTTPConfig, mod.HTTPConfig(max_connections=4, timeout=10))
    container.bind(mod.HTTPClientPool, mod.HTTPClientPool)
    assert await mod.fetch_data(container) == {"items": ITEMS}
    assert await mod.fetch_data(container) == {"items": ITEMS}
    stats = http_server.server.stats()
    assert stats["requests"] == [("GET", "/data"), ("GET", "/data")]
    assert stats["distinct_client_connections"] == 1  # the pooled connection was reused
    client = await container.aget(mod.HTTPClientPool)
    assert not client.session.closed
    await container.aclose()
    assert client.session.closed
    assert await http_server.server.await_connections(0) == 0
    out = capsys.readouterr().out
    assert out.count("HTTP client pool initialized with 4 connections") == 1
    assert out.count("HTTP client pool disposed") == 1


# --- Resource factory pattern -------------------------------------------------------------------


async def test_setup_resources_factory(page, page_env, kv_server):
    mod = page("pool-verbatim", "pool-corrected", "factory-verbatim")
    container = InjectQ()
    mod.setup_resources(
        container, mod.DatabaseConfig(min_connections=2, max_connections=3), mod.CacheConfig()
    )
    async with container.resource_scope():
        pool = (await container.aget(mod.DatabasePool)).get_pool()
        conn = await pool.acquire()
        rows = await conn.execute("SELECT id FROM users ORDER BY id")
        pool.release(conn)
        cache = (await container.aget(mod.CacheClient)).get_client()
        await cache.set("ids", rows)
        assert await cache.get("ids") == [{"id": 1}, {"id": 2}, {"id": 3}]
        assert page_env.db_live == 2
        assert await kv_server.await_connections(1) == 1
    assert pool.closed and cache.closed
    assert_db_all_closed(page_env)
    assert await kv_server.await_connections(0) == 0


# --- Resource decorator pattern -----------------------------------------------------------------


async def test_page_managed_resource_as_written_breaks_construction(page):
    mod = page("decorator-verbatim")
    assert mod.RedisClient._is_injectq_resource is True
    # the page's un-awaited coroutine warns when collected, after the TypeError
    with pytest.warns(RuntimeWarning, match="never awaited"):  # noqa: PT031
        with pytest.raises(TypeError, match="should return None"):
            mod.RedisClient(mod.RedisConfig())
        gc.collect()


async def test_use_redis_corrected_with_library_managed_resource(page, kv_server):
    mod = page("decorator-verbatim", "decorator-corrected")
    assert mod.managed_resource is injectq.managed_resource
    assert await mod.use_redis(InjectQ()) == "value"
    assert kv_server.data == {"key": "value"}
    assert await kv_server.await_connections(0) == 0  # disconnect() ran at the scope's exit
    assert kv_server.stats()["total_connections"] == 1


# --- Resource pool pattern ------------------------------------------------------------------------


def test_generic_pool_as_written_does_not_compile():
    with pytest.raises(SyntaxError, match="async with"):
        compile(EXAMPLES["generic-pool-verbatim"], "generic-pool-verbatim", "exec")


async def test_use_pooled_resources_corrected(page, page_env, capsys):
    mod = page("pool-verbatim", "generic-pool-corrected")
    assert await mod.use_pooled_resources(InjectQ()) == user_rows()
    assert page_env.db_opened == 5
    assert_db_all_closed(page_env)  # the bound pool was disposed with the scope
    assert capsys.readouterr().out.count("Resource pool initialized with 5 resources") == 1


# --- Best practices -------------------------------------------------------------------------------


async def test_good_cleanup_handle_request(page, page_env, kv_server):
    mod = page("basic-verbatim", "good-cleanup-verbatim")
    container = InjectQ()
    container.bind(mod.DatabaseConnection, mod.DatabaseConnection(mod.DatabaseConfig()))
    expected = [{"id": i, "name": n} for i, n, _ in page_helpers.USERS]
    assert await mod.handle_request(container) == expected
    assert json.loads(kv_server.data["users"]) == expected
    assert_db_all_closed(page_env)
    assert page_env.events.count("CacheClient.dispose") == 1
    assert await kv_server.await_connections(0) == 0


def test_good_cleanup_process_sync(page, page_env):
    mod = page("basic-verbatim", "good-cleanup-verbatim")
    assert mod.process_sync(InjectQ()) == "processed"
    assert page_env.events == ["Service.initialize", "Service.dispose"]


async def test_error_handling_and_fallback(page, page_env, capsys):
    mod = page("good-errors-verbatim", "good-errors-primary")
    container = InjectQ()

    assert await mod.use_resource_with_fallback(container) == "primary result"
    assert page_env.unreliable_cleaned == 1  # disposed at the scope's exit

    page_env.unreliable_failures = 1
    assert await mod.use_resource_with_fallback(container) == "fallback result"
    out = capsys.readouterr().out
    assert "Failed to initialize resource: unreliable backend refused the connection" in out
    assert page_env.events == ["FallbackResource.initialize", "FallbackResource.dispose"]
    assert page_env.unreliable_cleaned == 1  # the failed one was never disposed

    # the next access tries again
    assert await mod.use_resource_with_fallback(container) == "primary result"
    assert (page_env.unreliable_created, page_env.unreliable_cleaned) == (2, 2)


async def test_initialization_error_is_not_wrapped_twice(page, page_env):
    mod = page("good-errors-verbatim", "good-errors-primary")
    page_env.unreliable_failures = 1
    container = InjectQ()
    async with container.resource_scope():
        with pytest.raises(ResourceInitializationError) as info:
            await container.aget(mod.PrimaryResource)
    assert str(info.value) == ("Resource init failed: unreliable backend refused the connection"), (
        "the page's own ResourceInitializationError should come through unchanged"
    )


async def test_monitored_pool_as_written_lacks_acquire(page):
    mod = page("good-monitoring-verbatim")
    container = InjectQ()
    async with container.resource_scope():
        pool = await container.aget(mod.MonitoredDatabasePool)
        assert hasattr(pool, "start_time")  # initialize() ran
        with pytest.raises(AttributeError, match="_acquire"):
            await pool.acquire_connection()


async def test_monitored_pool_corrected(page, page_env):
    mod = page("good-monitoring-verbatim", "good-monitoring-corrected")
    container = InjectQ()
    async with container.resource_scope():
        pool = await container.aget(mod.MonitoredDatabasePool)
        conns = [await pool.acquire_connection() for _ in range(3)]
        metrics = pool.get_metrics()
    assert metrics["active_connections"] == 3
    assert metrics["total_created"] == 3
    assert 0 <= metrics["avg_connection_time"] <= metrics["max_connection_time"]
    assert page_env.db_live == 3  # the page's pool has no dispose(): closing is on us
    for conn in conns:
        assert await conn.execute("SELECT 1 AS one") == [{"one": 1}]
        await conn.close()
    assert_db_all_closed(page_env)


# --- Anti-patterns ---------------------------------------------------------------------------------


async def test_bad_resource_handling_as_written(page, page_env, capsys):
    mod = page("basic-verbatim", "bad-manual-verbatim")
    container = InjectQ()
    db = mod.DatabaseConnection(mod.DatabaseConfig())
    container.bind(mod.DatabaseConnection, db)
    with pytest.raises(AttributeError, match="query"):
        await mod.bad_resource_handling(container)
    assert db.is_initialized is False  # the finally disposed it
    await container.aclose()
    assert capsys.readouterr().out.count("Database connection disposed") == 1
    assert page_env.db_opened == 1
    assert_db_all_closed(page_env)


async def test_bad_resource_handling_corrected_is_exactly_once(page, page_env, capsys):
    mod = page("basic-verbatim", "bad-manual-verbatim", "bad-manual-corrected")
    container = InjectQ()
    container.bind(mod.DatabaseConnection, mod.DatabaseConnection(mod.DatabaseConfig()))
    assert await mod.bad_resource_handling(container) == user_rows()
    await container.aclose()  # the manual dispose() was the activation's one disposal
    out = capsys.readouterr().out
    assert out.count("Database connection initialized") == 1
    assert out.count("Database connection disposed") == 1
    assert page_env.db_opened == 1
    assert_db_all_closed(page_env)


def test_leaky_function(page, page_env, caplog):
    mod = page("basic-verbatim", "bad-manual-verbatim")
    container = InjectQ()
    with caplog.at_level(logging.WARNING, logger="injectq"):
        assert mod.leaky_function(container) == "did something"
    assert page_env.events == ["SomeResource.initialize"]  # still live: leaked ...
    live = container.get_all_resources()
    assert any(isinstance(r, mod.SomeResource) for r in live.values())
    assert any(
        r.levelno == logging.WARNING and "SomeResource" in r.getMessage() for r in caplog.records
    ), "injectq should warn about a transient resource resolved outside any scope"
    container.close()  # ... until the container is closed
    assert page_env.events == ["SomeResource.initialize", "SomeResource.dispose"]


async def test_unlimited_pool_leaks(page, page_env):
    mod = page("bad-exhaustion-verbatim")
    container = InjectQ()
    async with container.resource_scope():
        pool = await container.aget(mod.UnlimitedPool)
        conns = [await pool.acquire_connection() for _ in range(4)]
    assert page_env.db_live == 4 and page_env.db_fds() >= 4  # nothing closed them
    for conn in conns:
        await conn.close()
    assert_db_all_closed(page_env)


async def test_long_running_resource_hits_the_init_timeout(page):
    mod = page("bad-exhaustion-verbatim")
    container = InjectQ(default_init_timeout=0.05)
    async with container.resource_scope():
        with pytest.raises(ResourceInitializationError) as info:
            await container.aget(mod.LongRunningResource)
    assert isinstance(info.value.__cause__, ResourceTimeoutError)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_dispose_errors_as_written(page, caplog):
    mod = page("bad-errors-verbatim")
    container = InjectQ()
    with pytest.raises(ResourceDisposalError) as info:
        async with container.resource_scope():
            await container.aget(mod.BadDisposeResource)
            await container.aget(mod.IgnoringErrorsResource)
    # both dispose() hit the missing self.resource; one re-raises, one swallows
    assert [type(e) for e in info.value.exceptions] == [AttributeError]
    assert any("BadDisposeResource" in note for note in info.value.exceptions[0].__notes__)


async def test_dispose_errors_corrected(page, caplog):
    mod = page("bad-errors-verbatim", "bad-errors-corrected")
    container = InjectQ()
    with caplog.at_level(logging.ERROR, logger="injectq.resources"):
        with pytest.raises(ResourceDisposalError) as info:
            async with container.resource_scope():
                await container.aget(mod.IgnoringErrorsResource)
                await container.aget(mod.BadDisposeResource)
    (error,) = info.value.exceptions
    assert str(error) == "Dispose failed!"
    assert any("BadDisposeResource" in note for note in error.__notes__)
    assert any(r.exc_info for r in caplog.records if r.name.startswith("injectq"))

    # when the body raised, its exception propagates with the disposal failure as a note
    with pytest.raises(LookupError) as body:
        async with container.resource_scope():
            await container.aget(mod.BadDisposeResource)
            raise LookupError("body failed")
    assert str(body.value) == "body failed"
    assert any("Dispose failed!" in note for note in body.value.__notes__)

    # IgnoringErrorsResource alone exits cleanly although its close() never happened
    async with container.resource_scope():
        await container.aget(mod.IgnoringErrorsResource)


# --- Resource monitoring -----------------------------------------------------------------------------


def _field(entry: Any, name: str) -> Any:
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def _metrics_for(metrics: dict[Any, Any], cls: type) -> Any:
    for key in (cls, cls.__name__, cls.__qualname__, f"{cls.__module__}.{cls.__qualname__}"):
        if key in metrics:
            return metrics[key]
    raise AssertionError(f"no metrics for {cls.__name__}: {list(metrics)}")


async def test_resource_monitor_as_written(page):
    container = InjectQ()
    mod = page("monitor-verbatim", container=container)
    container.bind(mod.ResourceMonitor, mod.monitor)
    async with container.resource_scope():
        res = await container.aget(mod.MonitoredResource)
        assert mod.monitor.get_report()["active_resources"] == 1
    report = mod.monitor.get_report()
    assert report["resources_created"] == report["resources_disposed"] == 1
    assert report["active_resources"] == 0
    assert report["resource_errors"] == 1  # the page's missing _cleanup, caught and counted
    assert report["total_lifetimes_tracked"] == 1
    assert hasattr(res, "_creation_time")


async def test_resource_monitor_corrected_and_builtin_metrics(page):
    container = InjectQ()
    mod = page("monitor-verbatim", "monitor-corrected", container=container)
    container.bind(mod.ResourceMonitor, mod.monitor)
    for _ in range(2):
        async with container.resource_scope():
            res = await container.aget(mod.MonitoredResource)
        assert res.cleaned_up is True
    report = mod.monitor.get_report()
    assert (report["resources_created"], report["resources_disposed"]) == (2, 2)
    assert report["resource_errors"] == 0
    assert report["avg_lifetime"] >= 0
    # the built-in monitor saw the same lifecycles
    entry = _metrics_for(container.resource_metrics(), mod.MonitoredResource)
    assert _field(entry, "created") == 2
    assert _field(entry, "disposed") == 2
    assert _field(entry, "active") == 0


# --- Health checks -----------------------------------------------------------------------------------


async def health_container(mod) -> InjectQ:
    container = InjectQ()
    container.bind(mod.CacheConfig, mod.CacheConfig())
    container.bind(mod.CacheClient, mod.CacheClient)  # singletons: live in the container
    container.bind(mod.SomeResource, mod.SomeResource)
    await container.aget(mod.CacheClient)
    await container.aget(mod.SomeResource)
    return container


async def test_health_check_as_written_top_level_await(page, kv_server, capsys):
    mod = page()
    container = await health_container(mod)
    mod.container = container
    await page.run_top_level_await(mod, "health-verbatim")
    assert mod.health_status == {
        "CacheClient": {"status": "healthy"},
        "SomeResource": {"status": "unknown", "message": "No health check available"},
    }
    out = capsys.readouterr().out
    assert lines_starting(out, "Resource ") == [
        (
            "Resource SomeResource is unhealthy: "
            "{'status': 'unknown', 'message': 'No health check available'}"
        )
    ]
    await container.aclose()
    assert await kv_server.await_connections(0) == 0


async def test_health_check_corrected_sees_a_dead_server(page, kv_server, capsys):
    mod = page()
    container = await health_container(mod)
    mod.container = container
    await page.run_top_level_await(mod, "health-verbatim")
    page.run(mod, "health-corrected")
    capsys.readouterr()
    kv_server.drop_connections()
    status = await mod.report_health(container)
    assert status["CacheClient"]["status"] == "error"
    assert status["CacheClient"]["error"]
    assert "Resource CacheClient is unhealthy" in capsys.readouterr().out
    await container.aclose()


async def test_builtin_health_checker(page, kv_server):
    mod = page("lib-health")
    container = await health_container(mod)
    report = await mod.health_report(container)
    assert report["CacheClient"]["status"] == "healthy"
    assert report["SomeResource"]["status"] == "unknown"
    for entry in report.values():
        assert set(entry) >= {"status", "latency_ms", "error", "details"}
    kv_server.drop_connections()
    report = await mod.health_report(container)
    assert report["CacheClient"]["status"] == "error"
    assert report["CacheClient"]["error"]
    await container.aclose()
    assert await kv_server.await_connections(0) == 0
