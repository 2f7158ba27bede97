"""Flask integration against a real app: Flask's test client, a threaded WSGI server
(the standard library's wsgiref) in this process, and waitress in a subprocess
stopped the way a person stops it (Ctrl-C), to see the container closed at exit.

The request resource is a unit of work on a real SQLite file (tests/support/web.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from injectq import InjectQ
from injectq.integrations import _base
from injectq.integrations.flask import setup_flask
from injectq.utils.exceptions import InjectQError
from support.flask_app import Gate, OutOfStock, make_app
from support.web import (
    Settings,
    Tracker,
    disconnect_mid_request,
    make_db,
    notes,
    open_fds,
    server_process,
    sync_container,
    wait_for,
    wsgiref_server,
)

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def container(tracker: Tracker) -> Iterator[InjectQ]:
    c = sync_container(tracker)
    yield c
    _base._close_at_exit.discard(c)  # closed by the test, not at the end of pytest


def client_for(container: InjectQ, tracker: Tracker, gate: Gate | None = None) -> Any:
    app = make_app(container, tracker, gate or Gate())
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a handler error is a 500, as in production
    return app.test_client()


# --------------------------------------------------------------------------- test client
def test_one_scope_per_request_disposed_on_success(container: InjectQ, tracker: Tracker) -> None:
    client = client_for(container, tracker)
    bodies = []
    for n in range(3):
        bodies.append(client.get(f"/add/n{n}").get_json())
        assert tracker.settled(n + 1) and tracker.live == 0  # disposed at teardown
    assert len({b["serial"] for b in bodies}) == 3
    assert len({b["settings"] for b in bodies}) == 1
    assert all(b["fds"] >= 1 for b in bodies)
    assert tracker.outcomes == [None, None, None]
    assert notes(tracker.db_path) == ["n0", "n1", "n2"]
    assert open_fds(tracker.db_path) == 0
    assert client.get("/tag").get_json() == {"same": True}
    assert container.current_scope() is None


def test_handler_error_reaches_the_disposals(container: InjectQ, tracker: Tracker) -> None:
    client = client_for(container, tracker)
    assert client.get("/fail").status_code == 500  # no handler: Flask's 500
    assert client.get("/sold-out").status_code == 409  # the app's error handler answered
    assert client.get("/add/kept").status_code == 200
    first, second, third = tracker.outcomes
    assert isinstance(first, RuntimeError) and str(first) == "handler failed"
    assert isinstance(second, OutOfStock)
    assert third is None
    assert notes(tracker.db_path) == ["kept"]  # both failures rolled back
    assert tracker.settled(3) and open_fds(tracker.db_path) == 0


def test_unhandled_error_propagating_out_of_flask(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker, Gate())
    app.config["PROPAGATE_EXCEPTIONS"] = True  # testing mode: the error reaches the caller
    with pytest.raises(RuntimeError, match="handler failed"):
        app.test_client().get("/fail")
    assert isinstance(tracker.outcomes[0], RuntimeError)
    assert tracker.settled(1) and notes(tracker.db_path) == []


def test_streamed_response_keeps_its_scope_until_sent(container: InjectQ, tracker: Tracker) -> None:
    client = client_for(container, tracker)
    response = client.get("/stream")
    serial = response.get_data(as_text=True).split(":")[0]
    assert response.get_data(as_text=True) == f"{serial}:0;{serial}:1;{serial}:2;"
    assert tracker.settled(1) and notes(tracker.db_path) == ["stream"]


def test_setup_twice_and_another_container(container: InjectQ, tracker: Tracker) -> None:
    app = make_app(container, tracker, Gate())
    setup_flask(container, app)  # the same container: nothing more
    assert app.before_request_funcs[None].count(app.before_request_funcs[None][0]) == 1
    with pytest.raises(InjectQError, match="setup_flask: this app is already served"):
        setup_flask(InjectQ(), app)
    client = app.test_client()
    client.get("/add/once")
    assert tracker.settled(1)


# --------------------------------------------------------------------------- real servers
def test_through_a_threaded_wsgi_server(container: InjectQ, tracker: Tracker) -> None:
    gate = Gate()
    app = make_app(container, tracker, gate)
    with wsgiref_server(app) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            serials = {client.get(f"/add/w{n}").json()["serial"] for n in range(5)}
            assert client.get("/fail").status_code == 500
            assert client.get("/sold-out").status_code == 409
        assert len(serials) == 5
        wait_for(lambda: tracker.settled(7))
        for n in range(3):  # clients that go away mid-request leak nothing
            gate.release.clear()
            disconnect_mid_request(url, "/hang", lambda: gate.holding == 1)
            gate.release.set()
            wait_for(lambda n=n: tracker.settled(8 + n) and gate.holding == 0)
    assert notes(tracker.db_path) == [f"w{n}" for n in range(5)] + ["hang"] * 3
    assert isinstance(tracker.outcomes[5], RuntimeError)
    assert isinstance(tracker.outcomes[6], OutOfStock)
    assert open_fds(tracker.db_path) == 0
    settings = container.get(Settings)
    assert settings.disposed == 0


def test_waitress_process_closes_the_container_at_exit(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.sqlite3")
    marker = tmp_path / "disposed.txt"
    with server_process("flask_app", str(db), str(marker), first_get="/tag") as (url, _first):
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/add/a").status_code == 200
            assert client.get("/fail").status_code == 500
            assert client.get("/marker").text == "ok"
        assert notes(db) == ["a"]
        assert not marker.exists()
    assert marker.read_text() == "disposed"  # the container was closed at exit


def test_importing_injectq_does_not_import_flask() -> None:
    code = (
        "import sys, injectq, injectq.integrations\n"
        "assert 'flask' not in sys.modules\n"
        "import injectq.integrations.flask\n"
        "assert 'flask' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
