"""The ``injectq`` logger (InjectQ's ``injectq.utils.logging.logger``).

Every logger the library uses is a child of it (``injectq.resources``,
``injectq.integrations.fastapi``...), so a handler or level set here applies to all of
them. Like any library logger it carries a ``NullHandler`` and no level: nothing is
printed until the application configures logging.
"""

from __future__ import annotations

import logging

__all__ = ["logger"]

logger = logging.getLogger("injectq")
if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
    logger.addHandler(logging.NullHandler())
