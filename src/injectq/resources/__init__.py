"""Resources: the lifecycle state machine, decorators, pools, metrics and health."""

from injectq.resources.decorators import managed_resource, resource
from injectq.resources.health import HealthResult, ResourceHealthChecker
from injectq.resources.monitor import ResourceEvent, ResourceMonitor, logging_subscriber
from injectq.resources.pool import PoolCheckout, PoolStats, ResourcePool

__all__ = [
    "HealthResult",
    "PoolCheckout",
    "PoolStats",
    "ResourceEvent",
    "ResourceHealthChecker",
    "ResourceMonitor",
    "ResourcePool",
    "logging_subscriber",
    "managed_resource",
    "resource",
]
