"""Checked with ``mypy --strict`` by tests/test_integrations_fastmcp.py (and meant for
pyright too): ``InjectMCP(T)`` and ``InjectMCP[T]`` are a ``T``, for concrete classes,
abstract classes and Protocols alike, with no ``type: ignore`` in user code."""

from abc import ABC, abstractmethod
from typing import Annotated, Any, Protocol, assert_type

from fastmcp import FastMCP

from injectq import InjectQ
from injectq.integrations.fastmcp import InjectMCP, InjectQMCPMiddleware, setup_mcp


class Db:
    def rows(self) -> list[str]:
        return []


class Repo(ABC):
    @abstractmethod
    def find(self) -> str: ...


class Clock(Protocol):
    def now(self) -> float: ...


container = InjectQ()
mcp = FastMCP("typed")
setup_mcp(container, mcp)
mcp.add_middleware(InjectQMCPMiddleware(container=container, scope_name="request"))


@mcp.tool
async def listing(prefix: str, db: Db = InjectMCP(Db), db2: Db = InjectMCP[Db]) -> list[str]:
    assert_type(db, Db)
    return [row for row in db.rows() + db2.rows() if row.startswith(prefix)]


@mcp.tool
def annotated(db: Annotated[Db, InjectMCP(Db)]) -> list[str]:
    return db.rows()


@mcp.tool
def abstract_keys(repo: Repo = InjectMCP[Repo], clock: Clock = InjectMCP(Clock)) -> str:
    return f"{repo.find()} at {clock.now()}"


@mcp.tool
def by_name(url: str = InjectMCP("database_url")) -> str:
    return url


assert_type(InjectMCP[Db], Db)
assert_type(InjectMCP(Db), Db)
assert_type(InjectMCP[Repo], Repo)
assert_type(InjectMCP[Clock], Clock)
assert_type(InjectMCP("database_url"), Any)
