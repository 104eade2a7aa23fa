"""The one interface every node runtime implements (local processes, Docker, Kubernetes).

The control plane (``deploy/services.py``, ``deploy/tasks.py``) only ever talks to a
``Driver``: it plans addresses, hands over a ``NodeSpec`` with the node's home files and asks
for actual state back. Drivers are idempotent (a Celery task may run twice), label or record
everything they create with the platform install id so ``list_owned`` can find orphans, put
a timeout on every external call, and wrap every SDK or OS error in ``DriverError`` with a
stable ``code`` that the API and the portal can show.

This module must not import Django: drivers are also used by scripts and benchmarks.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class NodeAddress:
    """Where a node listens, as its peers and the platform reach it."""

    host: str  # local: "127.0.0.1"; docker: the container's DNS name on the network's bridge
    p2p_port: int
    rpc_port: int
    abci_port: int
    # CometBFT's Prometheus listener (``[instrumentation]``); 0: the node was planned before
    # metrics existed and has none.
    metrics_port: int = 0


@dataclass(frozen=True)
class NodeSpec:
    install_id: str  # platform install id (settings.BAAS_INSTALL_ID), for ownership labels
    tenant_id: str
    network_id: str  # UUID string
    node_id: str  # UUID string
    index: int
    moniker: str
    address: NodeAddress
    # relative path -> content: the node home made by ledger.network.generate_network
    # (node.json, cometbft/config/*). Written only when the node is first created.
    home_files: dict[str, bytes] = field(repr=False)
    # The private keys of the home (validator key, node key, ...), kept apart so a runtime
    # can store them its own way (a cluster: an encrypted Secret unsealed in the pod); they
    # belong at the same relative paths. Never logged, never put in an environment variable.
    secret_files: dict[str, bytes] = field(default_factory=dict, repr=False)
    cpu_limit: float = 1.0
    memory_mb: int = 512
    # The ledger version (16-hex ``ledger/`` hash, see ``deploy.drivers.runtimes``) the node
    # runs: the network's pinned version, never simply the control plane's. Empty only for
    # scripts and benchmarks: the control plane's current version then.
    ledger_version: str = ""
    # The driver's own reference of that runtime as ``ensure_runtime`` returned it when the
    # network recorded it (docker: the image id); a hint, the version is what is enforced.
    runtime_ref: str = ""
    # The tenant that owns the network (empty: ``tenant_id``). Differs from ``tenant_id``
    # for a consortium member's validator: its own objects carry the member's label, the
    # network's shared ones (namespace, policies, budgets) keep the owner's.
    network_tenant_id: str = ""

    @property
    def owner_tenant_id(self) -> str:
        return self.network_tenant_id or self.tenant_id


def home_tree(spec: NodeSpec) -> dict[str, bytes]:
    """Every file of the node's home, for runtimes that write the home as one tree."""
    return {**spec.home_files, **spec.secret_files}


@dataclass(frozen=True)
class Runtime:
    """What ``Driver.ensure_runtime`` found for a ledger version."""

    version: str
    ref: str  # local: "runtime-store:<version>"; docker: the image id (sha256:...)
    detail: str = ""  # human readable: a path, an image tag


@dataclass(frozen=True)
class NodeState:
    node_id: str
    exists: bool
    running: bool
    rpc_url: str | None  # reachable FROM THE CONTROL PLANE (host): e.g. http://127.0.0.1:PORT
    detail: str = ""  # pid / container id / exit code, human readable
    restart_count: int = 0
    ledger_version: str = ""  # the version the node was last applied with ("" if unknown)
    # CometBFT's Prometheus endpoint, reachable from the control plane like ``rpc_url``
    # (e.g. http://127.0.0.1:PORT); None when the node has none or does not run.
    metrics_url: str | None = None


@dataclass(frozen=True)
class DiskUsage:
    """Disk of a network's nodes as a runtime can tell it. ``kind`` says what the number
    is: ``used`` (bytes on disk, measured) or ``requested`` (capacity asked for, e.g. a
    Kubernetes claim: not what is used)."""

    bytes: int
    kind: str  # "used" | "requested"


@dataclass(frozen=True)
class OwnedResource:
    kind: str  # "process" | "container" | "network" | "volume" | "dir"
    name: str
    network_id: str | None
    node_id: str | None


