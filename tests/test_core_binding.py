"""Core: binding forms, resolution, autowiring (issue 2)."""

from __future__ import annotations

import abc
import dataclasses
import functools

import pytest

from injectq import (
    AlreadyRegisteredError,
    BindingError,
    DependencyNotFoundError,
    InjectQ,
)


class Db:
    def __init__(self, url: str) -> None:
        self.url = url


class Repo:
    def __init__(self, db: Db) -> None:
        self.db = db


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class NoInit:
    pass


class Inherits(Repo):
    pass  # no own __init__: uses Repo's signature


class Base(abc.ABC):
    @abc.abstractmethod
    def run(self) -> str: ...


class Impl(Base):
    def run(self) -> str:
        return "impl"


# ---------------------------------------------------------------- bind forms
def test_bind_class_to_itself_is_singleton_by_default() -> None:
    c = InjectQ()
    c["url"] = "sqlite://"
    c.bind(Db)
    assert c.get(Db) is c.get(Db)
    assert c.get(Db).url == "sqlite://"


def test_bind_interface_to_implementation() -> None:
    c = InjectQ()
    c.bind(Base, Impl)
    assert isinstance(c.get(Base), Impl)
    assert c.get(Base).run() == "impl"


def test_bind_with_to_keyword() -> None:
    c = InjectQ()
    c.bind(Base, to=Impl)
    assert isinstance(c.get(Base), Impl)


def test_abstract_class_bound_to_itself_is_binding_error_at_bind_time() -> None:
    c = InjectQ()
    with pytest.raises(BindingError, match="abstract"):
        c.bind(Base)
    with pytest.raises(BindingError):
        c.bind(Base, Base)
    assert Base not in c._bindings  # nothing half-registered


def test_unbound_abstract_class_is_not_found() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError, match="abstract"):
        c.get(Base)


def test_bind_instance_returns_the_object_itself() -> None:
    c = InjectQ()
    db = Db("x")
    c.bind_instance(Db, db)
    assert c.get(Db) is db


def test_bind_instance_of_a_callable_is_not_called() -> None:
    c = InjectQ()

    def handler() -> str:
        return "called"

    c.bind_instance("handler", handler)
    assert c.get("handler") is handler


def test_bind_instance_none_needs_allow_none() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.bind_instance("nothing", None)
    c.bind_instance("nothing", None, allow_none=True)
    assert c.get("nothing") is None
    c["also_nothing"] = None
    assert c.get("also_nothing") is None


def test_dict_form_instance_and_string_keys() -> None:
    c = InjectQ()
    c["url"] = "postgres://"
    c[Db] = Db("direct")
    assert c["url"] == "postgres://"
    assert c[Db].url == "direct"
    assert c.get("url") == "postgres://"


def test_dict_form_class_is_autowired() -> None:
    c = InjectQ()
    c["url"] = "u"
    c[Db] = Db
    assert isinstance(c[Db], Db)
    assert c[Db].url == "u"


def test_del_and_in() -> None:
    c = InjectQ()
    c["k"] = 1
    assert "k" in c
    del c["k"]
    assert "k" not in c
    with pytest.raises(DependencyNotFoundError):
        c.get("k")
    with pytest.raises(DependencyNotFoundError):
        del c["k"]


def test_rebinding_replaces_and_drops_built_singleton() -> None:
    c = InjectQ()
    c["url"] = "one"
    first = c.get(Db)
    c.bind(Db, Db, scope="singleton")
    c["url"] = "two"
    second = c.get(Db)
    assert second is not first
    assert second.url == "two"


def test_allow_override_false_raises_already_registered() -> None:
    c = InjectQ(allow_override=False)
    c["url"] = "a"
    with pytest.raises(AlreadyRegisteredError):
        c["url"] = "b"
    with pytest.raises(AlreadyRegisteredError):
        c.bind_instance("url", "b")
    assert isinstance(AlreadyRegisteredError("x"), BindingError)
    assert c.get("url") == "a"


def test_bind_none_key_is_binding_error() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.bind(None, 1)


def test_bind_string_key_without_implementation_is_binding_error() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.bind("name")


def test_bad_scope_is_binding_error() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.bind(Db, Db, scope="")


