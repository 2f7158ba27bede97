"""The demo app's container and one request: the bindings, ``app()`` and ``handle_request``.

``app`` is what ``injectq check|graph|health|resources injectq.cli.demo:app`` loads; the
driver runs ``handle_request`` concurrently. Separate from the resources it binds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from injectq import (
    InjectQ,
    ResourceDisposalError,
    ResourceInitializationError,
)
from injectq.cli.demo.config import (
    PRODUCTS,
    DemoConfig,
    FailurePlan,
    RequestContext,
    current_request,
)
from injectq.cli.demo.server import LocalHttpServer
from injectq.cli.demo.services import (
    AuditTrail,
    DatabasePool,
    HttpClient,
    Recommendations,
    RequestLog,
    UnitOfWork,
)

# ------------------------------------------------------------------------ the app


def build_container(config: DemoConfig) -> InjectQ:
    """The demo's container: the app-wide singletons and the request-scoped resources."""
    container = InjectQ()
    container.bind_instance(DemoConfig, config)
    for singleton in (LocalHttpServer, HttpClient, DatabasePool, RequestLog):
        container.bind(singleton, singleton)
    for scoped in (RequestContext, UnitOfWork, AuditTrail, Recommendations):
        container.bind(scoped, scoped, scope="request")
    return container


def app() -> InjectQ:
    """The demo's container, for ``injectq check|graph|health|resources
    injectq.cli.demo:app``: its files go to a fresh temporary directory (left for you to
    look at; nothing is written until a resource starts)."""
    workdir = Path(tempfile.mkdtemp(prefix="injectq-demo-"))
    return build_container(DemoConfig(workdir, FailurePlan.build(0, 7)))


@dataclass
class RequestOutcome:
    """What happened to one request (the report counts these)."""

    request_id: int
    degraded: bool = False
    init_error: str | None = None
    dispose_errors: list[str] = field(default_factory=list)
    error: str | None = None
    recommended: list[int] = field(default_factory=list)


async def handle_request(container: InjectQ, request_id: int) -> RequestOutcome:
    """One simulated request, in its own request scope."""
    outcome = RequestOutcome(request_id)
    token = current_request.set(request_id)
    try:
        async with container.scope("request"):
            ctx = await container.aget(RequestContext)
            ctx.request_id = request_id
            uow = await container.aget(UnitOfWork)
            audit = await container.aget(AuditTrail)
            http = await container.aget(HttpClient)
            product_id = 1 + (request_id * 7) % PRODUCTS
            stock = await http.get_json(f"/inventory/{product_id}")
            name, price = uow.product(product_id)
            quantity = 1 + request_id % 3
            uow.add_order(product_id, quantity)
            audit.record(f"order {name} x{quantity} at {price:.2f} (stock {stock['in_stock']})")
            try:
                recommendations = await container.aget(Recommendations)
                outcome.recommended = recommendations.products
            except ResourceInitializationError as exc:
                # graceful degradation: the engine is down, recommend local best sellers
                outcome.degraded = True
                outcome.init_error = f"{exc.__cause__!s}"
                outcome.recommended = uow.best_sellers(3)
            audit.record(f"recommended {outcome.recommended}" + (" (fallback)" * outcome.degraded))
    except ResourceDisposalError as group:
        outcome.dispose_errors = [str(err) for err in group.exceptions]
    except Exception as exc:  # reported, counted as a failed request
        outcome.error = repr(exc)
    finally:
        current_request.reset(token)
    return outcome
