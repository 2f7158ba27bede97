"""Core: the exception hierarchy, error messages naming the resolution path,
validate() and get_dependency_graph() (issue 2)."""

import pytest

import injectq
from injectq import (
    AlreadyRegisteredError,
    BindingError,
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQ,
    InjectQError,
    ResourceDisposalError,
    ResourceError,
    ResourceExhaustedError,
    ResourceInitializationError,
    ResourceTimeoutError,
    ScopeError,
    inject,
)
from injectq.diagnostics import DependencyValidator, ValidationError


class Db:
    def __init__(self, url: str) -> None:
        self.url = url


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class Loop1:
    def __init__(self, other: "Loop2") -> None:
        pass


class Loop2:
    def __init__(self, other: Loop1) -> None:
        pass


def test_hierarchy() -> None:
    for exc in (
        DependencyNotFoundError,
        CircularDependencyError,
        BindingError,
        InjectionError,
        ScopeError,
        AlreadyRegisteredError,
        ResourceError,
        ResourceInitializationError,
        ResourceDisposalError,
        ResourceExhaustedError,
        ResourceTimeoutError,
    ):
        assert issubclass(exc, InjectQError), exc
    assert issubclass(AlreadyRegisteredError, BindingError)
    for exc in (
        ResourceInitializationError,
        ResourceDisposalError,
        ResourceExhaustedError,
        ResourceTimeoutError,
    ):
        assert issubclass(exc, ResourceError)
    assert issubclass(ResourceTimeoutError, TimeoutError)
    assert issubclass(ResourceDisposalError, ExceptionGroup)
    assert issubclass(InjectQError, Exception)


def test_missing_leaf_names_the_whole_path() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError) as info:
        c.get(Service)
    message = str(info.value)
    assert "Service -> Repo -> Db(url: str)" in message
    assert "container['url']" in message  # and says how to fix it
    assert info.value.path == ("Service", "Repo", "Db(url: str)")


async def test_missing_leaf_names_the_whole_path_async() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError, match="Service -> Repo -> Db\\(url: str\\)"):
        await c.aget(Service)


def test_missing_bound_interface_names_the_path() -> None:
    import abc

    class Port(abc.ABC):
        @abc.abstractmethod
        def go(self) -> None: ...

    class UsesPort:
        def __init__(self, port: Port) -> None:
            self.port = port

    class Top:
        def __init__(self, user: UsesPort) -> None:
            self.user = user

    c = InjectQ()
    with pytest.raises(DependencyNotFoundError) as info:
        c.get(Top)
    assert "Top -> UsesPort(port: Port)" in str(info.value)
    assert "<locals>" not in str(info.value)
    assert info.value.path == ("Top", "UsesPort(port: Port)")


def test_missing_string_key() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError, match="'nothing'") as info:
        c.get("nothing")
    assert info.value.key == "nothing"


def test_inject_error_names_the_function() -> None:
    c = InjectQ()

    @inject(container=c)
    def handler(service: Service) -> None:
        pass

    with pytest.raises(DependencyNotFoundError, match="Service -> Repo -> Db\\(url: str\\)"):
        handler()


def test_cycle_message_names_the_path() -> None:
    c = InjectQ()
    with pytest.raises(CircularDependencyError, match="Loop1 -> Loop2 -> Loop1"):
        c.get(Loop1)


def test_cycle_below_the_root_names_only_the_cycle() -> None:
    class Top:
        def __init__(self, loop: Loop2) -> None:
            pass

    c = InjectQ()
    with pytest.raises(CircularDependencyError) as info:
        c.get(Top)
    assert info.value.path == ("Loop2", "Loop1", "Loop2")


def test_scope_error_says_which_scope() -> None:
    c = InjectQ()
    c.bind(Db, lambda: Db("x"), scope="request")
    with pytest.raises(ScopeError, match="'request'"):
        c.get(Db)


def test_failed_resolution_leaves_container_usable() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError):
        c.get(Service)
    c["url"] = "now"
    assert c.get(Service).repo.db.url == "now"


def test_constructor_exception_propagates_unchanged() -> None:
    class Boom:
        def __init__(self) -> None:
            raise ValueError("inside constructor")

    c = InjectQ()
    with pytest.raises(ValueError, match="inside constructor"):
        c.get(Boom)


# ------------------------------------------------- validate / graph
def test_validate_passes_on_good_graph() -> None:
    c = InjectQ()
    c["url"] = "u"
    c.bind(Service, Service)
    c.validate()


def test_validate_finds_missing_dependency_without_building() -> None:
    built = []

    class Tracked:
        def __init__(self, db: Db) -> None:
            built.append(self)

    c = InjectQ()
    c.bind(Tracked, Tracked)
    with pytest.raises(ValidationError, match="Tracked -> Db\\(url: str\\)") as caught:
        c.validate()
    assert [p.kind for p in caught.value.problems] == ["missing"]
    assert built == []


def test_validate_finds_cycles() -> None:
    c = InjectQ()
    c.bind(Loop1, Loop1)
    with pytest.raises(ValidationError) as caught:
        c.validate()
    assert [p.kind for p in caught.value.problems] == ["cycle"]


def test_dependency_validator_collects_all_errors() -> None:
    c = InjectQ()
    c.bind(Loop1, Loop1)
    c.bind(Service, Service)
    result = DependencyValidator(c).validate()
    assert not result.is_valid
    kinds = {e.kind for e in result.errors}  # type: ignore[attr-defined]
    assert kinds == {"cycle", "missing"}
    c2 = InjectQ()
    assert DependencyValidator(c2).validate().is_valid


def test_get_dependency_graph() -> None:
    c = InjectQ()
    c["url"] = "u"
    c.bind(Service, Service)
    c.bind(Repo, Repo)
    graph = c.get_dependency_graph()
    assert graph[Service] == [Repo]
    assert graph[Repo] == [Db]
    assert graph["url"] == []


def test_package_exports_every_error() -> None:
    for name in (
        "InjectQError",
        "DependencyNotFoundError",
        "CircularDependencyError",
        "BindingError",
        "InjectionError",
        "ScopeError",
        "AlreadyRegisteredError",
        "ResourceInitializationError",
        "ResourceDisposalError",
        "ResourceExhaustedError",
        "ResourceTimeoutError",
    ):
        assert name in injectq.__all__
        assert getattr(injectq, name) is getattr(injectq.utils.exceptions, name)
