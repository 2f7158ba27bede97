"""``db: Database = Inject[Database]`` and ``@inject``: InjectQ's headline idiom, typed."""

from abc import ABC, abstractmethod
from typing import Any, Protocol, assert_type

from injectq import Inject, InjectQ, inject
from injectq.decorators.inject import Inject as InjectFromDecorators


class Database:
    def query(self) -> list[str]:
        return []


class Repository(ABC):
    @abstractmethod
    def load(self, key: str) -> str: ...


class Greeter(Protocol):
    def greet(self, name: str) -> str: ...


@inject
def list_users(limit: int, db: Database = Inject[Database]) -> list[str]:
    assert_type(db, Database)
    return db.query()[:limit]


@inject
def load(key: str, repo: Repository = Inject[Repository], hi: Greeter = Inject[Greeter]) -> str:
    assert_type(repo, Repository)
    assert_type(hi, Greeter)
    return hi.greet(repo.load(key))


@inject
async def alist_users(db: Database = InjectFromDecorators[Database]) -> list[str]:
    assert_type(db, Database)
    return db.query()


@inject
def by_name(url: str = Inject["database_url"]) -> str:
    return url


class Service:
    @inject
    def method(self, n: int, db: Database = Inject[Database]) -> int:
        return n + len(db.query())

    @staticmethod
    @inject
    def static(db: Database = Inject[Database]) -> Database:
        return db

    @classmethod
    @inject
    def klass(cls, db: Database = Inject[Database]) -> Database:
        return db


async def callers(container: InjectQ) -> None:
    # @inject keeps the signature: injected parameters may be left out or passed
    assert_type(list_users(10), list[str])
    assert_type(list_users(10, Database()), list[str])
    assert_type(list_users(limit=1, db=Database()), list[str])
    assert_type(load("k"), str)
    assert_type(await alist_users(), list[str])
    assert_type(by_name(), str)
    assert_type(Service().method(1), int)
    assert_type(Service.static(), Database)
    assert_type(Service.klass(), Database)

    @inject(container=container)
    def scoped(db: Database = Inject[Database]) -> Database:
        return db

    @inject(container)
    def positional(db: Database = Inject[Database]) -> Database:
        return db

    assert_type(scoped(), Database)
    assert_type(positional(), Database)
    assert_type(Inject["anything"], Any)


# wrong uses are errors, not Any
def wrong_marker(db: int = Inject[Database]) -> int:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    return db


def wrong_generic_marker(db: list[str] = Inject[Database]) -> list[str]:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    return db


def wrong_calls() -> None:
    list_users("ten")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    list_users(10, db=3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    list_users(10, missing=1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    text: str = list_users(1)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    Service.static(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert text
