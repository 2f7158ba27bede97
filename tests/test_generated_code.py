"""Generated resolvers read and debug like written code: each has a filename naming its
key, its source is in ``linecache`` (tracebacks show the generated line,
``inspect.getsource`` returns it) for as long as it lives, and no longer."""

import asyncio
import gc
import inspect
import linecache
import traceback
from types import TracebackType

import pytest

from injectq import InjectQ, resource


class Db:
    def __init__(self) -> None:
        raise RuntimeError("database is down")


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


def _generated_frames(tb: TracebackType | None) -> list[str]:
    names = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith("<injectq "):
            names.append(filename)
        tb = tb.tb_next
    return names


def _failure(c: InjectQ, scope: str | None) -> BaseException:
    with pytest.raises(RuntimeError, match="database is down") as info:
        if scope is None:
            c.get(Service)
        else:
            with c.scope(scope):
                c.get(Service)
    return info.value


@pytest.mark.parametrize(
    ("lifetime", "generated_line"),
    [("transient", "return Service(Repo(Db()))"), ("request", "db = Db()")],
)
def test_a_constructor_failing_two_levels_deep_shows_the_generated_line(
    lifetime: str, generated_line: str
) -> None:
    c = InjectQ()
    for cls in (Db, Repo, Service):
        c.bind(cls, cls, scope=lifetime)
    error = _failure(c, None if lifetime == "transient" else "request")
    formatted = "".join(traceback.format_exception(error))
    print(formatted)  # noqa: T201  (pytest -s shows what a user sees)
    [filename] = _generated_frames(error.__traceback__)
    assert filename.startswith("<injectq resolver Service #")
    assert f'File "{filename}", line ' in formatted
    assert "in resolve_Service" in formatted
    assert generated_line in formatted
    # the user's own frame follows the generated one
    assert formatted.index(generated_line) < formatted.index('raise RuntimeError("database')


def test_an_async_resolver_failing_shows_its_generated_line() -> None:
    @resource
    class Conn:
        async def initialize(self) -> None:
            pass

        async def dispose(self) -> None:
            pass

    class Handler:
        def __init__(self, conn: Conn, repo: Repo) -> None:
            self.conn, self.repo = conn, repo

    c = InjectQ()
    for cls in (Db, Repo, Handler, Conn):
        c.bind(cls, cls, scope="transient")

    async def main() -> None:
        async with c.scope("request"):
            await c.aget(Handler)

    with pytest.raises(RuntimeError) as info:
        asyncio.run(main())
    formatted = "".join(traceback.format_exception(info.value))
    [filename] = _generated_frames(info.value.__traceback__)
    assert filename.startswith("<injectq async resolver Handler #")
    assert "Repo(Db())" in formatted


def test_the_source_of_a_generated_function_is_readable() -> None:
    c = InjectQ()
    for cls in (Db, Repo, Service):
        c.bind(cls, cls, scope="request")
    error = _failure(c, "request")
    tb = error.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<injectq"):
        tb = tb.tb_next
    assert tb is not None
    source = inspect.getsource(tb.tb_frame.f_code)
    assert source.startswith("def resolve_Service():\n")
    for line in (
        "scope = get_scope()",
        "db = cache.setdefault(Db_key, claim)",
        "repo = Repo(db)",
        "service = Service(repo)",
        "return service",
    ):
        assert line in source


def test_every_generated_function_has_a_filename_of_its_own() -> None:
    errors = []
    for _ in range(2):
        c = InjectQ()
        for cls in (Db, Repo, Service):
            c.bind(cls, cls, scope="transient")
        errors.append(_failure(c, None))
    [first], [second] = (_generated_frames(e.__traceback__) for e in errors)
    assert first != second


def test_user_names_that_match_the_generated_codes_own_names_do_not_shadow_them() -> None:
    # classes named like the generated code's locals and helpers
    class scope:  # noqa: N801  (named like the generated code's locals: the point)
        pass

    class Claim:
        pass

    class cache:  # noqa: N801  (likewise)
        def __init__(self, s: scope, claim: Claim) -> None:
            self.s, self.claim = s, claim

    class type:  # noqa: A001, N801  (likewise, and shadowing the builtin too)
        def __init__(self, c: cache) -> None:
            self.c = c

    c = InjectQ()
    for cls in (scope, Claim, cache, type):
        c.bind(cls, cls, scope="request")
    with c.scope("request"):
        built = c.get(type)
        assert built is c.get(type)
        assert isinstance(built.c.s, scope)
        assert isinstance(built.c.claim, Claim)
    c.bind(type, type, scope="transient")
    c.bind(cache, cache, scope="transient")
    with c.scope("request"):
        assert isinstance(c.get(type).c.claim, Claim)


def _injectq_sources() -> int:
    return sum(1 for name in list(linecache.cache) if name.startswith("<injectq "))


def test_the_sources_of_dropped_containers_leave_linecache() -> None:
    @resource
    class Conn:
        def initialize(self) -> None:
            pass

        def dispose(self) -> None:
            pass

    class Plain:
        pass

    class Store:
        def __init__(self, plain: Plain) -> None:
            self.plain = plain

    class Handler:
        def __init__(self, conn: Conn, store: Store) -> None:
            self.conn, self.store = conn, store

    def use_one_container() -> None:
        c = InjectQ()
        c.bind(Conn, Conn, scope="request")
        c.bind(Handler, Handler, scope="request")
        c.bind(Store, Store, scope="transient")  # a transient graph, compiled too
        with c.scope("request"):
            c.get(Handler)
            c.get(Store)

    gc.collect()
    before = _injectq_sources()
    for _ in range(2000):
        use_one_container()
    gc.collect()
    # each container compiled its resolvers; none of theirs may be left
    assert _injectq_sources() - before < 10
