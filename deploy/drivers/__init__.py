"""Node runtimes behind one interface: see ``base.py``."""

from deploy.drivers.base import (
    DiskUsage,
    Driver,
    DriverError,
    NodeAddress,
    NodeSpec,
    NodeState,
    OwnedResource,
    Runtime,
    get_driver,
)
from deploy.drivers.registry import AVAILABLE_DRIVERS, driver_for

__all__ = [
    "AVAILABLE_DRIVERS",
    "DiskUsage",
    "Driver",
    "DriverError",
    "NodeAddress",
    "NodeSpec",
    "NodeState",
    "OwnedResource",
    "Runtime",
    "driver_for",
    "get_driver",
]