# ---------------------------------------------------------------- factories
def test_callable_bound_with_bind_is_a_factory_with_injected_params() -> None:
    c = InjectQ()
    c["url"] = "from-key"
    calls: list[str] = []

    def make_db(url: str) -> Db:
        calls.append(url)
        return Db(url + "!")

    c.bind(Db, make_db)
    assert c.get(Db).url == "from-key!"
    assert calls == ["from-key"]


def test_callable_set_with_setitem_is_a_factory() -> None:
    c = InjectQ()
    c["url"] = "u"
    # a factory (not the class); its unannotated 'db' is fed by the key 'db'
    c[Repo] = lambda db: Repo(db)  # noqa: PLW0108
    c["db"] = Db("named")
    assert c.get(Repo).db.url == "named"

    def make_service(repo: Repo) -> Service:
        return Service(repo)

    c[Service] = make_service
    assert isinstance(c.get(Service), Service)
    assert c.get(Service).repo.db.url == "named"


def test_partial_and_bound_method_are_factories() -> None:
    c = InjectQ()

    def make(url: str, suffix: str) -> Db:
        return Db(url + suffix)

    c["suffix"] = "?"
    c.bind(Db, functools.partial(make, "p"))
    assert c.get(Db).url == "p?"

    class Maker:
        def build(self, suffix: str) -> Db:
            return Db("m" + suffix)

    c.bind("db2", Maker().build)
    assert c.get("db2").url == "m?"


@pytest.mark.parametrize("scope", ["singleton", "transient"])
def test_factories_honour_any_lifetime(scope: str) -> None:
    c = InjectQ()
    count = 0

    def make() -> NoInit:
        nonlocal count
        count += 1
        return NoInit()

    c.bind(NoInit, make, scope=scope)
    a, b = c.get(NoInit), c.get(NoInit)
    if scope == "singleton":
        assert a is b and count == 1
    else:
        assert a is not b and count == 2


def test_scoped_factory() -> None:
    c = InjectQ()
    c.bind_factory(NoInit, lambda: NoInit(), scope="request")  # noqa: PLW0108  (a function, not a class)
    with c.scope("request"):
        a = c.get(NoInit)
        assert c.get(NoInit) is a
    with c.scope("request"):
        assert c.get(NoInit) is not a


def test_bind_factory_is_transient_by_default_and_injects() -> None:
    c = InjectQ()
    c["url"] = "bf"
    c.bind_factory(Db, lambda url: Db(url))  # noqa: PLW0108  (an unannotated 'url', fed by name)
    a, b = c.get(Db), c.get(Db)
    assert a is not b and a.url == "bf"


def test_bind_factory_accepts_callable_object() -> None:
    c = InjectQ()

    class Factory:
        def __call__(self, url: str) -> Db:
            return Db(url)

    c["url"] = "obj"
    c.bind_factory(Db, Factory())
    assert c.get(Db).url == "obj"


def test_bind_factory_rejects_non_callable() -> None:
    c = InjectQ()
    with pytest.raises(BindingError):
        c.bind_factory(Db, 42)  # type: ignore[arg-type]


def test_factory_returning_none_needs_allow_none() -> None:
    c = InjectQ()
    c.bind_factory("maybe", lambda: None)
    with pytest.raises(Exception, match="allow_none"):
        c.get("maybe")
    c.bind_factory("maybe", lambda: None, allow_none=True)
    assert c.get("maybe") is None


def test_get_factory_call_factory() -> None:
    c = InjectQ()

    def make(url: str) -> Db:
        return Db(url)

    c.bind_factory(Db, make)
    assert c.get_factory(Db) is make
    db = c.call_factory(Db, "explicit")
    assert db.url == "explicit"
    c.bind_instance("inst", 1)
    with pytest.raises(BindingError):
        c.get_factory("inst")
    with pytest.raises(DependencyNotFoundError):
        c.get_factory("missing")


async def test_acall_factory_awaits_async_factory() -> None:
    c = InjectQ()

    async def make(url: str) -> Db:
        return Db(url)

    c.bind_factory(Db, make)
    db = await c.acall_factory(Db, "async")
    assert db.url == "async"


