"""``InjectMCP[Db]`` / ``InjectMCP(Db)`` is a ``Db``, not ``Any``: a default of the wrong
type is an error for both checkers (each marked, and an unneeded mark fails the check)."""

from injectq.integrations.fastmcp import InjectMCP


class Db:
    pass


def handler(name: str = InjectMCP[Db]) -> str:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    return name


def other(name: str = InjectMCP(Db)) -> str:  # type: ignore[assignment]  # pyright: ignore[reportArgumentType]
    return name
