"""``container[T]``, ``get``, ``aget``, ``try_get``, ``atry_get``: typed by the key."""

from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any, Protocol, TypeVar, assert_type

from injectq import InjectQ

T = TypeVar("T")


class Database:
    def query(self) -> list[str]:
        return []


class Repository(ABC):
    @abstractmethod
    def load(self, key: str) -> str: ...


class Greeter(Protocol):
    def greet(self, name: str) -> str: ...


def concrete_keys(container: InjectQ) -> None:
    assert_type(container[Database], Database)
    assert_type(container.get(Database), Database)
    assert_type(container.try_get(Database), Database | None)
    assert_type(container.try_get(Database, Database()), Database | None)
    rows: list[str] = container.get(Database).query()
    assert rows is not None


def abstract_and_protocol_keys(container: InjectQ) -> None:
    # mypy refuses an abstract class where ``type[T]`` is expected; these keep their type
    assert_type(container[Repository], Repository)
    assert_type(container.get(Repository), Repository)
    assert_type(container.try_get(Repository), Repository | None)
    assert_type(container[Greeter], Greeter)
    assert_type(container.get(Greeter), Greeter)
    assert_type(container.try_get(Greeter), Greeter | None)
    text: str = container.get(Greeter).greet("x") + container[Repository].load("k")
    assert text


def other_keys(container: InjectQ) -> None:
    assert_type(container.get(list[int]), list[int])
    assert_type(container["config"], Any)
    assert_type(container.get("config"), Any)


def resolve(container: InjectQ, cls: type[T]) -> T:
    return container.get(cls)


async def aresolve(container: InjectQ, cls: type[T]) -> T | None:
    return await container.atry_get(cls)


def keys_in_variables(
    container: InjectQ, cls: type[Repository], any_cls: type[Any], key: Hashable
) -> None:
    assert_type(resolve(container, Database), Database)
    assert_type(container.get(cls), Repository)
    assert_type(container.get(any_cls), Any)
    assert_type(container.get(key), Any)


async def async_keys(container: InjectQ) -> None:
    assert_type(await container.aget(Database), Database)
    assert_type(await container.aget(Repository), Repository)
    assert_type(await container.aget(Greeter), Greeter)
    assert_type(await container.atry_get(Database), Database | None)
    assert_type(await container.atry_get(Greeter), Greeter | None)
    assert_type(await container.aget("config"), Any)


def wrong_uses(container: InjectQ) -> None:
    # not Any: a wrong type is caught
    wrong: int = container.get(Database)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    container[Repository].save()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    container.get(Greeter).greet(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # try_get may return None
    container.try_get(Database).query()  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    assert wrong


async def wrong_async_uses(container: InjectQ) -> None:
    container.aget(Database).query()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    wrong: str = await container.aget(Database)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    maybe: str | None = await container.atry_get(Greeter)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    assert wrong and maybe


def wrong_generic_targets(container: InjectQ) -> None:
    # a generic target is where mypy would otherwise fall back to Any
    rows: list[str] = container.get(Database)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    repos: list[str] = container[Repository]  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    greeters: dict[str, str] | None = container.try_get(Greeter)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    fine: list[object] = container.get(list[object])
    assert rows and repos and greeters and fine
