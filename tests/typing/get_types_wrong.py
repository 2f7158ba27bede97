"""Must FAIL ``mypy --strict``: proves ``get(Service)`` is not ``Any``."""

from injectq import InjectQ


class Service:
    pass


def main(c: InjectQ) -> None:
    wrong: int = c.get(Service)
    assert wrong