# ---------------------------------------------------------------- autowiring
def test_unbound_concrete_class_is_autowired_transient() -> None:
    c = InjectQ()
    c["url"] = "auto"
    s1, s2 = c.get(Service), c.get(Service)
    assert s1 is not s2
    assert s1.repo.db.url == "auto"
    assert s1.repo is not s2.repo


def test_autowire_class_without_own_init() -> None:
    c = InjectQ()
    assert isinstance(c.get(NoInit), NoInit)
    c["url"] = "inh"
    assert c.get(Inherits).db.url == "inh"


def test_autowire_dataclass() -> None:
    @dataclasses.dataclass
    class Config:
        db: Db
        retries: int = 3

    c = InjectQ()
    c["url"] = "dc"
    cfg = c.get(Config)
    assert cfg.db.url == "dc" and cfg.retries == 3


def test_autowire_uses_binding_of_dependency_type() -> None:
    c = InjectQ()
    db = Db("bound")
    c.bind_instance(Db, db)
    assert c.get(Service).repo.db is db


def test_optional_dependency_without_binding_is_none() -> None:
    class Uses:
        def __init__(self, base: Base | None = None) -> None:
            self.base = base

    c = InjectQ()
    assert c.get(Uses).base is None
    c.bind(Base, Impl)
    assert isinstance(c.get(Uses).base, Impl)


def test_default_value_used_for_unbound_primitive() -> None:
    class WithDefault:
        def __init__(self, timeout: float = 1.5) -> None:
            self.timeout = timeout

    c = InjectQ()
    assert c.get(WithDefault).timeout == 1.5
    c["timeout"] = 9.0
    assert c.get(WithDefault).timeout == 9.0


def test_primitives_are_never_autowired() -> None:
    c = InjectQ()
    with pytest.raises(DependencyNotFoundError):
        c.get(str)
    with pytest.raises(DependencyNotFoundError):
        c.get(int)


# ------------------------------------------------- injection by type, names for strings
def test_annotated_param_is_injected_by_type_not_by_name() -> None:
    class Consumer:
        def __init__(self, db: Db) -> None:
            self.db = db

    c = InjectQ()
    by_type = Db("by-type")
    c.bind_instance(Db, by_type)
    c["db"] = Db("by-name")  # a string key equal to the name must not win
    assert c.get(Consumer).db is by_type


def test_name_is_used_only_for_string_keys_that_match() -> None:
    class Consumer:
        def __init__(self, config: str, port: int = 80) -> None:
            self.config = config
            self.port = port

    c = InjectQ()
    c["config"] = "cfg"
    c["other"] = "nope"
    got = c.get(Consumer)
    assert got.config == "cfg" and got.port == 80
    c["port"] = 8080
    assert c.get(Consumer).port == 8080


def test_primitive_param_without_matching_key_is_an_error() -> None:
    class Consumer:
        def __init__(self, config: str) -> None:
            self.config = config

    c = InjectQ()
    c["configuration"] = "close but no"
    with pytest.raises(DependencyNotFoundError, match="config"):
        c.get(Consumer)


# ---------------------------------------------------------------- try_get / has
def test_try_get_and_has() -> None:
    c = InjectQ()
    assert c.try_get("missing") is None
    assert c.try_get("missing", 7) == 7
    c["present"] = 1
    assert c.try_get("present", 7) == 1
    assert c.has("present") and not c.has("missing")
    assert not c.has(NoInit)  # autowirable, but not bound (DESIGN §2: has = is bound)
    assert NoInit not in c
    assert isinstance(c.get(NoInit), NoInit)
    assert not c.has(Base)  # abstract, unbound


def test_try_get_does_not_hide_missing_inner_dependency() -> None:
    c = InjectQ()
    # Service is autowirable but Db needs 'url': that is a real error, not "absent"
    with pytest.raises(DependencyNotFoundError):
        c.try_get(Service)


async def test_atry_get() -> None:
    c = InjectQ()
    assert await c.atry_get("missing", 3) == 3
    c["k"] = "v"
    assert await c.atry_get("k") == "v"


def test_container_resolves_itself() -> None:
    c = InjectQ()
    assert c.get(InjectQ) is c

    class NeedsContainer:
        def __init__(self, container: InjectQ) -> None:
            self.container = container

    assert c.get(NeedsContainer).container is c


