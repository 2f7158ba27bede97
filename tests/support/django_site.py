"""A one-module Django project for tests/test_integrations_django.py: its settings,
URLs, views and container. The subprocess test serves it with waitress
(``INJECTQ_TEST_DB=DB python -m support.django_site MARKER PORT``) until SIGINT."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from injectq import Inject, InjectQ, inject, resource

from .web import Greeter, RequestTag, SyncUnitOfWork, Tracker, open_fds, sync_container

# --------------------------------------------------------------------------- settings
DEBUG = False
SECRET_KEY = "injectq-tests"  # noqa: S105  (Django requires one; a local test site)
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
MIDDLEWARE = ["injectq.integrations.django.InjectQMiddleware"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, Any] = {}
INJECTQ_CONTAINER = f"{__name__}:container"
LOGGING_CONFIG = None  # the 500s the tests cause are expected: no error log

# --------------------------------------------------------------------------- container
tracker = Tracker(Path(os.environ.get("INJECTQ_TEST_DB", "unset.sqlite3")))
container = sync_container(tracker)


class Gate:
    """What a hanging request waits for: the test opens it after the client left."""

    def __init__(self) -> None:
        self.holding = 0
        self.release = threading.Event()


gate = Gate()


# --------------------------------------------------------------------------- views
@inject
def add(
    request: HttpRequest,
    text: str,
    work: SyncUnitOfWork = Inject[SyncUnitOfWork],
    greeter: Greeter = Inject[Greeter],
) -> JsonResponse:
    work.add(text)
    assert greeter.work is work  # one unit of work per request
    assert InjectQ.get_instance() is container
    return JsonResponse(
        {"serial": work.serial, "settings": id(greeter.settings), "fds": open_fds(tracker.db_path)}
    )


@inject
async def async_add(
    request: HttpRequest,
    text: str,
    work: SyncUnitOfWork = Inject[SyncUnitOfWork],
    tag: RequestTag = Inject[RequestTag],
) -> JsonResponse:
    work.add(text)
    same = await InjectQ.get_instance().aget(RequestTag) is tag
    return JsonResponse({"serial": work.serial, "same": same})


@inject
def fail(request: HttpRequest, work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> None:
    work.add("fail")
    raise RuntimeError("handler failed")


@inject
def not_found(request: HttpRequest, work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> None:
    work.add("not found")
    raise Http404("no such note")  # Django answers it: a 404


@inject
def hang(request: HttpRequest, work: SyncUnitOfWork = Inject[SyncUnitOfWork]) -> HttpResponse:
    work.add("hang")
    gate.holding += 1
    try:
        gate.release.wait(10)  # bounded: the test releases it after the client left
    finally:
        gate.holding -= 1
    return HttpResponse("too late")


@inject
async def async_hang(
    request: HttpRequest, work: SyncUnitOfWork = Inject[SyncUnitOfWork]
) -> HttpResponse:
    work.add("async hang")
    gate.holding += 1
    try:
        await asyncio.sleep(10)  # Django cancels the view when the client goes away
    finally:
        gate.holding -= 1
    return HttpResponse("too late")


@resource
class ExitMarker:
    """Writes a file when disposed: a sign, outside the process, that it closed."""

    path: Path | None = None

    def dispose(self) -> None:
        assert self.path is not None
        self.path.write_text("disposed")


@inject
def marker(request: HttpRequest, exit_marker: ExitMarker = Inject[ExitMarker]) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("add/<str:text>", add),
    path("async-add/<str:text>", async_add),
    path("fail", fail),
    path("not-found", not_found),
    path("hang", hang),
    path("async-hang", async_hang),
    path("marker", marker),
]


def main() -> None:  # pragma: no cover - runs in the subprocess
    import django
    import waitress
    from django.core.wsgi import get_wsgi_application

    os.environ["DJANGO_SETTINGS_MODULE"] = __name__
    django.setup()
    ExitMarker.path = Path(sys.argv[1])
    container.bind(ExitMarker, ExitMarker)
    app = get_wsgi_application()
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=4, _quiet=True)


if __name__ == "__main__":  # pragma: no cover
    main()
