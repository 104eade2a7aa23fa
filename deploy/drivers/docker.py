"""The Docker driver: one container per node on one user-defined bridge per ledger network.

What it creates, all labelled ``baas.install``, ``baas.tenant``, ``baas.network`` (and
``baas.node`` for per-node things) so ``list_owned`` and ``delete_network`` find exactly
what this platform install made and nothing else:

* bridge network ``baas-net-<network_id>``; each node is reachable on it under its planned
  DNS name (``node<index>``), which is what the other validators dial;
* volume ``baas-node-<node_id>`` mounted at ``/node``: the node home and chain data. The
  home files are copied in with ``put_archive`` before the first start;
* container ``baas-node-<node_id>`` from the node image of the network's pinned ledger
  version (``scripts/build-node-image.sh`` labels each image ``baas.ledger-hash=<version>``
  and tags it ``<repo>:ledger-<version>`` besides the configured tag), with CPU and memory
  limits, restart policy ``unless-stopped``, and CometBFT's RPC (and, for nodes planned
  with a metrics port, CometBFT's Prometheus listener, port 26660 in the container)
  published on ``127.0.0.1:<random>`` so the control plane on the host can reach it.

Every Docker call has a timeout (the client's HTTP timeout); every SDK or engine error is
turned into ``DriverError`` with a stable code.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from deploy.drivers import config, runtimes
from deploy.drivers._files import check_id, home_path
from deploy.drivers._instrumentation import instrumented
from deploy.drivers.base import (
    DiskUsage,
    Driver,
    DriverError,
    NodeAddress,
    NodeSpec,
    NodeState,
    OwnedResource,
    Runtime,
    home_tree,
)

P2P_PORT, RPC_PORT, ABCI_PORT, METRICS_PORT = 26656, 26657, 26658, 26660
HOME = "/node"
LEDGER_HASH_LABEL = "baas.ledger-hash"  # set by scripts/build-node-image.sh
NODE_UID = 10001  # the image's unprivileged user; home files are owned by it
HOME_MARKER = ".baas-home-written"  # last member of the home archive: "the copy finished"
DEFAULT_IMAGE = "baas/node:latest"
IMAGE_LEDGER = "/opt/baas/ledger"  # where deploy/images/node puts ledger/ (PYTHONPATH)

# Labels: the ownership contract with list_owned / delete_network / the reconciler.
L_INSTALL, L_TENANT, L_NETWORK, L_NODE = "baas.install", "baas.tenant", "baas.network", "baas.node"


def network_name(network_id: str) -> str:
    return f"baas-net-{check_id('network id', network_id)}"


def node_name(node_id: str) -> str:
    return f"baas-node-{check_id('node id', node_id)}"


class DockerDriver(Driver):
    name = "docker"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        image: str | None = None,
        install_id: str | None = None,
        timeout: float = 30.0,
        stop_timeout: int = 15,
        entrypoint: list[str] | None = None,
    ):
        self.base_url = (
            base_url
            or config.setting("BAAS_DOCKER_HOST")
            or config.setting("DOCKER_HOST")
            or "unix:///var/run/docker.sock"
        )
        self.image = image or config.setting("BAAS_NODE_IMAGE") or DEFAULT_IMAGE
        self.install_id = install_id or config.install_id()
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        # None: the image's entrypoint (the real node). Tests may swap in a stand-in.
        self.entrypoint = entrypoint
        self._client: Any = None

    # --- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The SDK client, made on first use: making it already talks to the engine."""
        if self._client is None:
            import docker

            with self._errors("connect to the Docker engine"):
                self._client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
        return self._client

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Wrap every SDK / HTTP / OS error of ``action`` in a DriverError with a code."""
        import docker.errors
        import requests.exceptions

        try:
            yield
        except DriverError:
            raise
        except docker.errors.ImageNotFound as exc:
            raise DriverError(
                "image_missing",
                f"{action}: node image {self.image!r} is not "
                "present; build it with scripts/build-node-image.sh",
            ) from exc
        except docker.errors.NotFound as exc:
            raise DriverError("not_found", f"{action}: {_explain(exc)}") from exc
        except (requests.exceptions.Timeout, TimeoutError) as exc:
            raise DriverError(
                "driver_timeout",
                f"{action}: the Docker engine did not answer within {self.timeout:g}s",
            ) from exc
        except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
            raise DriverError(
                "driver_unavailable", f"{action}: cannot reach the Docker engine at {self.base_url}"
            ) from exc
        except docker.errors.APIError as exc:
            raise DriverError("driver_error", f"{action}: {_explain(exc)}") from exc
        except docker.errors.DockerException as exc:
            # The client constructor asks the engine for its API version and wraps whatever
            # went wrong (missing socket, refused, no answer) in this one type.
            text = str(exc)
            if "timed out" in text.lower():
                raise DriverError(
                    "driver_timeout",
                    f"{action}: the Docker engine at "
                    f"{self.base_url} did not answer within "
                    f"{self.timeout:g}s",
                ) from exc
            if "connect" in text.lower() or "Error while fetching server API version" in text:
                raise DriverError(
                    "driver_unavailable",
                    f"{action}: cannot reach the Docker engine at {self.base_url}: {text}",
                ) from exc
            raise DriverError("driver_error", f"{action}: {text}") from exc

    def _labels(
        self, *, install_id: str, tenant_id: str, network_id: str, node_id: str | None = None
    ) -> dict[str, str]:
        labels = {L_INSTALL: install_id, L_TENANT: tenant_id, L_NETWORK: network_id}
        if node_id is not None:
            labels[L_NODE] = node_id
        return labels

    def _get(self, collection: Any, name: str) -> Any | None:
        import docker.errors

        with self._errors(f"look up {name}"):
            try:
                return collection.get(name)
            except docker.errors.NotFound:
                return None

    def _owned(self, obj: Any, network_id: str) -> bool:
        """Only touch objects that carry our install and network labels, whatever the name."""
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        return labels.get(L_INSTALL) == self.install_id and labels.get(L_NETWORK) == network_id

    # --- planning ------------------------------------------------------------------------

    def plan_node(self, *, network_id: str, index: int) -> NodeAddress:
        check_id("network id", network_id)
        if index < 0:
            raise DriverError("invalid_spec", f"node index {index} must be >= 0")
        # Every container has its own network namespace, so all nodes use the same ports and
        # differ by DNS name on their network's own bridge.
        return NodeAddress(
            host=f"node{index}", p2p_port=P2P_PORT, rpc_port=RPC_PORT, abci_port=ABCI_PORT,
            metrics_port=METRICS_PORT,
        )

    def plan_network(self, *, network_id: str, validators: int) -> list[NodeAddress]:
        if validators < 1:
            raise DriverError("invalid_spec", "a network needs at least one validator")
        return [self.plan_node(network_id=network_id, index=i) for i in range(validators)]

    def prepare_network(self, *, install_id: str, tenant_id: str, network_id: str) -> None:
        name = network_name(network_id)
        existing = self._get(self.client.networks, name)
        if existing is not None:
            return
        import docker.errors

        with self._errors(f"create network {name}"):
            try:
                self.client.networks.create(
                    name,
                    driver="bridge",
                    check_duplicate=True,
                    labels=self._labels(
                        install_id=install_id, tenant_id=tenant_id, network_id=network_id
                    ),
                )
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: a concurrent task made it first
                    raise

    # --- node lifecycle ------------------------------------------------------------------

    def apply_node(self, spec: NodeSpec) -> NodeState:
        name = node_name(spec.node_id)
        # validates paths before touching Docker
        archive = _home_archive(_instrumented_home(spec))
        if not 0 < spec.cpu_limit <= 64 or not 64 <= spec.memory_mb <= 1024 * 1024:
            raise DriverError(
                "invalid_spec",
                f"cpu_limit {spec.cpu_limit} must be in (0, 64] "
                f"and memory_mb {spec.memory_mb} in [64, 1048576]",
            )
        version = spec.ledger_version or runtimes.current_version()
        container = self._get(self.client.containers, name)
        if container is not None and not self._owned(container, spec.network_id):
            raise DriverError(
                "name_conflict",
                f"a container named {name} exists but is not "
                f"labelled as node {spec.node_id} of this install and network",
            )
        if container is not None and container_version(container) != version:
            # A network upgrade: the container goes, its volume (home, chain data) stays.
            if self._state(container, spec.node_id).running:
                raise DriverError(
                    "runtime_mismatch",
                    f"node {spec.node_id} runs ledger {container_version(container)}, not "
                    f"{version}; stop it before moving it to another version",
                )
            self._remove(container, f"remove container {name} for ledger {version}")
            container = None
        if container is None:
            image = self._find_image(version, spec.runtime_ref)
            self.prepare_network(
                install_id=spec.install_id, tenant_id=spec.tenant_id, network_id=spec.network_id
            )
            container = self._create(spec, name, image.id)
        # Also for a container that already exists: a worker killed between creating it
        # and copying the home leaves one with an empty volume, which would never serve.
        if not self._home_written(container):
            with self._errors(f"copy the home files into {name}"):
                container.put_archive(HOME, archive)
        state = self._state(container, spec.node_id)
        if state.running:
            return state
        return self._start(container, spec.node_id)

    def version_tag(self, version: str) -> str:
        """``<repo>:ledger-<version>``: where the image build keeps each version's image."""
        repo = self.image.split("@", 1)[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        return f"{repo}:ledger-{runtimes.check_version(version)}"

    def _find_image(self, version: str, ref: str = "") -> Any:
        """The image of ledger ``version``: the one the network recorded (``ref``) if it is
        still here, else the version's tag, else the configured image -- each only if its
        ``baas.ledger-hash`` label says ``version``. Nodes of one network that execute
        blocks with different code part on the app hash, so no other image is ever used."""
        import docker.errors

        seen: dict[str, str] = {}
        for name in [n for n in (ref, self.version_tag(version), self.image) if n]:
            with self._errors(f"look up the node image {name}"):
                try:
                    image = self.client.images.get(name)
                except docker.errors.ImageNotFound:
                    continue
            built_from = (image.labels or {}).get(LEDGER_HASH_LABEL)
            if built_from == version:
                return image
            seen[name] = built_from or f"no {LEDGER_HASH_LABEL} label"
        if seen:
            found = ", ".join(f"{n} is {v}" for n, v in seen.items())
            raise DriverError(
                "image_stale",
                f"no node image of ledger {version} ({found}); build one from that "
                "ledger/ with scripts/build-node-image.sh",
            )
        raise DriverError(
            "image_missing",
            f"no node image of ledger {version} ({self.version_tag(version)} and "
            f"{self.image!r} are not present); build it with scripts/build-node-image.sh",
        )

    def ensure_runtime(self, version: str) -> Runtime:
        image = self._find_image(version)
        tags = ", ".join(image.tags or []) or "untagged"
        return Runtime(version=version, ref=str(image.id), detail=f"image {tags}")

    def _create(self, spec: NodeSpec, name: str, image: str | None = None) -> Any:
        if image is None:  # the image of the spec's version, as apply_node finds it
            version = spec.ledger_version or runtimes.current_version()
            image = str(self._find_image(version, spec.runtime_ref).id)
        import docker.errors
        from docker.types import LogConfig

        labels = self._labels(
            install_id=spec.install_id,
            tenant_id=spec.tenant_id,
            network_id=spec.network_id,
            node_id=spec.node_id,
        )
        net = network_name(spec.network_id)
        volume = name  # one volume per node, named like its container
        with self._errors(f"create volume {volume}"):
            if self._get(self.client.volumes, volume) is None:
                self.client.volumes.create(name=volume, driver="local", labels=labels)
        with self._errors(f"create container {name}"):
            try:
                return self.client.containers.create(
                    image,
                    name=name,
                    hostname=spec.address.host,
                    labels=labels,
                    volumes={volume: {"bind": HOME, "mode": "rw"}},
                    network=net,
                    networking_config={
                        net: self.client.api.create_endpoint_config(aliases=[spec.address.host])
                    },
                    ports=_published(spec),
                    nano_cpus=int(spec.cpu_limit * 1e9),
                    mem_limit=f"{spec.memory_mb}m",
                    restart_policy={"Name": "unless-stopped"},
                    log_config=LogConfig(
                        type="json-file", config={"max-size": "10m", "max-file": "3"}
                    ),
                    environment={"LEDGER_LOG_LEVEL": "INFO"},
                    entrypoint=self.entrypoint,
                    # tini as PID 1: forwards SIGTERM to the node (PID 1 would ignore a signal it
                    # has no handler for yet) and reaps the node's exited children.
                    init=True,
                    # The node needs no privileges: no capabilities, no setuid escalation, and a cap
                    # on processes/threads (CometBFT's Go runtime threads count too).
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    pids_limit=512,
                )
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # a concurrent apply created it first
                    raise
                return self.client.containers.get(name)

    def _home_written(self, container: Any) -> bool:
        """True when the volume already holds a complete home (e.g. the container was
        recreated over a kept volume): never overwrite keys or the validator's sign state."""
        import docker.errors

        with self._errors("inspect the node home"):
            try:
                container.get_archive(f"{HOME}/{HOME_MARKER}")
            except docker.errors.NotFound:
                return False
        return True

    def _start(self, container: Any, node_id: str) -> NodeState:
        with self._errors(f"start container {container.name}"):
            try:
                container.start()
            except Exception as exc:  # the engine explains port or resource conflicts
                import docker.errors

                if isinstance(exc, docker.errors.APIError):
                    raise DriverError(
                        "node_start_failed",
                        f"container {container.name} did not start: {_explain(exc)}",
                    ) from exc
                raise
            container.reload()
        return self._state(container, node_id)

    def start_node(self, *, network_id: str, node_id: str) -> NodeState:
        container = self._node_container(network_id, node_id)
        if container is None:
            raise DriverError(
                "node_not_found", f"node {node_id} of network {network_id} has no container"
            )
        state = self._state(container, node_id)
        return state if state.running else self._start(container, node_id)

    def stop_node(self, *, network_id: str, node_id: str) -> None:
        container = self._node_container(network_id, node_id)
        if container is not None:
            # SIGTERM, then SIGKILL after stop_timeout; an explicit stop also keeps Docker's
            # restart policy from bringing it back.
            with self._errors(f"stop container {container.name}"):
                container.stop(timeout=self.stop_timeout)

    def _node_container(self, network_id: str, node_id: str) -> Any | None:
        container = self._get(self.client.containers, node_name(node_id))
        if container is not None and not self._owned(container, network_id):
            return None  # same name, not ours (other install or network): leave it alone
        return container

    def delete_node(self, *, network_id: str, node_id: str) -> None:
        container = self._node_container(network_id, node_id)
        if container is not None:
            self._remove(container, f"remove container {container.name}", force=True, v=True)
        volume = self._get(self.client.volumes, node_name(node_id))
        if volume is not None and self._owned(volume, network_id):
            self._remove(volume, f"remove volume {volume.name}", force=True)

    def delete_network(self, *, network_id: str) -> None:
        check_id("network id", network_id)
        filters = {"label": [f"{L_INSTALL}={self.install_id}", f"{L_NETWORK}={network_id}"]}
        with self._errors(f"list the containers of network {network_id}"):
            containers = self.client.containers.list(all=True, filters=filters)
        for container in containers:
            self._remove(container, f"remove container {container.name}", force=True, v=True)
        with self._errors(f"list the volumes of network {network_id}"):
            volumes = self.client.volumes.list(filters=filters)
        for volume in volumes:
            self._remove(volume, f"remove volume {volume.name}", force=True)
        with self._errors(f"list the networks of network {network_id}"):
            networks = self.client.networks.list(filters=filters)
        for net in networks:
            self._remove(net, f"remove network {net.name}")

    def _remove(self, obj: Any, action: str, **kwargs: Any) -> None:
        import docker.errors

        with self._errors(action):
            for attempt in range(5):
                try:
                    obj.remove(**kwargs)
                    return
                except docker.errors.NotFound:
                    return  # already gone: delete is idempotent
                except docker.errors.APIError as exc:
                    # A volume or network can be "in use" for a moment after its container
                    # was removed; anything else, or a lasting conflict, is an error.
                    if exc.status_code != 409 or attempt == 4:
                        raise
                    time.sleep(0.5)

    # --- copies of a node's data ------------------------------------------------------------

    def export_node_home(self, *, network_id: str, node_id: str, dest: Path) -> None:
        container = self._node_container(network_id, node_id)
        if container is None:
            raise DriverError("node_not_found",
                              f"node {node_id} of network {network_id} has no container")
        if self._state(container, node_id).running:
            raise DriverError("node_running",
                              f"node {node_id} runs; stop it before copying its data")
        Path(dest).mkdir(parents=True, mode=0o700)
        # get_archive works on a stopped container: the volume is read through it.
        with tempfile.TemporaryFile() as spool:
            with self._errors(f"copy the home of {container.name}"):
                stream, _stat = container.get_archive(f"{HOME}/.")
                for chunk in stream:
                    spool.write(chunk)
            spool.seek(0)
            _extract_home(spool, Path(dest))

    def import_node(self, spec: NodeSpec, source: Path) -> NodeState:
        name = node_name(spec.node_id)
        container = self._get(self.client.containers, name)
        if container is not None and not self._owned(container, spec.network_id):
            raise DriverError("name_conflict", f"a container named {name} exists but is not "
                              f"labelled as node {spec.node_id} of this install and network")
        if container is None:
            version = spec.ledger_version or runtimes.current_version()
            image = self._find_image(version, spec.runtime_ref)
            self.prepare_network(install_id=spec.install_id, tenant_id=spec.tenant_id,
                                 network_id=spec.network_id)
            container = self._create(spec, name, image.id)
        if not self._home_written(container):
            with tempfile.TemporaryFile() as spool:
                _home_tar_from(Path(source), _instrumented_home(spec), spool)
                spool.seek(0)
                with self._errors(f"copy the restored home into {name}"):
                    container.put_archive(HOME, spool)
        state = self._state(container, spec.node_id)
        return state if state.running else self._start(container, spec.node_id)

    def ledger_source(self, version: str, dest: Path) -> None:
        """The ``ledger/`` the node image of ``version`` runs (``/opt/baas/ledger``), read
        from a container created for the copy and removed afterwards."""
        image = self._find_image(version)
        with self._errors("copy the ledger out of the node image"):
            # Labelled as ours (no network, no node): one a killed worker left behind is
            # found by `docker ps -a --filter label=baas.helper=ledger-source`.
            container = self.client.containers.create(
                image.id, entrypoint=["true"],
                labels={L_INSTALL: self.install_id, "baas.helper": "ledger-source"})
            try:
                stream, _stat = container.get_archive(f"{IMAGE_LEDGER}/.")
                with tempfile.TemporaryFile() as spool:
                    for chunk in stream:
                        spool.write(chunk)
                    spool.seek(0)
                    _extract_home(spool, Path(dest) / "ledger")
            finally:
                container.remove(force=True)

    # --- observation ---------------------------------------------------------------------

    def _state(self, container: Any, node_id: str) -> NodeState:
        attrs = container.attrs
        state = attrs.get("State", {})
        running = bool(state.get("Running")) and not state.get("Restarting")
        rpc_url = None
        bindings = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{RPC_PORT}/tcp")
        if bindings:
            rpc_url = f"http://{bindings[0]['HostIp']}:{bindings[0]['HostPort']}"
        metrics_url = None
        published = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(
            f"{METRICS_PORT}/tcp")
        if published and running:
            metrics_url = f"http://{published[0]['HostIp']}:{published[0]['HostPort']}"
        detail = f"container {container.short_id} {state.get('Status', 'unknown')}"
        if not running:
            detail += f", exit code {state.get('ExitCode')}"
            if state.get("OOMKilled"):
                detail += ", killed for exceeding its memory limit"
            if state.get("Error"):
                detail += f": {state['Error']}"
        return NodeState(
            node_id=node_id,
            exists=True,
            running=running,
            rpc_url=rpc_url,
            detail=detail,
            restart_count=int(attrs.get("RestartCount", 0)),
            ledger_version=container_version(container),
            metrics_url=metrics_url,
        )

    def disk_usage(self, *, network_id: str) -> DiskUsage | None:
        """Bytes on disk of the network's node volumes (home and chain data), as the
        engine measures them (``/system/df``: the engine walks its volumes, so one call
        per network per sampling pass). None when the engine cannot tell a volume's size."""
        check_id("network id", network_id)
        with self._errors(f"measure the volumes of network {network_id}"):
            api = self.client.api
            # type=volume (API 1.42+) spares the engine sizing images and containers;
            # older engines ignore it and answer everything.
            usage = api._result(api._get(api._url("/system/df"), params={"type": "volume"}),
                                True)
        total, found = 0, False
        for volume in usage.get("Volumes") or []:
            labels = volume.get("Labels") or {}
            if labels.get(L_INSTALL) != self.install_id or labels.get(L_NETWORK) != network_id:
                continue
            size = int((volume.get("UsageData") or {}).get("Size", -1))
            if size < 0:  # the engine does not know (a volume driver that cannot say)
                return None
            total, found = total + size, True
        return DiskUsage(bytes=total, kind="used") if found else None

    def inspect_node(self, *, network_id: str, node_id: str) -> NodeState:
        container = self._node_container(network_id, node_id)
        if container is None:
            return NodeState(
                node_id=node_id, exists=False, running=False, rpc_url=None, detail="no container"
            )
        return self._state(container, node_id)

    def logs(self, *, network_id: str, node_id: str, tail: int = 200) -> str:
        container = self._node_container(network_id, node_id)
        if container is None:
            raise DriverError(
                "node_not_found", f"node {node_id} of network {network_id} has no container"
            )
        with self._errors(f"read the logs of {container.name}"):
            raw = container.logs(stdout=True, stderr=True, tail=max(0, int(tail)))
        return raw.decode(errors="replace")

    def list_owned(self, *, install_id: str) -> list[OwnedResource]:
        filters = {"label": [f"{L_INSTALL}={install_id}"]}
        owned: list[OwnedResource] = []
        with self._errors("list owned resources"):
            for kind, items in (
                ("network", self.client.networks.list(filters=filters)),
                ("volume", self.client.volumes.list(filters=filters)),
                ("container", self.client.containers.list(all=True, filters=filters)),
            ):
                for item in items:
                    labels = (
                        item.attrs.get("Labels") or item.attrs.get("Config", {}).get("Labels") or {}
                    )
                    owned.append(
                        OwnedResource(kind, item.name, labels.get(L_NETWORK), labels.get(L_NODE))
                    )
        return owned

    def check(self) -> None:
        """The engine answers and the configured node image exists. Whether an image of a
        network's own ledger version is here is ``ensure_runtime``'s answer."""
        with self._errors("ping the Docker engine"):
            self.client.ping()
        with self._errors("look up the node image"):
            self.client.images.get(self.image)


def _instrumented_home(spec: NodeSpec) -> dict[str, bytes]:
    """The home with CometBFT's metrics on for a node planned with a metrics port: the
    listener on every address of the container's own network namespace, where only the
    published loopback port and the network's own bridge reach it."""
    port = spec.address.metrics_port
    return instrumented(home_tree(spec), listen=f":{port}" if port else None)


def _published(spec: NodeSpec) -> dict[str, Any]:
    ports: dict[str, Any] = {f"{RPC_PORT}/tcp": ("127.0.0.1", None)}
    if spec.address.metrics_port:
        ports[f"{spec.address.metrics_port}/tcp"] = ("127.0.0.1", None)
    return ports


def container_version(container: Any) -> str:
    """The ledger version a container runs: its image's label, which Docker copies into
    the container's own labels."""
    labels = container.attrs.get("Config", {}).get("Labels") or {}
    return str(labels.get(LEDGER_HASH_LABEL) or "")


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _home_archive(files: dict[str, bytes]) -> bytes:
    """A tar of the home files owned by the node user, keys unreadable to others, with a
    marker as the last member so a half-copied home is recognisable."""
    if not files:
        raise DriverError("invalid_spec", "home_files is empty")
    buf = io.BytesIO()
    now = int(time.time())
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        entries = sorted((str(home_path(rel)), content) for rel, content in files.items())
        for rel, content in entries + [(HOME_MARKER, b"")]:
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                d = "/".join(parts[:depth])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, now
                    info.uid = info.gid = NODE_UID
                    tar.addfile(info)
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(content), 0o600, now
            info.uid = info.gid = NODE_UID
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _extract_home(archive: Any, dest: Path) -> None:
    """Unpack Docker's tar of a directory into ``dest``: regular files and directories
    only, every path checked to stay inside ``dest``."""
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            # The engine names the copied directory "." (path "/node/.") or by its base name.
            if parts and parts[0] in (".", PurePosixPath(HOME).name):
                parts = parts[1:]
            if not parts or any(p in ("..", "") for p in parts) or parts[0] == HOME_MARKER \
                    or member.name.startswith("/"):
                continue
            target = dest.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                target.chmod(0o600)


def _home_tar_from(source: Path, files: dict[str, bytes], out: Any) -> None:
    """A home tar like ``_home_archive``: the copied files under ``source`` (chain data),
    then ``files`` (config and keys, which win), then the marker."""
    now = int(time.time())
    given = {str(home_path(rel)): content for rel, content in files.items()}
    with tarfile.open(fileobj=out, mode="w") as tar:
        for item in sorted(source.rglob("*")):
            rel = item.relative_to(source).as_posix()
            if item.is_symlink() or rel in given:
                continue
            info = tarfile.TarInfo(rel)
            info.uid = info.gid = NODE_UID
            info.mtime = now
            if item.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
            elif item.is_file():
                info.size, info.mode = item.stat().st_size, 0o600
                with open(item, "rb") as fh:
                    tar.addfile(info, fh)
        for rel, content in sorted(given.items()) + [(HOME_MARKER, b"")]:
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(content), 0o600, now
            info.uid = info.gid = NODE_UID
            tar.addfile(info, io.BytesIO(content))