# ---------------------------------------------------------------- forward references
def test_forward_references_resolved_lazily() -> None:
    from _fwd_refs import Controller, LateRepo, LateService, make_controller

    c = InjectQ()
    ctl = c.get(Controller)
    assert isinstance(ctl.service, LateService)
    assert isinstance(ctl.service.repo, LateRepo)
    c.bind("ctl", make_controller)
    assert isinstance(c.get("ctl").service, LateService)


def test_forward_reference_defined_after_decoration_in_local_scope() -> None:
    from injectq import inject

    c = InjectQ()

    @inject(container=c)
    def handler(svc: LaterDefined) -> LaterDefined:
        return svc

    # LaterDefined is a module-level class defined below this test: resolved at call time
    assert isinstance(handler(), LaterDefined)


class LaterDefined:
    pass


# ------------------------------------------------------------------ InjectQ 0.5 rules (issue 13)
def test_builtin_param_is_fed_by_an_explicit_binding_of_its_type() -> None:
    c = InjectQ()
    c[str] = "sqlite://by-type"
    assert c.get(Repo).db.url == "sqlite://by-type"  # Db(url: str): container[str] feeds it


def test_builtin_param_name_key_comes_before_the_type_binding() -> None:
    class Server:
        def __init__(self, host: str, port: int = 80) -> None:
            self.host, self.port = host, port

    c = InjectQ()
    c[str] = "by-type"
    c["host"] = "by-name"
    server = c.get(Server)
    assert (server.host, server.port) == ("by-name", 80)  # int unbound: the default
    c[int] = 8080
    assert c.get(Server).port == 8080


def test_a_value_bound_by_name_does_not_feed_other_params_of_its_type() -> None:
    class Client:
        def __init__(self, timeout: int = 30) -> None:
            self.timeout = timeout

    c = InjectQ()
    c["retries"] = 5  # a string key: not a binding of int
    assert c.get(Client).timeout == 30
    assert not c.has(int)


def test_instance_bound_to_a_class_is_also_bound_to_its_own_class() -> None:
    c = InjectQ()
    impl = Impl()
    c[Base] = impl
    assert c.get(Base) is impl and c.get(Impl) is impl
    assert c.has(Impl)
    other = Impl()
    c.bind_instance(Base, other)
    assert c.get(Impl) is other
    c.bind(Base, Impl(), allow_concrete=False)
    assert c.get(Impl) is other  # left as it was


def test_allow_concrete_false_binds_only_the_key() -> None:
    c = InjectQ()
    impl = Impl()
    c.bind_instance(Base, impl, allow_concrete=False)
    assert not c.has(Impl)
    assert c.get(Impl) is not impl  # autowired afresh


def test_allow_concrete_skips_string_keys_and_builtin_types() -> None:
    c = InjectQ()
    db = Db("by-name")
    c["db"] = db
    assert not c.has(Db)
    c[object] = "text"
    assert not c.has(str)


def test_allow_override_false_refuses_the_concrete_key_too_and_changes_nothing() -> None:
    c = InjectQ(allow_override=False)
    first = Impl()
    c[Base] = first
    with pytest.raises(AlreadyRegisteredError):
        c[Impl] = Impl()
    assert c.get(Impl) is first

    class Other(Base):
        def run(self) -> str:
            return "other"

    c2 = InjectQ(allow_override=False)
    c2[Impl] = Impl()
    with pytest.raises(AlreadyRegisteredError):
        c2.bind_instance(Other, Impl())  # Impl is taken: Other is not bound either
    assert not c2.has(Other)


def test_bind_none_needs_allow_none_and_bind_key_alone_binds_the_class() -> None:
    c = InjectQ()
    with pytest.raises(BindingError, match="Implementation cannot be None for NoInit"):
        c.bind(NoInit, None)
    assert not c.has(NoInit)
    c.bind(NoInit, None, allow_none=True)
    assert c.get(NoInit) is None
    c.bind(NoInit)
    assert isinstance(c.get(NoInit), NoInit)
    c[NoInit] = None  # the dict form allows None
    assert c.get(NoInit) is None


def test_abstract_class_binding_error_names_it() -> None:
    c = InjectQ()
    with pytest.raises(BindingError, match="Cannot bind abstract class Base"):
        c.bind(Base, Base)
