"""The local driver: each node is a local process (``python -m ledger node --home HOME``).

Layout under the nodes dir (``settings.BAAS_NODES_DIR``, default ``var/nodes``)::

    <network_id>/plan.json            ports planned for the network (the port registry)
    <network_id>/network.json         owner: install id and tenant id (prepare_network)
    <network_id>/<node_id>/node.json  driver metadata: owner, index, address, start count
    <network_id>/<node_id>/home/      the node home (home_files from the spec)
    <network_id>/<node_id>/node.log   stdout + stderr of the node
    <network_id>/<node_id>/node.pid   pid, kernel start time, command line of the node
    .runtimes/<version>/ledger/       the ledger runtime store: one copy of ``ledger/`` per
                                      version a node here runs (``deploy.drivers.runtimes``)

Each node runs its network's pinned ledger version: ``node.json`` records it and the node
process gets ``PYTHONPATH=.runtimes/<version>``, so it imports that copy, not the control
plane's checkout. A version enters the store when it is first needed and is the control
plane's own ``ledger/`` then; the store keeps it while any node here still records it.

Node RPC is not on TCP: each node's CometBFT serves RPC on a Unix socket
(``rpc.laddr = "unix://…"``) in a directory only the platform's user can open (0700:
``<nodes dir>/.rpc/``, or ``$TMPDIR/baas-rpc-<uid>-<hash>/`` when that path would pass the
socket path limit), so other local users and their processes cannot read or write any
tenant's chain through it. The node's ``rpc_url`` is ``unix:///…/<hash>.sock``;
``deploy.rpc`` and ``ledger.client`` speak HTTP and websockets over it. P2P stays on
loopback TCP (authenticated by node keys). See docs/security.md.

Every fact lives on disk, so a new driver instance (after a control-plane restart) reattaches
to running nodes by reading the pid files and checking ``/proc``. Crashed nodes are restarted
by the control plane's reconciler (``inspect_node`` says not running, ``start_node`` starts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from deploy.drivers import _procs, config, runtimes
from deploy.drivers._files import (
    check_id,
    home_path,
    locked,
    read_json,
    tail_lines,
    write_json,
)
from deploy.drivers._instrumentation import instrumented
from deploy.drivers._ports import DEFAULT_RANGE, pick_ports, port_is_free
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

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOG_ROTATE_BYTES = 20 * 1024 * 1024
# Environment a node process gets: nothing from the control plane beyond what it needs, so
# control-plane secrets (database URL, secret key) never reach node processes.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "COMETBFT_BIN", "TMPDIR")
# sun_path holds 108 bytes on Linux and 104 on macOS/BSD, terminator included.
UNIX_SOCKET_PATH_MAX = 103
# Every port a node holds; CometBFT's Prometheus listener (metrics_port) is loopback TCP.
PORT_KEYS = ("p2p_port", "rpc_port", "abci_port", "metrics_port")
CONFIG_TOML = "cometbft/config/config.toml"  # in the node home, as ledger.network writes it
_RPC_LADDR = re.compile(r'^(\s*laddr\s*=\s*)"[^"]*"', re.MULTILINE)
_PROXY_APP = re.compile(r'^(\s*proxy_app\s*=\s*)"[^"]*"', re.MULTILINE)


class LocalDriver(Driver):
    name = "local"

    def __init__(
        self,
        *,
        nodes_dir: str | Path | None = None,
        install_id: str | None = None,
        command: list[str] | None = None,
        port_range: tuple[int, int] | None = None,
        stop_timeout: float = 10.0,
        runtimes_dir: str | Path | None = None,
    ):
        self.nodes_dir = Path(nodes_dir) if nodes_dir else config.nodes_dir()
        # With the nodes it serves: same owner, same lifetime, no setting of its own.
        self.runtimes = runtimes.RuntimeStore(
            Path(runtimes_dir) if runtimes_dir else self.nodes_dir / ".runtimes")
        self.install_id = install_id or config.install_id()
        # The node command without "--home HOME"; tests may swap in a stand-in process.
        self.command = list(command) if command else [sys.executable, "-m", "ledger", "node"]
        self.port_range = port_range or _port_range_from_env()
        self.stop_timeout = stop_timeout
        # Popen objects of nodes this process started, kept so exit codes can be reported
        # and so the objects are not garbage-collected while their process runs.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # --- paths ---------------------------------------------------------------------------

    def _net_dir(self, network_id: str) -> Path:
        return self.nodes_dir / check_id("network id", network_id)

    def _node_dir(self, network_id: str, node_id: str) -> Path:
        return self._net_dir(network_id) / check_id("node id", node_id)

    def _lock(self, network_id: str) -> AbstractContextManager[None]:
        return locked(self.nodes_dir / ".locks" / f"{check_id('network id', network_id)}.lock")

    def _home_args(self, node_dir: Path) -> list[str]:
        return ["--home", str((node_dir / "home").resolve())]

    def _rpc_dir(self) -> Path:
        """The 0700 directory of the nodes' RPC sockets (created, and checked to be ours)."""
        base = (self.nodes_dir / ".rpc").resolve()
        if len(str(base)) + 1 + 16 + len(".sock") > UNIX_SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.nodes_dir.resolve()).encode()).hexdigest()[:10]
            base = Path(tempfile.gettempdir()) / f"baas-rpc-{os.getuid()}-{digest}"
        try:
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = os.lstat(base)
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) \
                    or info.st_uid != os.getuid():
                raise DriverError("driver_error",
                                  f"RPC socket dir {base} is not a directory owned by us")
            if stat.S_IMODE(info.st_mode) != 0o700:
                os.chmod(base, 0o700)
        except OSError as exc:
            raise DriverError("driver_error", f"cannot prepare RPC socket dir {base}: {exc}") \
                from exc
        return base

    def _rpc_socket(self, network_id: str, node_id: str) -> Path:
        name = hashlib.sha256(f"{network_id}/{node_id}".encode()).hexdigest()[:16]
        path = self._rpc_dir() / f"{name}.sock"
        if len(str(path)) > UNIX_SOCKET_PATH_MAX:
            raise DriverError("driver_error", f"RPC socket path {path} is too long")
        return path

    # --- planning ------------------------------------------------------------------------

    def _reserved_ports(self) -> set[int]:
        reserved: set[int] = set()
        if not self.nodes_dir.is_dir():
            return reserved
        for plan_file in self.nodes_dir.glob("*/plan.json"):
            plan = read_json(plan_file) or {}
            for entry in plan.get("nodes", {}).values():
                # metrics_port: absent in plans made before CometBFT metrics existed
                reserved.update(int(entry[k]) for k in PORT_KEYS if entry.get(k))
        return reserved

    def _plan(self, network_id: str, indexes: list[int]) -> list[NodeAddress]:
        net_dir = self._net_dir(network_id)
        with locked(self.nodes_dir / ".locks" / "ports.lock"):
            plan = read_json(net_dir / "plan.json") or {"install_id": self.install_id, "nodes": {}}
            missing = [i for i in indexes if str(i) not in plan["nodes"]]
            if missing:
                ports = pick_ports(
                    len(PORT_KEYS) * len(missing),
                    reserved=self._reserved_ports(),
                    port_range=self.port_range,
                    host=HOST,
                )
                if ports is None:
                    raise DriverError(
                        "ports_exhausted",
                        f"no free loopback ports left in {self.port_range[0]}-{self.port_range[1]}",
                    )
                width = len(PORT_KEYS)
                for n, index in enumerate(missing):
                    plan["nodes"][str(index)] = {
                        "host": HOST,
                        **dict(zip(PORT_KEYS, ports[width * n : width * (n + 1)], strict=True)),
                    }
                net_dir.mkdir(parents=True, exist_ok=True)
                write_json(net_dir / "plan.json", plan)
        return [NodeAddress(**plan["nodes"][str(i)]) for i in indexes]

    def plan_network(self, *, network_id: str, validators: int) -> list[NodeAddress]:
        if validators < 1:
            raise DriverError("invalid_spec", "a network needs at least one validator")
        # Idempotent: planning the same network again returns the same ports.
        return self._plan(network_id, list(range(validators)))

    def plan_node(self, *, network_id: str, index: int) -> NodeAddress:
        if index < 0:
            raise DriverError("invalid_spec", f"node index {index} must be >= 0")
        return self._plan(network_id, [index])[0]

    def prepare_network(self, *, install_id: str, tenant_id: str, network_id: str) -> None:
        net_dir = self._net_dir(network_id)
        with self._lock(network_id):
            net_dir.mkdir(parents=True, exist_ok=True)
            if read_json(net_dir / "network.json") is None:
                write_json(
                    net_dir / "network.json",
                    {
                        "install_id": install_id,
                        "tenant_id": tenant_id,
                        "network_id": network_id,
                    },
                )

    # --- ledger runtimes -----------------------------------------------------------------

    def ensure_runtime(self, version: str) -> Runtime:
        path = self.runtimes.ensure(version)
        # The ref is shown to tenants on the network: a name, never a server path.
        return Runtime(version=version, ref=f"runtime-store:{version}",
                       detail=f"ledger {version} at {path}")

    def prune_runtimes(self) -> list[str]:
        """Drop store entries no node here records and that are not the control plane's
        current version (a new network would snapshot that one again anyway). Returns the
        versions removed."""
        keep = {runtimes.current_version()}
        if self.nodes_dir.is_dir():
            for meta_file in self.nodes_dir.glob("*/*/node.json"):
                keep.add(str((read_json(meta_file) or {}).get("ledger_version") or ""))
        removed = []
        for version in self.runtimes.versions():
            if version not in keep:
                shutil.rmtree(self.runtimes.path(version), ignore_errors=True)
                removed.append(version)
        return removed

    # --- node lifecycle ------------------------------------------------------------------

    def apply_node(self, spec: NodeSpec) -> NodeState:
        node_dir = self._node_dir(spec.network_id, spec.node_id)
        paths = {home_path(rel): content for rel, content in home_tree(spec).items()}
        version = spec.ledger_version or runtimes.current_version()
        self.ensure_runtime(version)  # before anything is made: a missing one is refused
        with self._lock(spec.network_id):
            meta = read_json(node_dir / "node.json")
            if meta is None:
                self._create(node_dir, spec, paths, version)
            elif meta.get("ledger_version") != version:
                self._switch_version(spec, node_dir, meta, version)
            state = self._state(spec.network_id, spec.node_id)
            if state.running:
                return state
            return self._start(spec.network_id, spec.node_id)

    def _switch_version(self, spec: NodeSpec, node_dir: Path, meta: dict[str, Any],
                        version: str) -> None:
        """A stopped node moves to ``version`` on its next start, home and chain data kept
        (a network upgrade). A node recorded before versions were (no version in its
        metadata) just records the one it is given."""
        state = self._state(spec.network_id, spec.node_id)
        if state.running and meta.get("ledger_version"):
            raise DriverError(
                "runtime_mismatch",
                f"node {spec.node_id} runs ledger {meta['ledger_version']}, not {version}; "
                "stop it before moving it to another version",
            )
        meta["ledger_version"] = version
        write_json(node_dir / "node.json", meta)

    def _create(self, node_dir: Path, spec: NodeSpec, paths: dict[Any, bytes],
                version: str, data: Path | None = None) -> None:
        """Build the node dir aside and rename it into place, so a crash mid-write never
        leaves a half-written home that a retry would then refuse to overwrite. ``data``:
        a copied home whose other files (chain data, app state) come along (a restore)."""
        if not paths:
            raise DriverError("invalid_spec", "home_files is empty")
        socket: Path | None = self._rpc_socket(spec.network_id, spec.node_id)
        paths, socket = _rpc_on_socket(paths, socket)
        metrics_port = spec.address.metrics_port
        paths = instrumented(paths, listen=f"{HOST}:{metrics_port}" if metrics_port else None)
        tmp = node_dir.parent / f".tmp-{node_dir.name}-{uuid.uuid4().hex[:8]}"
        try:
            (tmp / "home").mkdir(parents=True, mode=0o700)
            if data is not None:
                _copy_home(data, tmp / "home", skip={str(rel) for rel in paths})
            for rel, content in paths.items():
                target = tmp / "home" / rel
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
            write_json(
                tmp / "node.json",
                {
                    "install_id": spec.install_id,
                    "tenant_id": spec.tenant_id,
                    "network_id": spec.network_id,
                    "node_id": spec.node_id,
                    "index": spec.index,
                    "moniker": spec.moniker,
                    "host": spec.address.host,
                    "p2p_port": spec.address.p2p_port,
                    "rpc_port": spec.address.rpc_port,
                    "abci_port": spec.address.abci_port,
                    "metrics_port": metrics_port or None,
                    "rpc_socket": str(socket) if socket else None,
                    "abci_socket": str(abci_socket_for(socket)) if socket else None,
                    "ledger_version": version,
                    "starts": 0,
                },
            )
            if node_dir.exists():  # an empty dir left by an older crash
                shutil.rmtree(node_dir)
            os.rename(tmp, node_dir)
        except OSError as exc:
            raise DriverError("driver_error", f"cannot create node dir {node_dir}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _start(self, network_id: str, node_id: str) -> NodeState:
        node_dir = self._node_dir(network_id, node_id)
        meta = read_json(node_dir / "node.json")
        if meta is None:
            raise DriverError(
                "node_not_found", f"node {node_id} of network {network_id} does not exist"
            )
        # Leftovers of a node whose main process died (e.g. its CometBFT child) hold ports.
        _procs.terminate_sessions(self._sessions(node_dir), timeout=self.stop_timeout)
        socket = meta.get("rpc_socket")
        if socket:
            self._rpc_dir()  # recreated 0700 if someone removed it
            Path(socket).unlink(missing_ok=True)  # a stale socket would stop CometBFT binding
        abci = meta.get("abci_socket")
        if abci:
            Path(abci).unlink(missing_ok=True)
        ports = ("p2p_port",) if abci else ("p2p_port", "abci_port") if socket else (
            "p2p_port", "rpc_port", "abci_port")
        if meta.get("metrics_port"):
            ports = (*ports, "metrics_port")
        for key in ports:
            if not port_is_free(int(meta[key]), HOST):
                raise DriverError(
                    "port_in_use",
                    f"{key.replace('_', ' ')} {meta[key]} on "
                    f"{HOST} is taken by another process; node {node_id} "
                    "cannot start",
                )
        log_path = node_dir / "node.log"
        if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log_path, node_dir / "node.log.1")
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        # The node's pinned ledger copy; a node made before versions were recorded runs
        # the checkout, as it always did.
        version = meta.get("ledger_version")
        env["PYTHONPATH"] = str(self.runtimes.ensure(version) if version else config.REPO_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        args = self.command + self._home_args(node_dir)
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    args,
                    cwd=node_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            raise DriverError("node_start_failed", f"cannot start {args[0]}: {exc}") from exc
        self._children[proc.pid] = proc
        _procs.exit_codes.pop(proc.pid, None)
        _procs.wait_for_exec(proc.pid, self._home_args(node_dir))
        write_json(
            node_dir / "node.pid",
            {"pid": proc.pid, "start_time": _procs.start_time(proc.pid), "args": args,
             "pythonpath": env["PYTHONPATH"]},
        )
        meta["starts"] = int(meta.get("starts", 0)) + 1
        write_json(node_dir / "node.json", meta)
        return self._state(network_id, node_id)

    def start_node(self, *, network_id: str, node_id: str) -> NodeState:
        with self._lock(network_id):
            state = self._state(network_id, node_id)
            if not state.exists:
                raise DriverError(
                    "node_not_found", f"node {node_id} of network {network_id} does not exist"
                )
            if state.running:
                return state
            return self._start(network_id, node_id)

    def _forget(self, pid: int) -> None:
        """Drop our Popen for a node that is gone; we reaped it ourselves, so tell the object
        (otherwise it warns on garbage collection and tries to reap a stranger later)."""
        child = self._children.pop(pid, None)
        if child is not None and child.returncode is None:
            _procs.reap(pid)
            child.returncode = _procs.exit_codes.get(pid, -1)

    def _session(self, node_dir: Path) -> int | None:
        """The session recorded in ``node.pid``, but only while it is still this node's.

        A pid is reused once its process is gone: after a stop, the recorded number may
        name another network's node (or anything else), which must never be signalled. A
        live leader must be our node (same start time and ``--home``). A dead leader's
        number stays reserved by the kernel while members of its session live on, so
        those (a node runner's leftover children) can still be found by it.
        """
        info = read_json(node_dir / "node.pid")
        if not info:
            return None
        pid = int(info["pid"])
        if _procs.is_alive(pid) and not _procs.is_our_node(
            pid, started=info.get("start_time"), home_args=self._home_args(node_dir)
        ):
            return None
        return pid

    def _sessions(self, directory: Path) -> list[int]:
        """Every session running a node under ``directory`` (a node or a network dir): the
        recorded ones and any process whose ``--home`` lies inside it, recorded or not."""
        sids = {sid for sid, _args in _procs.processes_under(directory.resolve()).values()}
        for pid_file in [directory / "node.pid", *directory.glob("*/node.pid")]:
            sid = self._session(pid_file.parent)
            if sid is not None:
                sids.add(sid)
        return sorted(sids)

    def _terminate(self, directory: Path) -> None:
        sids = self._sessions(directory)
        _procs.terminate_sessions(sids, timeout=self.stop_timeout)
        for sid in sids:
            self._forget(sid)

    def stop_node(self, *, network_id: str, node_id: str) -> None:
        node_dir = self._node_dir(network_id, node_id)
        with self._lock(network_id):
            self._terminate(node_dir)

    def delete_node(self, *, network_id: str, node_id: str) -> None:
        node_dir = self._node_dir(network_id, node_id)
        with self._lock(network_id):
            self._terminate(node_dir)
            meta = read_json(node_dir / "node.json")
            shutil.rmtree(node_dir, ignore_errors=True)
            for key in ("rpc_socket", "abci_socket"):
                if meta is not None and meta.get(key):
                    Path(meta[key]).unlink(missing_ok=True)
            if meta is not None:  # free the ports this node held in the plan
                with locked(self.nodes_dir / ".locks" / "ports.lock"):
                    plan_file = node_dir.parent / "plan.json"
                    plan = read_json(plan_file)
                    if plan and plan["nodes"].pop(str(meta.get("index")), None) is not None:
                        write_json(plan_file, plan)

    def delete_network(self, *, network_id: str) -> None:
        net_dir = self._net_dir(network_id)
        with self._lock(network_id):
            # All nodes at once (one stop timeout for the network), including processes whose
            # dirs are already gone.
            self._terminate(net_dir)
            for meta_file in net_dir.glob("*/node.json"):
                meta = read_json(meta_file) or {}
                for key in ("rpc_socket", "abci_socket"):
                    if meta.get(key):
                        Path(meta[key]).unlink(missing_ok=True)
            shutil.rmtree(net_dir, ignore_errors=True)
        (self.nodes_dir / ".locks" / f"{network_id}.lock").unlink(missing_ok=True)
        try:
            self.prune_runtimes()
        except DriverError as exc:  # a broken current ledger/ must not stop a delete
            logger.warning("runtime store not pruned: %s", exc)

    # --- copies of a node's data ------------------------------------------------------------

    def export_node_home(self, *, network_id: str, node_id: str, dest: Path) -> None:
        node_dir = self._node_dir(network_id, node_id)
        with self._lock(network_id):
            state = self._state(network_id, node_id)
            if not state.exists:
                raise DriverError("node_not_found",
                                  f"node {node_id} of network {network_id} does not exist")
            if state.running:
                raise DriverError("node_running",
                                  f"node {node_id} runs; stop it before copying its data")
            try:
                Path(dest).mkdir(parents=True, mode=0o700)
                _copy_home(node_dir / "home", Path(dest), skip=set())
            except OSError as exc:
                raise DriverError("driver_error",
                                  f"cannot copy the home of node {node_id}: {exc}") from exc

    def import_node(self, spec: NodeSpec, source: Path) -> NodeState:
        node_dir = self._node_dir(spec.network_id, spec.node_id)
        paths = {home_path(rel): content for rel, content in home_tree(spec).items()}
        version = spec.ledger_version or runtimes.current_version()
        self.ensure_runtime(version)
        if not Path(source).is_dir():
            raise DriverError("invalid_spec", f"{source} is not a node home copy")
        with self._lock(spec.network_id):
            if read_json(node_dir / "node.json") is None:
                self._create(node_dir, spec, paths, version, data=Path(source))
            state = self._state(spec.network_id, spec.node_id)
            return state if state.running else self._start(spec.network_id, spec.node_id)

    def ledger_source(self, version: str, dest: Path) -> None:
        entry = self.runtimes.ensure(version)
        try:
            shutil.copytree(entry / "ledger", Path(dest) / "ledger", symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        except OSError as exc:
            raise DriverError("driver_error",
                              f"cannot copy ledger {version}: {exc.strerror or exc}") from exc

    # --- observation ---------------------------------------------------------------------

    def _state(self, network_id: str, node_id: str) -> NodeState:
        node_dir = self._node_dir(network_id, node_id)
        meta = read_json(node_dir / "node.json")
        if meta is None:
            return NodeState(
                node_id=node_id, exists=False, running=False, rpc_url=None, detail="not found"
            )
        # Nodes created before RPC moved to sockets keep their loopback TCP URL.
        rpc_url = f"unix://{meta['rpc_socket']}" if meta.get("rpc_socket") \
            else f"http://{HOST}:{meta['rpc_port']}"
        restarts = max(0, int(meta.get("starts", 0)) - 1)
        version = str(meta.get("ledger_version") or "")
        metrics_url = f"http://{HOST}:{int(meta['metrics_port'])}" \
            if meta.get("metrics_port") else None
        home_args = self._home_args(node_dir)
        info = read_json(node_dir / "node.pid")
        if info is not None and _procs.is_our_node(
            int(info["pid"]), started=info.get("start_time"), home_args=home_args
        ):
            return NodeState(node_id, True, True, rpc_url, f"pid {info['pid']}", restarts,
                             version, metrics_url)
        adopted = self._adopt(node_dir, home_args)
        if adopted is not None:
            return NodeState(node_id, True, True, rpc_url, f"pid {adopted}", restarts, version,
                             metrics_url)
        if info is None:
            return NodeState(node_id, True, False, rpc_url, "never started", restarts, version)
        pid = int(info["pid"])
        detail = "not running"
        _procs.reap(pid)
        code = _procs.exit_codes.get(pid)
        if code is not None:
            detail = f"exited with code {code}"
            self._forget(pid)
        strays = _procs.session_members(pid)
        if strays:
            detail += f"; {len(strays)} leftover process(es) of the node still running"
        last = _last_log_line(node_dir / "node.log")
        if last:
            detail += f"; last log line: {last}"
        return NodeState(node_id, True, False, rpc_url, detail, restarts, version)

    def _adopt(self, node_dir: Path, home_args: list[str]) -> int | None:
        """A live node runner for this home that the pid file does not name (the control
        plane died between spawning it and recording it): record it instead of starting a
        second one next to it."""
        for pid, (sid, args) in _procs.processes_under(node_dir.resolve()).items():
            if sid == pid and args[-len(home_args) :] == home_args:
                write_json(
                    node_dir / "node.pid",
                    {"pid": pid, "start_time": _procs.start_time(pid), "args": args},
                )
                return pid
        return None

    def inspect_node(self, *, network_id: str, node_id: str) -> NodeState:
        return self._state(network_id, node_id)

    def disk_usage(self, *, network_id: str) -> DiskUsage | None:
        """Bytes of every file under the network's dir (homes, chain data, logs)."""
        root = self._net_dir(network_id)
        if not root.is_dir():
            return None
        total = 0
        for directory, _dirs, files in os.walk(root):
            for name in files:
                try:
                    total += (Path(directory) / name).lstat().st_size
                except OSError:
                    continue  # removed meanwhile (compaction, a log rotated)
        return DiskUsage(bytes=total, kind="used")

    def logs(self, *, network_id: str, node_id: str, tail: int = 200) -> str:
        node_dir = self._node_dir(network_id, node_id)
        if read_json(node_dir / "node.json") is None:
            raise DriverError(
                "node_not_found", f"node {node_id} of network {network_id} does not exist"
            )
        try:
            return tail_lines(node_dir / "node.log", tail)
        except FileNotFoundError:
            return ""

    def list_owned(self, *, install_id: str) -> list[OwnedResource]:
        owned: list[OwnedResource] = []
        net_dirs = self.nodes_dir.iterdir() if self.nodes_dir.is_dir() else iter(())
        for net_dir in sorted(p for p in net_dirs if p.is_dir() and not p.name.startswith(".")):
            owner = (
                read_json(net_dir / "network.json") or read_json(net_dir / "plan.json") or {}
            ).get("install_id")
            net_owned = owner == install_id
            for node_dir in sorted(
                p for p in net_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            ):
                meta = read_json(node_dir / "node.json") or {}
                if meta.get("install_id", owner) != install_id:
                    continue
                net_owned = True
                owned.append(OwnedResource("dir", str(node_dir), net_dir.name, node_dir.name))
                sid = self._session(node_dir)
                for pid in _procs.session_members(sid) if sid is not None else []:
                    owned.append(OwnedResource("process", str(pid), net_dir.name, node_dir.name))
            if net_owned:
                owned.insert(0, OwnedResource("dir", str(net_dir), net_dir.name, None))
        # Node processes whose dirs are gone (or never got metadata): still ours, since they
        # run from this nodes dir, and the reconciler must be able to find and delete them.
        listed = {r.name for r in owned if r.kind == "process"}
        root = self.nodes_dir.resolve()
        for pid, (_sid, args) in sorted(_procs.processes_under(root).items()):
            if str(pid) in listed:
                continue
            home = Path(args[args.index("--home") + 1])
            parts = home.relative_to(root).parts
            network_id, node_id = (parts + (None, None))[:2]
            meta = read_json(root / network_id / node_id / "node.json") if node_id else None
            if meta and meta.get("install_id") != install_id:
                continue
            owned.append(OwnedResource("process", str(pid), network_id, node_id))
        return owned

    def check(self) -> None:
        if shutil.which(os.environ.get("COMETBFT_BIN", "cometbft")) is None:
            raise DriverError(
                "driver_unavailable",
                "the cometbft binary is not on PATH (run scripts/install-cometbft.sh)",
            )
        try:
            self.nodes_dir.mkdir(parents=True, exist_ok=True)
            probe = self.nodes_dir / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise DriverError(
                "driver_unavailable", f"nodes dir {self.nodes_dir} is not writable: {exc}"
            ) from exc


def _port_range_from_env() -> tuple[int, int]:
    raw = config.setting("BAAS_LOCAL_PORT_RANGE")
    if not raw:
        return DEFAULT_RANGE
    try:
        low, high = (int(x) for x in raw.split("-", 1))
    except ValueError:
        raise DriverError(
            "invalid_spec", f"BAAS_LOCAL_PORT_RANGE={raw!r}: expected LOW-HIGH, e.g. 20000-32000"
        ) from None
    if not 1024 <= low < high <= 65536:
        raise DriverError("invalid_spec", f"BAAS_LOCAL_PORT_RANGE={raw!r} is out of bounds")
    return low, high


def _rpc_on_socket(paths: dict[Any, bytes], socket: Path | None,
                   ) -> tuple[dict[Any, bytes], Path | None]:
    """The home files with CometBFT's ``[rpc] laddr`` pointed at ``socket``. A home without a
    CometBFT config (a test's stand-in node) is left as it is, with no socket."""
    key = next((rel for rel in paths if str(rel) == CONFIG_TOML), None)
    if key is None or socket is None:
        return paths, None
    text = paths[key].decode("utf-8")
    section = re.search(r"^\[rpc\]\s*$", text, re.MULTILINE)
    if section is None:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} has no [rpc] section")
    start = section.end()
    following = re.search(r"^\[", text[start:], re.MULTILINE)
    end = start + following.start() if following else len(text)
    body, found = _RPC_LADDR.subn(lambda m: f'{m.group(1)}"unix://{socket}"', text[start:end],
                                  count=1)
    if not found:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} has no laddr in [rpc]")
    text = text[:start] + body + text[end:]
    # The ABCI connection between CometBFT and the chaincode host goes over a socket of the
    # same 0700 directory too: on loopback TCP any local user could send it queries.
    text, found = _PROXY_APP.subn(lambda m: f'{m.group(1)}"unix://{abci_socket_for(socket)}"',
                                  text, count=1)
    if not found:
        raise DriverError("invalid_spec", f"{CONFIG_TOML} has no proxy_app")
    return {**paths, key: text.encode("utf-8")}, socket


def abci_socket_for(rpc_socket: Path | str) -> Path:
    """The node's ABCI socket: beside its RPC socket, with a name of the same length."""
    return Path(rpc_socket).with_suffix(".abci")


def _copy_home(source: Path, dest: Path, *, skip: set[str]) -> None:
    """Copy the regular files of a node home (0600 files, 0700 dirs), the relative paths
    in ``skip`` left out. Links and sockets are not copied: a home holds none of ours, and
    a link in a restored copy must never make us read or write outside it."""
    for item in sorted(source.rglob("*")):
        rel = item.relative_to(source)
        if item.is_symlink() or rel.as_posix() in skip:
            continue
        target = dest / rel
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif item.is_file():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(item, target)
            os.chmod(target, 0o600)


def _last_log_line(path: Path) -> str:
    try:
        line = tail_lines(path, 1).strip()
    except OSError:
        return ""
    return line[:200]
