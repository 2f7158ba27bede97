"""Django integration against a real project (tests/support/django_site.py): Django's
test clients (sync and async), a threaded WSGI server (wsgiref) and uvicorn serving
Django's ASGI handler in this process, and waitress in a subprocess stopped with
Ctrl-C, to see the container closed at exit.

The request resource is a unit of work on a real SQLite file (tests/support/web.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import django
import httpx
import pytest
from django.conf import settings

from injectq.integrations import _base
from injectq.utils.exceptions import InjectQError
from support import django_site
from support.web import (
    Settings,
    Tracker,
    disconnect_mid_request,
    make_db,
    notes,
    open_fds,
    server_process,
    uvicorn_server,
    wait_for,
    wsgiref_server,
)

TESTS = Path(__file__).resolve().parent

if not settings.configured:
    settings.configure(
        **{name: getattr(django_site, name) for name in dir(django_site) if name.isupper()}
    )
    django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import Http404  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

from injectq.integrations.django import InjectQMiddleware  # noqa: E402


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    tracker = django_site.tracker
    tracker.__init__(make_db(tmp_path / "app.sqlite3"))  # type: ignore[misc]
    yield tracker
    django_site.container.close()  # the site's container is the process's: reset it
    _base._close_at_exit.discard(django_site.container)


# --------------------------------------------------------------------------- test clients
def test_one_scope_per_request_disposed_on_success(tracker: Tracker) -> None:
    client = Client()
    bodies = []
    for n in range(3):
        bodies.append(client.get(f"/add/n{n}").json())
        assert tracker.settled(n + 1) and tracker.live == 0
    assert len({b["serial"] for b in bodies}) == 3
    assert len({b["settings"] for b in bodies}) == 1
    assert all(b["fds"] >= 1 for b in bodies)
    assert tracker.outcomes == [None, None, None]
    assert notes(tracker.db_path) == ["n0", "n1", "n2"]
    assert open_fds(tracker.db_path) == 0
    assert django_site.container.current_scope() is None


def test_handler_error_reaches_the_disposals(tracker: Tracker) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/fail").status_code == 500  # Django answers with its 500 page
    assert client.get("/not-found").status_code == 404
    assert client.get("/add/kept").status_code == 200
    first, second, third = tracker.outcomes
    assert isinstance(first, RuntimeError) and str(first) == "handler failed"
    assert isinstance(second, Http404)
    assert third is None
    assert notes(tracker.db_path) == ["kept"]  # both failures rolled back
    assert tracker.settled(3) and open_fds(tracker.db_path) == 0


async def test_async_views_and_async_middleware(tracker: Tracker) -> None:
    client = AsyncClient(raise_request_exception=False)
    first = (await client.get("/async-add/a")).json()
    second = (await client.get("/async-add/b")).json()
    assert first["same"] and second["same"]
    assert first["serial"] != second["serial"]
    assert (await client.get("/fail")).status_code == 500  # a sync view, under ASGI
    assert (await client.get("/add/c")).status_code == 200
    assert isinstance(tracker.outcomes[2], RuntimeError)
    assert notes(tracker.db_path) == ["a", "b", "c"]
    assert tracker.settled(4) and open_fds(tracker.db_path) == 0


def test_the_setting_is_required_and_checked(tracker: Tracker) -> None:
    with override_settings(INJECTQ_CONTAINER=None):
        with pytest.raises(InjectQError, match="INJECTQ_CONTAINER is not set"):
            InjectQMiddleware(lambda request: None)
    with override_settings(INJECTQ_CONTAINER="support.django_site.container"):
        with pytest.raises(InjectQError, match="expected 'package\\.module:attribute'"):
            InjectQMiddleware(lambda request: None)
    with override_settings(INJECTQ_CONTAINER="support.django_site:tracker"):
        with pytest.raises(InjectQError, match="is a Tracker, not an InjectQ container"):
            InjectQMiddleware(lambda request: None)
    with override_settings(INJECTQ_CONTAINER="support.no_such_module:container"):
        with pytest.raises(InjectQError, match="cannot import"):
            InjectQMiddleware(lambda request: None)


# --------------------------------------------------------------------------- real servers
def test_through_a_threaded_wsgi_server(tracker: Tracker) -> None:
    gate = django_site.gate
    with wsgiref_server(get_wsgi_application()) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            serials = {client.get(f"/add/w{n}").json()["serial"] for n in range(5)}
            assert client.get("/fail").status_code == 500
            assert client.get("/not-found").status_code == 404
        assert len(serials) == 5
        wait_for(lambda: tracker.settled(7))
        for n in range(3):  # clients that go away mid-request leak nothing
            gate.release.clear()
            disconnect_mid_request(url, "/hang", lambda: gate.holding == 1)
            gate.release.set()
            wait_for(lambda n=n: tracker.settled(8 + n) and gate.holding == 0)
    assert notes(tracker.db_path) == [f"w{n}" for n in range(5)] + ["hang"] * 3
    assert isinstance(tracker.outcomes[5], RuntimeError)
    assert isinstance(tracker.outcomes[6], Http404)
    assert open_fds(tracker.db_path) == 0


def test_through_uvicorn_a_client_leaving_cancels_the_async_view(tracker: Tracker) -> None:
    gate = django_site.gate
    with uvicorn_server(get_asgi_application(), lifespan="off") as (url, _server):
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/async-add/x").json()["same"]
        for n in range(3):  # Django cancels the view's task when the client goes away
            disconnect_mid_request(url, "/async-hang", lambda: gate.holding == 1)
            wait_for(lambda n=n: tracker.settled(2 + n) and gate.holding == 0)
    assert all(isinstance(o, asyncio.CancelledError) for o in tracker.outcomes[1:])
    assert notes(tracker.db_path) == ["x"]  # the cancelled requests rolled back
    assert open_fds(tracker.db_path) == 0


def test_waitress_process_closes_the_container_at_exit(tmp_path: Path) -> None:
    db = make_db(tmp_path / "app.sqlite3")
    marker = tmp_path / "disposed.txt"
    with server_process(
        "django_site", str(marker), first_get="/add/first", env={"INJECTQ_TEST_DB": str(db)}
    ) as (url, _first):
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/fail").status_code == 500
            assert client.get("/marker").text == "ok"
        assert notes(db) == ["first"]
        assert not marker.exists()
    assert marker.read_text() == "disposed"  # the container was closed at exit


def test_settings_and_app_lifetime_resources(tracker: Tracker) -> None:
    Client().get("/add/x")
    settings_resource = django_site.container.get(Settings)
    assert settings_resource.initialized == 1
    django_site.container.close()
    assert settings_resource.disposed == 1


def test_importing_injectq_does_not_import_django() -> None:
    code = "import sys, injectq, injectq.integrations\nassert 'django' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
