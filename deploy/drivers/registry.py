"""Driver registry: one name per runtime, resolved lazily so that importing the registry
never needs the Docker SDK or a running engine."""

from __future__ import annotations

import importlib

from deploy.drivers.base import Driver, DriverError

# name -> "module:class"; drivers are imported only when asked for.
_DRIVERS: dict[str, str] = {
    "local": "deploy.drivers.local:LocalDriver",
    "docker": "deploy.drivers.docker:DockerDriver",
    # Reserved seam for the Kubernetes issue: asking for it raises driver_not_implemented.
    "kubernetes": "deploy.drivers.kubernetes:KubernetesDriver",
}

# Drivers a user can choose today (forms, serializers, API validation).
AVAILABLE_DRIVERS: tuple[str, ...] = ("local", "docker")


def get_driver(name: str, **options: object) -> Driver:
    """Instantiate the driver called ``name``.

    ``options`` go to the driver's constructor (e.g. ``nodes_dir=`` for local,
    ``base_url=``/``image=`` for docker); without them each driver reads its defaults from
    Django settings when configured, else from the environment.
    """
    target = _DRIVERS.get(name)
    if target is None:
        raise DriverError(
            "driver_unknown",
            f"unknown driver {name!r}; choose one of {', '.join(AVAILABLE_DRIVERS)}",
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
