"""Resources: the add-ons on the state machine (pools, health, decorators) and the public
names of the resource API; the state machine itself is :mod:`injectq.lifecycle`."""

from injectq.lifecycle.machine import resource_spec
from injectq.lifecycle.monitor import ResourceEvent, ResourceMonitor, logging_subscriber
from injectq.resources.decorators import managed_resource, resource
from injectq.resources.health import HealthResult, ResourceHealthChecker
from injectq.resources.pool import PoolCheckout, PoolStats, ResourcePool

# A pool is a resource: prepare it now, not when a container first meets one, so its
# initialize()/dispose() join the state machine the same way in every program.
resource_spec(ResourcePool)

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
