"""Driver registry: the one list of runtimes, with their labels; everything else (the
choices of forms, serializers and API validation, the reconciler's orphan sweep) reads it.

Entries name their class as ``"module:Class"`` and are imported only when asked for, so
importing the registry never needs the Docker SDK or a running engine (a decorator on the
class would import every driver to build the list). Adding a runtime is one
``register_driver`` call here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy.drivers import config
from deploy.drivers.base import Driver, DriverError

try:  # labels are translated in the control plane; drivers also run without Django
    from django.utils.translation import gettext_lazy as _
except ImportError:  # pragma: no cover
    def _(text: str) -> str:  # type: ignore[misc]
        return text


@dataclass(frozen=True)
class DriverInfo:
    name: str
    target: str  # "module:Class"
    label: Any
    # Users may choose it (forms, API); a reserved seam is registered but not offered.
    available: bool = True


_DRIVERS: dict[str, DriverInfo] = {}


def register_driver(name: str, target: str, *, label: Any, available: bool = True) -> None:
    _DRIVERS[name] = DriverInfo(name, target, label, available)


register_driver("local", "deploy.drivers.local:LocalDriver", label=_("Local processes (embedded)"))
register_driver("docker", "deploy.drivers.docker:DockerDriver", label=_("Docker Engine"))
register_driver("kubernetes", "deploy.drivers.kubernetes:KubernetesDriver",
                label=_("Kubernetes"))

# Drivers a user can choose today (forms, serializers, API validation).
AVAILABLE_DRIVERS: tuple[str, ...] = tuple(n for n, d in _DRIVERS.items() if d.available)


def driver_choices() -> list[tuple[str, Any]]:
    """``(name, label)`` of every driver a user may choose."""
    return [(d.name, d.label) for d in _DRIVERS.values() if d.available]


_INSTANCES: dict[str, Driver] = {}
_DEFAULT_SETTINGS = (
    "BAAS_INSTALL_ID", "BAAS_NODES_DIR", "VAR_DIR", "BAAS_VAR_DIR", "DOCKER_HOST",
    "BAAS_DOCKER_HOST", "BAAS_NODE_IMAGE", "BAAS_LOCAL_PORT_RANGE",
    "BAAS_KUBE_KUBECONFIG", "BAAS_KUBE_CONTEXT", "BAAS_KUBE_NODE_IMAGE", "BAAS_KUBE_STORAGE_CLASS",
    "BAAS_KUBE_STORAGE_GB", "BAAS_KUBE_CONTROL_PLANE_NAMESPACE", "BAAS_KUBE_READY_TIMEOUT",
)


def get_driver(name: str, **options: object) -> Driver:
    """The driver called ``name``: one instance per process when built from its defaults
    (clients such as the Docker SDK's are costly to make on every reconciler pass), a new
    one when ``options`` are given.

    ``options`` go to the driver's constructor (e.g. ``nodes_dir=`` for local,
    ``base_url=``/``image=`` for docker, ``kubeconfig=``/``context=`` for kubernetes);
    without them each driver reads its defaults from Django settings when configured, else
    from the environment.
    """
    info = _DRIVERS.get(name)
    if info is None:
        raise DriverError(
            "driver_unknown",
            f"unknown driver {name!r}; choose one of {', '.join(AVAILABLE_DRIVERS)}",
        )
    key = _cache_key(name)
    if not options and key in _INSTANCES:
        return _INSTANCES[key]
    module_name, class_name = info.target.split(":")
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
    _NETWORK_INSTANCES.clear()


# How a network gets a driver of its own configuration (a ``kubernetes`` network on a
# registered cluster): the control plane installs a resolver at start-up
# (``deploy.apps`` -> ``deploy.selectors.cluster_driver_options``), so this package needs no
# Django. It answers None (the driver's defaults) or ``(slot, version, build)``: one cached
# driver per slot, rebuilt when ``version`` changes (rotated credentials), ``build()``
# giving the constructor's options.
NetworkOptions = Callable[[Any], "tuple[str, str, Callable[[], dict[str, Any]]] | None"]
_network_options: NetworkOptions | None = None
_NETWORK_INSTANCES: dict[str, tuple[str, Driver]] = {}


def set_network_options(resolver: NetworkOptions | None) -> None:
    global _network_options
    _network_options = resolver
    _NETWORK_INSTANCES.clear()


def driver_for(network: Any) -> Driver:
    """The driver a network was created on. Looked up through this module's attribute so
    tests can substitute one driver everywhere."""
    resolved = _network_options(network) if _network_options is not None else None
    if resolved is None:
        return get_driver(network.driver)
    slot, version, build = resolved
    key = f"{network.driver}|{slot}"
    cached = _NETWORK_INSTANCES.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    driver = get_driver(network.driver, **build())
    _NETWORK_INSTANCES[key] = (version, driver)  # replaces the one of older credentials
    return driver
