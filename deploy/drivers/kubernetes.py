"""Placeholder for the Kubernetes driver (its own issue). Asking for it fails clearly."""

from __future__ import annotations

from deploy.drivers.base import DriverError


class KubernetesDriver:
    name = "kubernetes"

    def __init__(self, **options: object):
        raise DriverError("driver_not_implemented", "the kubernetes driver is not implemented yet")
