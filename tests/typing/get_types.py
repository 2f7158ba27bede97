"""Checked with ``mypy --strict`` by tests/test_core_imports.py: ``get`` is typed."""

from typing import reveal_type

from injectq import InjectQ


class Service:
    def ping(self) -> str:
        return "pong"


async def main(c: InjectQ) -> None:
    svc = c.get(Service)
    reveal_type(svc)
    asvc = await c.aget(Service)
    reveal_type(asvc)
    maybe = c.try_get(Service)
    reveal_type(maybe)
    reveal_type(c.get("config"))
    typed: Service = c.get(Service)
    text: str = typed.ping()
    assert text
