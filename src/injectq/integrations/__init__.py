"""Optional framework integrations.

Each integration lives in its own submodule and is imported only when you import it,
so ``import injectq`` never pulls in a web framework, task queue or MCP server:

- :mod:`injectq.integrations.fastapi`: ``setup_fastapi``, ``InjectAPI`` / ``InjectFastAPI``
  (``pip install injectq[fastapi]``);
- :mod:`injectq.integrations.taskiq`: ``setup_taskiq``, ``InjectTask`` / ``InjectTaskiq``
  (``pip install injectq[taskiq]``);
- :mod:`injectq.integrations.fastmcp`: ``setup_mcp``, ``InjectMCP``,
  ``InjectQMCPMiddleware`` (``pip install injectq[fastmcp]``);
- :mod:`injectq.integrations.otel`: ``instrument`` records the resource monitor's
  metrics through OpenTelemetry (``pip install injectq[otel]``).
"""
