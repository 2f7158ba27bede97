"""``InjectAPI[T]`` (FastAPI) and ``InjectTask[T]`` (taskiq) parameters are ``T``."""

from abc import ABC, abstractmethod
from typing import Protocol, assert_type

from fastapi import FastAPI
from taskiq import InMemoryBroker

from injectq import InjectQ
from injectq.integrations.fastapi import InjectAPI, InjectFastAPI, setup_fastapi
from injectq.integrations.taskiq import InjectTask, InjectTaskiq, setup_taskiq


class Database:
    def query(self) -> list[str]:
        return []


class Repository(ABC):
    @abstractmethod
    def load(self, key: str) -> str: ...


class Greeter(Protocol):
    def greet(self, name: str) -> str: ...


container = InjectQ()
app = FastAPI()
setup_fastapi(container, app)
broker = InMemoryBroker()
setup_taskiq(container, broker)


@app.get("/users")
async def list_users(db: InjectAPI[Database], limit: int = 10) -> list[str]:
    assert_type(db, Database)
    return db.query()[:limit]


@app.get("/load/{key}")
def load(key: str, repo: InjectAPI[Repository], hi: InjectFastAPI[Greeter]) -> str:
    assert_type(repo, Repository)
    assert_type(hi, Greeter)
    return hi.greet(repo.load(key))


@broker.task
async def count_users(db: InjectTask[Database]) -> int:
    assert_type(db, Database)
    return len(db.query())


@broker.task
async def greet(name: str, hi: InjectTaskiq[Greeter], repo: InjectTask[Repository]) -> str:
    assert_type(hi, Greeter)
    assert_type(repo, Repository)
    return hi.greet(repo.load(name))


# not Any: a wrong use is caught
@app.get("/wrong")
async def wrong_route(db: InjectAPI[Database]) -> int:
    return db.query()  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


@broker.task
async def wrong_task(db: InjectTask[Database]) -> None:
    db.missing()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
