"""The opt-in pytest plugin ``injectq.testing.pytest_plugin``, run with ``pytester``."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

RESOURCES = '''
import sqlite3
from injectq import InjectQ, resource

EVENTS = []


@resource
class Conn:
    """A real SQLite connection, opened per scope and closed with it."""

    def initialize(self):
        self.conn = sqlite3.connect(":memory:")
        EVENTS.append(("open", id(self)))

    def dispose(self):
        self.conn.close()
        EVENTS.append(("close", id(self)))


@resource
class AsyncConn:
    async def initialize(self):
        EVENTS.append(("aopen", id(self)))

    async def dispose(self):
        EVENTS.append(("aclose", id(self)))


@resource
class Cache:
    """App lifetime (a singleton)."""

    def dispose(self):
        EVENTS.append(("cache closed", id(self)))


def bind(container):
    container.bind(Conn, Conn, scope="request")
    container.bind(AsyncConn, AsyncConn, scope="request")
    container.bind(Cache, Cache)
    return container


app_container = bind(InjectQ())
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(resources=RESOURCES)
    return pytester.runpytest_subprocess("-p", "injectq.testing.pytest_plugin", "-q", *args)


def test_each_test_runs_in_its_own_scope_and_its_resources_are_disposed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_scopes="""
        from injectq import Inject, inject
        from resources import EVENTS, Conn, bind

        SEEN = []

        @inject
        def use(conn: Conn = Inject[Conn]):
            return conn

        def test_one(injectq_container):
            bind(injectq_container)
            conn = injectq_container.get(Conn)
            assert use() is conn  # one per scope; @inject sees the test's container
            SEEN.append(id(conn))
            assert EVENTS[-1] == ("open", id(conn))

        def test_two(injectq_container):
            bind(injectq_container)
            SEEN.append(id(injectq_container.get(Conn)))

        def test_after():
            opened = [i for e, i in EVENTS if e == "open"]
            closed = [i for e, i in EVENTS if e == "close"]
            assert opened == closed == SEEN and len(set(SEEN)) == 2
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_overrides_do_not_leak_into_the_next_test(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ninjectq_container = resources:app_container\n")
    pytester.makepyfile(
        test_overrides="""
        def test_overrides(injectq_container, injectq_override):
            injectq_override("greeting", "hi from the test")
            assert injectq_container.get("greeting") == "hi from the test"

        def test_next(injectq_container):
            assert not injectq_container.has("greeting")
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_the_ini_option_names_the_apps_container(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ninjectq_container = resources:app_container\n")
    pytester.makepyfile(
        test_app="""
        import resources

        def test_is_the_app_container(injectq_container):
            assert injectq_container is resources.app_container
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_bad_ini_value_says_how_to_write_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ninjectq_container = resources\n")
    pytester.makepyfile(test_bad="def test_x(injectq_container):\n    pass\n")
    result = run(pytester)
    result.stdout.fnmatch_lines(["*pkg.module:attribute*"])
    assert result.ret != 0


def test_a_test_leaving_live_resources_fails_naming_them(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ninjectq_container = resources:app_container\n")
    pytester.makepyfile(
        test_leak="""
        from resources import Cache, Conn

        def test_starts_a_singleton(injectq_container):
            injectq_container.get(Cache)  # app lifetime: still live after the test

        def test_only_scoped(injectq_container):
            injectq_container.get(Conn)  # disposed with the test's scope: no leak
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_starts_a_singleton left live resources behind: Cache*"])


def test_async_tests_with_pytest_asyncio_and_anyio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_async="""
        import pytest
        from resources import EVENTS, AsyncConn, bind

        @pytest.mark.asyncio
        async def test_asyncio(injectq_container):
            bind(injectq_container)
            conn = await injectq_container.aget(AsyncConn)
            assert EVENTS[-1] == ("aopen", id(conn))

        @pytest.mark.anyio
        async def test_anyio(injectq_container):
            bind(injectq_container)
            await injectq_container.aget(AsyncConn)

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def test_after():
            kinds = [e for e, _ in EVENTS]
            assert kinds == ["aopen", "aclose", "aopen", "aclose"], EVENTS
        """
    )
    run(pytester, "-p", "anyio").assert_outcomes(passed=3)
