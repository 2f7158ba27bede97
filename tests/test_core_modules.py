"""Core: modules (issue 2)."""

import pytest

from injectq import (
    BindingError,
    ConfigurationModule,
    InjectQ,
    Module,
    ProviderModule,
    SimpleModule,
    provider,
)


class Db:
    def __init__(self, url: str) -> None:
        self.url = url


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Port:
    pass


class Adapter(Port):
    pass


class AppModule(Module):
    def configure(self, binder: InjectQ) -> None:
        binder.bind_instance("url", "sqlite://")
        binder.bind(Db, Db)
        binder.bind(Port, Adapter, scope="transient")


def test_module_configure_and_install_module() -> None:
    c = InjectQ()
    c.install_module(AppModule())
    assert c.get(Db).url == "sqlite://"
    assert c.get(Db) is c.get(Db)
    assert isinstance(c.get(Port), Adapter) and c.get(Port) is not c.get(Port)


def test_modules_given_to_constructor() -> None:
    c = InjectQ(modules=[AppModule(), SimpleModule().bind_instance("extra", 1)])
    assert c.get(Repo).db.url == "sqlite://"
    assert c.get("extra") == 1


def test_module_is_abstract() -> None:
    with pytest.raises(TypeError):
        Module()  # type: ignore[abstract]


def test_simple_module_fluent() -> None:
    def make_db(url: str) -> Db:
        return Db(url.upper())

    module = (
        SimpleModule()
        .bind_instance("url", "mem")
        .bind_factory(Db, make_db)
        .bind(Port, Adapter)
        .bind(Repo, Repo, scope="transient")
    )
    c = InjectQ(modules=[module])
    assert c.get(Db).url == "MEM"
    assert c.get(Db) is not c.get(Db)  # bind_factory: transient
    assert c.get(Port) is c.get(Port)  # bind: singleton
    assert c.get(Repo) is not c.get(Repo)


class Providers(ProviderModule):
    def __init__(self, url: str) -> None:
        self.url = url
        self.made = 0

    @provider
    def db(self) -> Db:
        self.made += 1
        return Db(self.url)

    @provider(scope="singleton")
    def repo(self, db: Db) -> Repo:
        return Repo(db)

    def not_a_provider(self) -> Port:
        return Port()


def test_provider_module() -> None:
    module = Providers("prov://")
    c = InjectQ(modules=[module])
    assert c.get(Db).url == "prov://"
    assert c.get(Db) is not c.get(Db)  # @provider is transient by default
    assert c.get(Repo) is c.get(Repo)
    assert c.get(Repo).db.url == "prov://"
    assert not isinstance(c.get(Port), Adapter)  # plain methods are not bound
    assert Port not in c.bindings


def test_provider_without_return_annotation_is_binding_error() -> None:
    class Bad(ProviderModule):
        @provider
        def thing(self):  # type: ignore[no-untyped-def]
            return 1

    c = InjectQ()
    with pytest.raises(BindingError, match="return type"):
        c.install_module(Bad())


def test_configuration_module() -> None:
    c = InjectQ(modules=[ConfigurationModule({"url": "conf://", "retries": 3, "none": None})])
    assert c.get("retries") == 3
    assert c.get("none") is None
    assert c.get(Repo).db.url == "conf://"  # string key feeds the 'url' parameter


def test_failing_module_leaves_container_unchanged() -> None:
    c = InjectQ()
    c["url"] = "before"
    before_db = c.get(Db)

    class Failing(Module):
        def configure(self, binder: InjectQ) -> None:
            binder.bind_instance("url", "during")
            binder.bind_instance("new_key", 1)
            binder.bind(Port, Adapter)
            raise RuntimeError("module broke")

    bindings_before = dict(c.bindings)
    with pytest.raises(RuntimeError, match="module broke"):
        c.install_module(Failing())
    assert c.bindings == bindings_before
    assert "new_key" not in c
    assert c.get("url") == "before"
    assert Port not in c.bindings
    assert c.get(Db).url == "before"
    assert before_db.url == "before"


def test_failing_module_does_not_rebuild_untouched_singletons() -> None:
    c = InjectQ()
    c["url"] = "u"
    c.bind(Db, Db)
    db = c.get(Db)

    class Failing(Module):
        def configure(self, binder: InjectQ) -> None:
            binder.bind_instance("other", 1)
            binder.bind(Db, Db, scope="transient")  # rebinds the built singleton
            binder.bind_instance("url", "changed")
            raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        c.install_module(Failing())
    assert c.get(Db) is db


def test_failing_module_in_constructor_raises() -> None:
    class Failing(Module):
        def configure(self, binder: InjectQ) -> None:
            raise RuntimeError("ctor")

    with pytest.raises(RuntimeError, match="ctor"):
        InjectQ(modules=[Failing()])
