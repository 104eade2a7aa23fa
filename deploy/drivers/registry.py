"""Driver registry: one name per runtime, resolved lazily so that importing the registry
never needs the Docker SDK or a running engine."""

from __future__ import annotations

import importlib
from typing import Any

from deploy.drivers import config
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


_INSTANCES: dict[str, Driver] = {}
_DEFAULT_SETTINGS = (
    "BAAS_INSTALL_ID", "BAAS_NODES_DIR", "VAR_DIR", "BAAS_VAR_DIR", "DOCKER_HOST",
    "BAAS_DOCKER_HOST", "BAAS_NODE_IMAGE", "BAAS_LOCAL_PORT_RANGE",
)


def get_driver(name: str, **options: object) -> Driver:
    """The driver called ``name``: one instance per process when built from its defaults
    (clients such as the Docker SDK's are costly to make on every reconciler pass), a new
    one when ``options`` are given.

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
    key = _cache_key(name)
    if not options and key in _INSTANCES:
        return _INSTANCES[key]
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    driver = cls(**options)
    if not options:
        _INSTANCES[key] = driver
    return driver


def _cache_key(name: str) -> str:
    # The settings a driver reads its defaults from: a changed setting (another install
    # id, nodes directory or engine) gets a fresh driver instead of a stale cached one.
    return "|".join([name, *(str(config.setting(s)) for s in _DEFAULT_SETTINGS)])


def reset_cache() -> None:
    """Forget cached drivers (tests that change driver settings call this)."""
    _INSTANCES.clear()


def driver_for(network: Any) -> Driver:
    """The driver a network was created on. Looked up through this module's attribute so
    tests can substitute one driver everywhere."""
    return get_driver(network.driver)
