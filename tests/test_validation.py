"""container.validate() (issue 14): every problem at once, each with kind, key, path and
a fix; nothing is constructed, no factory or initialize() runs."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from injectq import InjectQ, InjectQError, inject, resource, scoped
from injectq.diagnostics import DependencyValidator, ValidationError

ran: list[str] = []


class Exploding:
    """Every class here raises if constructed: validation must never build one."""

    def __init__(self) -> None:
        ran.append(type(self).__name__)
        raise RuntimeError(f"{type(self).__name__} was constructed")


class Settings(Exploding):
    def __init__(self, url: str) -> None:
        super().__init__()


class Repo(Exploding):
    def __init__(self, settings: Settings) -> None:
        super().__init__()


class Ping(Exploding):
    def __init__(self, pong: "Pong") -> None:
        super().__init__()


class Pong(Exploding):
    def __init__(self, ping: Ping) -> None:
        super().__init__()


@scoped("request")
class Session(Exploding):
    def __init__(self) -> None:
        super().__init__()


@scoped("action")
class Step(Exploding):
    def __init__(self) -> None:
        super().__init__()


class Wrapper(Exploding):  # transient plain: lives as long as what holds it
    def __init__(self, session: Session) -> None:
        super().__init__()


class Cache(Exploding):  # bound singleton holding a request-scoped key through Wrapper
    def __init__(self, wrapper: Wrapper) -> None:
        super().__init__()


class PerRequest(Exploding):
    def __init__(self, step: Step) -> None:
        super().__init__()


@resource
class AsyncConn:
    def __init__(self) -> None:
        ran.append("AsyncConn")
        raise RuntimeError("AsyncConn was constructed")

    async def initialize(self) -> None:
        ran.append("AsyncConn.initialize")


@resource
class SyncPool:
    def __init__(self, conn: AsyncConn) -> None:
        ran.append("SyncPool")
        raise RuntimeError("SyncPool was constructed")

    def initialize(self) -> None:
        ran.append("SyncPool.initialize")


def factory_that_runs(settings: Settings) -> str:
    ran.append("factory")
    raise RuntimeError("factory ran")


def broken_container() -> InjectQ:
    c = InjectQ()
    c.bind(Repo)  # Settings(url: str): missing
    c.bind("report", factory_that_runs)  # same missing, reached again: reported once
    c.bind(Ping)  # cycle
    c.bind(Cache)  # captive through a transient
    c.bind(PerRequest, PerRequest, scope="request")  # request holding action
    c.bind(AsyncConn, AsyncConn, scope="transient")
    c.bind(SyncPool)  # singleton holding a transient resource, and async_only
    return c


def by_kind(problems: list[Any]) -> dict[str, list[Any]]:  # kind -> its problems
    found: dict[str, list[Any]] = {}
    for problem in problems:
        found.setdefault(problem.kind, []).append(problem)
    return found


def test_validate_lists_every_problem_with_path_and_fix_and_builds_nothing() -> None:
    ran.clear()
    c = broken_container()
    with pytest.raises(ValidationError) as caught:
        c.validate()
    error = caught.value
    assert isinstance(error, InjectQError)
    kinds = by_kind(error.problems)
    assert sorted(kinds) == ["async_only", "captive", "cycle", "missing"]

    (missing,) = kinds["missing"]
    assert missing.key is str
    assert missing.path == ("Repo", "Settings(url: str)")  # names the parameter
    assert "container['url'] = ..." in missing.message

    (cycle,) = kinds["cycle"]
    assert cycle.path == ("Ping", "Pong", "Ping")
    assert "Ping -> Pong -> Ping" in cycle.message and "Break it" in cycle.message

    captive = {p.key: p for p in kinds["captive"]}
    assert set(captive) == {Session, Step, AsyncConn}
    assert captive[Session].path == ("Cache", "Wrapper", "Session")
    assert "Singleton Cache holds Session (request-scoped)" in captive[Session].message
    assert "make Cache 'request'" in captive[Session].message
    assert "Request PerRequest holds Step (action-scoped)" in captive[Step].message
    assert "SyncPool holds AsyncConn (a transient resource)" in captive[AsyncConn].message

    (async_only,) = kinds["async_only"]
    assert async_only.severity == "warning"
    assert async_only.path == ("SyncPool(conn)", "AsyncConn")
    assert "async initialize()" in async_only.message
    assert "resolve SyncPool with `await container.aget(SyncPool)`" in async_only.message
    assert all(p.severity == "error" for p in error.problems if p.kind != "async_only")
    assert "[cycle]" in str(error) and "[captive]" in str(error)
    assert ran == []  # no constructor, factory or initialize() ran


def test_validator_result_is_built_from_the_same_walk() -> None:
    ran.clear()
    c = broken_container()
    result = DependencyValidator(c).validate()
    with pytest.raises(ValidationError) as caught:
        c.validate()
    assert [str(p) for p in result.errors + result.warnings] == [
        str(p) for p in caught.value.problems
    ]
    assert [p.kind for p in result.warnings] == ["async_only"]
    assert not result.is_valid
    assert ran == []


def test_a_sound_graph_validates_and_resolves_afterwards() -> None:
    c = InjectQ()
    c["url"] = "sqlite://"

    class Db:
        def __init__(self, url: str) -> None:
            self.url = url

    class Service:
        def __init__(self, db: Db) -> None:
            self.db = db

    c.bind(Service)
    assert c.validate() == []
    assert c.get(Service).db.url == "sqlite://"
    assert DependencyValidator(c).validate().is_valid


def test_async_only_from_a_sync_inject_function_is_a_warning_only() -> None:
    c = InjectQ()

    @resource
    class Client:
        async def initialize(self) -> None:
            ran.append("Client.initialize")

    c.bind(Client)

    @inject(container=c)
    def sync_handler(client: Client) -> Client:
        return client

    @inject(container=c)
    async def async_handler(client: Client) -> Client:  # fine: it can await
        return client

    warnings = c.validate()  # warnings do not raise
    assert [(w.kind, w.path) for w in warnings] == [
        ("async_only", ("sync_handler(client)", "Client"))
    ]
    assert "make sync_handler async" in warnings[0].message
    assert "give Client a sync one" in warnings[0].message
    other = InjectQ()
    other.bind(Client)
    assert other.validate() == []  # the function names another container


def test_optional_and_defaulted_dependencies_are_not_missing() -> None:
    class Needs:
        def __init__(self, url: str) -> None: ...

    class Uses:
        def __init__(self, needs: Needs | None = None, retries: int = 3) -> None: ...

    c = InjectQ()
    c.bind(Uses)
    assert c.validate() == []


def test_unbound_abstract_key_is_missing_with_its_fix() -> None:
    import abc

    class Port(abc.ABC):
        @abc.abstractmethod
        def send(self) -> None: ...

    class Sender:
        def __init__(self, port: Port) -> None: ...

    c = InjectQ()
    c.bind(Sender)
    with pytest.raises(ValidationError) as caught:
        c.validate()
    (problem,) = caught.value.problems
    assert (problem.kind, problem.key, problem.path) == ("missing", Port, ("Sender(port: Port)",))
    assert "bind Port with container.bind(Port, ...)" in str(problem)


def test_injectq_validate_true_checks_the_modules_bindings() -> None:
    from injectq import SimpleModule

    with pytest.raises(ValidationError):
        InjectQ([SimpleModule().bind(Ping, Ping)], validate=True)
    assert InjectQ(validate=True).validate() == []


def test_start_validates_before_starting_anything() -> None:
    ran.clear()

    @resource
    class Starts:
        def __init__(self, missing: Settings) -> None: ...

        def initialize(self) -> None:
            ran.append("Starts.initialize")

    c = InjectQ()
    c.bind(Starts)
    with pytest.raises(ValidationError):
        asyncio.run(c.start())
    with pytest.raises(ValidationError):
        c.start_sync()
    assert ran == []


def test_generator_resources_are_resources_and_async_ones_need_aget() -> None:
    @resource()
    async def connection() -> AsyncIterator[str]:
        ran.append("connection")
        yield "conn"

    class UsesConn:
        def __init__(self, conn: str) -> None: ...

    c = InjectQ()
    c.bind("conn", connection, scope="transient")
    c.bind(UsesConn)
    with pytest.raises(ValidationError) as caught:
        c.validate()
    (problem,) = caught.value.problems
    assert problem.kind == "captive" and "a transient resource" in problem.message
    graph = c.visualize_dependencies().to_json()
    conn = next(n for n in graph["nodes"] if n["id"] == "'conn'")
    assert conn["resource"] is True and conn["problems"] == ["captive"]


def test_a_type_hint_that_names_nothing_is_a_problem_not_a_crash() -> None:
    class Broken:
        def __init__(self, thing: "NoSuchThing") -> None:  # type: ignore[name-defined]  # noqa: F821
            ...

    c = InjectQ()
    c.bind(Broken)
    c.bind(Ping)
    with pytest.raises(ValidationError) as caught:
        c.validate()
    assert sorted(p.kind for p in caught.value.problems) == ["cycle", "signature"]
    assert "NoSuchThing" in str(caught.value.problems[0])


def test_a_singleton_holding_a_custom_scoped_binding_is_captive() -> None:
    class Tenant:
        pass

    class Billing:
        def __init__(self, tenant: Tenant) -> None: ...

    c = InjectQ()
    c.bind(Tenant, Tenant, scope="tenant")
    c.bind(Billing)
    with pytest.raises(ValidationError) as caught:
        c.validate()
    (problem,) = caught.value.problems
    assert (problem.kind, problem.key, problem.path) == ("captive", Tenant, ("Billing", "Tenant"))
    assert "Singleton Billing holds Tenant (tenant-scoped)" in problem.message
    c.bind(Billing, Billing, scope="tenant")  # the fix the message names
    assert c.validate() == []
