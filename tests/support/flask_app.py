"""The Flask app of tests/test_integrations_flask.py, also served by a subprocess:
``python -m support.flask_app DB MARKER PORT`` serves it with waitress until SIGINT."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, stream_with_context

from injectq import Inject, InjectQ, inject, resource
from injectq.integrations.flask import get_container, setup_flask

from .web import (
    Greeter,
    OutOfStock,
    RequestTag,
    SyncUnitOfWork,
    Tracker,
    open_fds,
    sync_container,
)


class Gate:
    """What a hanging request waits for: the test opens it after the client left."""

    def __init__(self) -> None:
        self.holding = 0
        self.release = threading.Event()


def make_app(container: InjectQ, tracker: Tracker, gate: Gate, **options: Any) -> Flask:
    app = Flask(__name__)
    setup_flask(container, app, **options)

    @app.errorhandler(OutOfStock)
    def answer_out_of_stock(error: OutOfStock) -> tuple[str, int]:
        return "sold out", 409

    @app.get("/add/<text>")
    @inject
    def add(
        text: str,
        work: SyncUnitOfWork = Inject[SyncUnitOfWork],
        greeter: Greeter = Inject[Greeter],
    ) -> dict[str, Any]:
        work.add(text)
        assert greeter.work is work  # one unit of work per request
        assert get_container() is InjectQ.get_instance() is container
        return {
            "serial": work.serial,
            "settings": id(greeter.settings),
            "fds": open_fds(tracker.db_path),
        }

    @app.get("/fail")
    @inject
    def fail(work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> None:
        work.add("fail")
        raise RuntimeError("handler failed")

    @app.get("/sold-out")
    @inject
    def sold_out(work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> None:
        work.add("sold out")
        raise OutOfStock("none left")

    @app.get("/tag")
    def tag() -> dict[str, bool]:
        # resolved twice in one request: the same request-scoped object
        return {"same": container.get(RequestTag) is InjectQ.get_instance().get(RequestTag)}

    @app.get("/hang")
    @inject
    def hang(work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> str:
        work.add("hang")
        gate.holding += 1
        try:
            gate.release.wait(10)  # bounded: the test releases it after the client left
        finally:
            gate.holding -= 1
        return "too late"

    @app.get("/stream")
    @inject
    def stream(work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> Response:
        work.add("stream")

        @stream_with_context
        def chunks() -> Any:
            for n in range(3):
                # the request scope is still open while the response streams
                yield f"{work.serial}:{n};"

        return Response(chunks())

    return app


@resource
class ExitMarker:
    """Writes a file when disposed: a sign, outside the process, that it closed."""

    path: Path | None = None

    def dispose(self) -> None:
        assert self.path is not None
        self.path.write_text("disposed")


def main() -> None:  # pragma: no cover - runs in the subprocess
    import waitress

    db, marker, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    tracker = Tracker(db)
    container = sync_container(tracker)
    ExitMarker.path = marker
    container.bind(ExitMarker, ExitMarker)
    app = make_app(container, tracker, Gate())

    @app.get("/marker")
    @inject
    def touch(marker: ExitMarker = Inject[ExitMarker]) -> str:
        return "ok"

    waitress.serve(app, host="127.0.0.1", port=port, threads=4, _quiet=True)


if __name__ == "__main__":  # pragma: no cover
    main()
