"""Optional framework integrations.

Each integration lives in its own submodule and is imported only when you import it,
so ``import injectq`` never pulls in a web framework or task queue. What they share
(the request scope, the request's error, closing the container) is in ``_base``:

- :mod:`injectq.integrations.fastapi`: ``setup_fastapi``, ``InjectAPI`` / ``InjectFastAPI``
  (``pip install injectq[fastapi]``);
- :mod:`injectq.integrations.taskiq`: ``setup_taskiq``, ``InjectTask`` / ``InjectTaskiq``
  (``pip install injectq[taskiq]``);
- :mod:`injectq.integrations.starlette`: ``setup_starlette``, ``InjectQMiddleware`` for
  Starlette and any ASGI app (``pip install injectq[starlette]``);
- :mod:`injectq.integrations.flask`: ``setup_flask`` (``pip install injectq[flask]``);
- :mod:`injectq.integrations.django`: ``InjectQMiddleware`` with the
  ``INJECTQ_CONTAINER`` setting (``pip install injectq[django]``);
- :mod:`injectq.integrations.aiohttp`: ``setup_aiohttp`` (``pip install injectq[aiohttp]``);
- :mod:`injectq.integrations.litestar`: ``InjectQPlugin`` (``pip install injectq[litestar]``);
- :mod:`injectq.integrations.fastmcp`: ``setup_mcp``, ``InjectMCP``,
  ``InjectQMCPMiddleware`` (``pip install injectq[fastmcp]``);
- :mod:`injectq.integrations.celery`: ``setup_celery`` (``pip install injectq[celery]``);
- :mod:`injectq.integrations.click`: ``setup_click``, ``setup_typer``
  (``pip install injectq[click]``);
- :mod:`injectq.integrations.otel`: ``instrument`` records the resource monitor's
  metrics through OpenTelemetry (``pip install injectq[otel]``).
"""
