"""What is not typed, pinned so that a change shows up here.

For type checkers ``InjectAPI`` / ``InjectTask`` are ``Annotated[T, ...]`` aliases, which
is what makes ``db: InjectAPI[Database]`` a ``Database``. One name cannot also be a value
typed as ``T``, so the InjectQ-style default (``db: Database = InjectAPI[Database]``) is
refused by both checkers, and pyright refuses calling the alias as ``Annotated``
metadata (mypy does not check metadata). Both forms still work at run time; typed code
writes ``db: InjectAPI[Database]``. ``Inject[T]`` (for ``@inject``) has no such gap.
"""

from typing import Annotated

from injectq.integrations.fastapi import InjectAPI
from injectq.integrations.taskiq import InjectTask


class Database:
    def query(self) -> list[str]:
        return []


async def api_default(db: Database = InjectAPI[Database]) -> None:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    db.query()


async def task_default(db: Database = InjectTask[Database]) -> None:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    db.query()


async def api_metadata(db: Annotated[Database, InjectAPI(Database)]) -> None:  # pyright: ignore[reportCallIssue]
    db.query()


async def task_metadata(db: Annotated[Database, InjectTask(Database)]) -> None:  # pyright: ignore[reportCallIssue]
    db.query()
