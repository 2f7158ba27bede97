"""Must FAIL ``mypy --strict`` twice: ``InjectMCP[Db]`` / ``InjectMCP(Db)`` is a
``Db``, not ``Any``."""

from injectq.integrations.fastmcp import InjectMCP


class Db:
    pass


def handler(name: str = InjectMCP[Db]) -> str:
    return name


def other(name: str = InjectMCP(Db)) -> str:
    return name
