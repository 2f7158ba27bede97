"""Optional framework integrations.

Each integration lives in its own submodule and is imported only when you import it,
so ``import injectq`` never pulls in a web framework or task queue:

- :mod:`injectq.integrations.fastapi`: ``setup_fastapi``, ``InjectAPI`` / ``InjectFastAPI``
  (``pip install injectq[fastapi]``);
- :mod:`injectq.integrations.taskiq`: ``setup_taskiq``, ``InjectTask`` / ``InjectTaskiq``
  (``pip install injectq[taskiq]``);
- :mod:`injectq.integrations.celery`: ``setup_celery`` (``pip install injectq[celery]``);
- :mod:`injectq.integrations.click`: ``setup_click``, ``setup_typer``
  (``pip install injectq[click]``);
- :mod:`injectq.integrations.otel`: ``instrument`` records the resource monitor's
  metrics through OpenTelemetry (``pip install injectq[otel]``).
"""
