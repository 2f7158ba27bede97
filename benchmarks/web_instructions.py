"""Machine instructions per request of the web-load server, injectq against its peers.

    uv run --group bench python benchmarks/web_instructions.py [--requests 1500]
        [--variants handwritten,scope-only,injectq,dishka,wireup] [--cancel-share 0.1]

The app of ``web_load.py`` (uvicorn + Starlette, one SQLite connection per request held
across an ``await``), served by one uvicorn process per variant under ``valgrind
--tool=callgrind``, which counts the instructions the whole server executes: HTTP
parsing, sockets, the event loop, Starlette, SQLite, and the container. Each variant is
served twice, once with ``--requests`` requests after a warm-up and once with the
warm-up only; the difference divided by ``--requests`` is its cost per request, a
figure that no other load on the machine moves (wall-clock ratios here scatter by
±20 % from round to round). Instructions are not time: a Python frame costs more time
per instruction than SQLite's C does, so read the ratios as a lower bound of the CPU
ratio that ``web_load.py`` measures.

Variants, each the same endpoint (reads a row through the request's connection):

- ``handwritten``: the endpoint opens and closes the connection in ``try/finally``;
- ``scope-only``: injectq's public API with no integration: the endpoint opens a
  request scope itself (``async with container.scope("request")``) and takes the
  connection with ``await container.aget(Database)``: the floor under any integration
  that gives a request its scope and resources through the state machine;
- ``injectq``: ``setup_starlette`` and an ``@inject`` endpoint (``web_load.py``'s app);
- ``dishka``: dishka's Starlette integration (``setup_dishka``, ``@inject``,
  ``FromDishka[Database]``), a ``Scope.REQUEST`` generator provider;
- ``wireup``: wireup's Starlette integration (``setup``, ``@inject``,
  ``Injected[Database]``), a ``scoped`` generator injectable.

Phase ``steady``: every request completes; ``--cancel-share`` > 0 adds a phase where
that share of the clients abort mid-request.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dishka import FromDishka, Provider, Scope, make_async_container, provide
from dishka.integrations import starlette as dishka_starlette
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from wireup import Injected, create_async_container, injectable
from wireup.integration import starlette as wireup_starlette

import web_load  # the app, the load generator and the server runner, beside this script
from web_load import Counter, Database, _proc_stats, _read_row, connection

CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


async def _respond(request: Request, conn: Database) -> PlainTextResponse:
    if request.query_params.get("slow"):
        await asyncio.sleep(0.005)
    return PlainTextResponse(await _read_row(conn, int(request.path_params["key"])))


def _app(db_path: str, item: Any) -> Starlette:
    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(_proc_stats(db_path, Counter.live))

    return Starlette(routes=[Route("/item/{key}", item), Route("/stats", stats)])


def scope_only_app(db_path: str) -> Starlette:
    container = web_load.request_container(db_path)

    async def item(request: Request) -> PlainTextResponse:
        async with container.scope("request"):
            return await _respond(request, await container.aget(Database))

    return _app(db_path, item)


def dishka_app(db_path: str) -> Starlette:
    class Connections(Provider):
        @provide(scope=Scope.REQUEST)
        def database(self) -> Iterator[Database]:
            yield from connection(db_path)

    @dishka_starlette.inject
    async def item(request: Request, conn: FromDishka[Database]) -> PlainTextResponse:
        return await _respond(request, conn)

    app = _app(db_path, item)
    with warnings.catch_warnings():  # its move to a package of its own
        warnings.simplefilter("ignore", DeprecationWarning)
        dishka_starlette.setup_dishka(make_async_container(Connections()), app)
    return app


def wireup_app(db_path: str) -> Starlette:
    @injectable(lifetime="scoped")
    def database() -> Iterator[Database]:
        yield from connection(db_path)

    @wireup_starlette.inject
    async def item(request: Request, conn: Injected[Database]) -> PlainTextResponse:
        return await _respond(request, conn)

    app = _app(db_path, item)
    wireup_starlette.setup(create_async_container(injectables=[database]), app)
    return app


APPS = {
    **web_load.APPS,
    "scope-only": scope_only_app,
    "dishka": dishka_app,
    "wireup": wireup_app,
}


async def _served_instructions(
    variant: str, db_path: str, requests: int, concurrency: int, share: float
) -> int:
    """Instructions of one server process that serves a warm-up, then ``requests``."""
    server = web_load.Server(
        variant, db_path, script=__file__, wrapper=CALLGRIND, startup_seconds=300
    )
    try:
        await server.wait_ready()
        await web_load.load(server.port, 300, concurrency, share, seed=0)
        if requests:
            await web_load.load(server.port, requests, concurrency, share, seed=1)
        await web_load.drained(server, {"fds": 10**9})
    finally:
        report = server.stop()
    found = re.search(r"Collected : (\d+)", report)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind for {variant}:\n{report}")
    return int(found.group(1))


async def main_async(args: argparse.Namespace) -> None:
    db_path = web_load.create_database("injectq-web-instructions-")
    variants = args.variants.split(",")
    phases = [("steady", 0.0)] + ([("cancel", args.cancel_share)] if args.cancel_share else [])
    print(
        f"instructions per request of the whole server (callgrind), {args.requests} requests "
        f"at concurrency {args.concurrency}; cancel phase: {args.cancel_share:.0%} of clients "
        "abort mid-request\n"
    )
    print("| variant | " + " | ".join(f"{phase} | ratio" for phase, _ in phases) + " |")
    print("|---|" + "---|---|" * len(phases))
    base: dict[str, float] = {}
    for variant in variants:
        cells = []
        for phase, share in phases:
            loaded = await _served_instructions(
                variant, db_path, args.requests, args.concurrency, share
            )
            idle = await _served_instructions(variant, db_path, 0, args.concurrency, share)
            per_request = (loaded - idle) / args.requests
            base.setdefault(phase, per_request)  # the first variant is the baseline
            cells.append(f"{per_request:,.0f} | {per_request / base[phase]:.3f}")
        print(f"| {variant} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        web_load.serve(APPS[sys.argv[2]](sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cancel-share", type=float, default=0.1)
    parser.add_argument("--variants", default=",".join(APPS))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