class DriverError(Exception):
    """Every SDK / OS error leaves a driver as this, with a stable machine-readable code.

    Codes in use: ``driver_unknown``, ``driver_not_implemented``, ``driver_unavailable``
    (engine down or unreachable), ``driver_timeout``, ``image_missing``, ``ports_exhausted``,
    ``port_in_use``, ``node_not_found``, ``node_start_failed``, ``invalid_spec``,
    ``runtime_missing`` (no runtime of the asked ledger version here), ``image_stale`` (an
    image of another ledger version), ``runtime_mismatch`` (a running node asked to run
    another version: stop it first), ``node_running`` (a copy of a node's data asked of a
    running node), ``driver_error`` (anything else).
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Driver(abc.ABC):
    name: str

    @abc.abstractmethod
    def plan_network(self, *, network_id: str, validators: int) -> list[NodeAddress]:
        """Addresses for ``validators`` nodes: collision-free ports (local) / names (docker)."""

    @abc.abstractmethod
    def plan_node(self, *, network_id: str, index: int) -> NodeAddress:
        """The address for one more validator added to an existing network."""

    @abc.abstractmethod
    def prepare_network(self, *, install_id: str, tenant_id: str, network_id: str) -> None:
        """Idempotent: shared resources of a network (docker: the bridge network)."""

    @abc.abstractmethod
    def ensure_runtime(self, version: str) -> Runtime:
        """Make sure nodes of ledger ``version`` can start here, or raise
        ``DriverError("runtime_missing" | "image_stale" | "image_missing", ...)`` naming it.

        Every driver answers it (the version check is part of the contract, not one
        runtime's habit): local keeps a copy of each version's ``ledger/`` it still needs,
        docker finds an image labelled with that version. Idempotent and cheap when the
        runtime is already there."""

    @abc.abstractmethod
    def apply_node(self, spec: NodeSpec) -> NodeState:
        """Idempotent create-or-start; writes ``home_files`` only on first create.

        The node runs ``spec.ledger_version`` (through ``ensure_runtime``). A stopped node
        last applied with another version is moved to this one, keeping its home and chain
        data (a network upgrade); a running one raises ``runtime_mismatch``."""

    @abc.abstractmethod
    def stop_node(self, *, network_id: str, node_id: str) -> None: ...

    @abc.abstractmethod
    def start_node(self, *, network_id: str, node_id: str) -> NodeState: ...

    @abc.abstractmethod
    def delete_node(self, *, network_id: str, node_id: str) -> None:
        """Idempotent; removes the node's data too."""

    @abc.abstractmethod
    def inspect_node(self, *, network_id: str, node_id: str) -> NodeState: ...

    @abc.abstractmethod
    def delete_network(self, *, network_id: str) -> None:
        """Idempotent; removes everything this driver made for the network, and only that."""

    @abc.abstractmethod
    def list_owned(self, *, install_id: str) -> list[OwnedResource]: ...

    @abc.abstractmethod
    def logs(self, *, network_id: str, node_id: str, tail: int = 200) -> str: ...

    @abc.abstractmethod
    def check(self) -> None:
        """Raises ``DriverError("driver_unavailable", ...)`` if the runtime cannot be used."""

    def disk_usage(self, *, network_id: str) -> DiskUsage | None:
        """The disk of the network's nodes, or None where this runtime cannot tell it
        (never an estimate)."""
        return None

    # --- copies of a node's data (export, backup, restore: the ``archives`` app) -----------
    # Not abstract: a runtime that cannot copy a node's disk says so with a clear error
    # (``driver_not_implemented``) instead of failing halfway through a backup.

    def export_node_home(self, *, network_id: str, node_id: str, dest: Path) -> None:
        """Copy the whole home of a STOPPED node into the new directory ``dest``: config,
        genesis, keys, CometBFT's chain data and the app state, as the node left them (one
        consistent height). A running node is refused (``node_running``): a copy taken
        under a writing node is not consistent."""
        raise DriverError("driver_not_implemented",
                          f"the {self.name} driver cannot copy a node's chain data")

    def import_node(self, spec: NodeSpec, source: Path) -> NodeState:
        """Create the node of ``spec`` with the chain data of an earlier copy and start it.

        ``spec.home_files`` / ``secret_files`` (config, genesis, keys) win; every other file
        under ``source`` (``cometbft/data/...``, ``app/...``) is copied in before the first
        start, all or nothing: a node that exists already is only started."""
        raise DriverError("driver_not_implemented",
                          f"the {self.name} driver cannot create a node from a copy")

    def ledger_source(self, version: str, dest: Path) -> None:
        """Copy the ``ledger/`` package of ``version`` (with its generated types) to
        ``dest/ledger``, so an export can run without this platform."""
        raise DriverError("driver_not_implemented",
                          f"the {self.name} driver cannot hand out its ledger runtime")


def get_driver(name: str, **options: object) -> Driver:
    """Registry look-up by name; see ``deploy.drivers.registry``."""
    from deploy.drivers.registry import get_driver as _get_driver

    return _get_driver(name, **options)
