"""A Starlette app served by uvicorn in its own process, for
tests/test_integrations_starlette.py: ``python -m support.starlette_app DB MARKER PORT``
serves until SIGINT; its lifespan shutdown closes the container, whose app-lifetime
``ExitMarker`` then writes MARKER."""

from __future__ import annotations

import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from injectq import Inject, inject, resource
from injectq.integrations.starlette import setup_starlette

from .web import AsyncUnitOfWork, Tracker, async_container


@resource
class ExitMarker:
    """Writes a file when disposed: a sign, outside the process, that it closed."""

    path: Path | None = None

    def dispose(self) -> None:
        assert self.path is not None
        self.path.write_text("disposed")


@inject
async def add(
    request: Request,
    work: AsyncUnitOfWork = Inject[AsyncUnitOfWork],
    marker: ExitMarker = Inject[ExitMarker],
) -> JSONResponse:
    await work.add(request.path_params["text"])
    if request.path_params["text"] == "fail":
        raise RuntimeError("handler failed")
    return JSONResponse({"serial": work.serial})


def main() -> None:  # pragma: no cover - runs in the subprocess
    import uvicorn

    db, marker, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    container = async_container(Tracker(db))
    ExitMarker.path = marker
    container.bind(ExitMarker, ExitMarker)
    app = Starlette(routes=[Route("/add/{text}", add)])
    setup_starlette(container, app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical", access_log=False)


if __name__ == "__main__":  # pragma: no cover
    main()
