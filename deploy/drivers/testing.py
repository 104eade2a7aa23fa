"""Helpers for driver tests and benchmarks: make real node homes for planned addresses with
``ledger.network.generate_network`` and wait for blocks over CometBFT's RPC.

Used by ``deploy/tests/test_drivers_*.py`` and usable from ``bench/``; never by production
code paths.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from deploy.drivers.base import Driver, NodeSpec


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def make_specs(
    driver: Driver,
    *,
    validators: int,
    install_id: str,
    tenant_id: str = "tenant-test",
    network_id: str | None = None,
    memory_mb: int = 512,
    cpu_limit: float = 1.0,
) -> list[NodeSpec]:
    """Plan a network on ``driver`` and generate its homes: one NodeSpec per validator."""
    from ledger.cli import build_app_state
    from ledger.network import NodeConfig, create_operator_key, generate_network

    network_id = network_id or str(uuid.uuid4())
    addresses = driver.plan_network(network_id=network_id, validators=validators)
    configs = [
        NodeConfig(
            index=i,
            moniker=f"node{i}",
            host=a.host,
            p2p_port=a.p2p_port,
            rpc_port=a.rpc_port,
            abci_port=a.abci_port,
        )
        for i, a in enumerate(addresses)
    ]
    with tempfile.TemporaryDirectory(prefix="baas-driver-test-") as tmp:
        _private, public_hex = create_operator_key(Path(tmp) / "operator")
        homes = generate_network(
            chain_id=f"test-{network_id[:8]}",
            nodes=configs,
            out_dir=Path(tmp) / "net",
            app_state=build_app_state(public_hex),
        )
        return [
            NodeSpec(
                install_id=install_id,
                tenant_id=tenant_id,
                network_id=network_id,
                node_id=str(uuid.uuid4()),
                index=i,
                moniker=configs[i].moniker,
                address=addresses[i],
                home_files=read_tree(home),
                cpu_limit=cpu_limit,
                memory_mb=memory_mb,
            )
            for i, home in enumerate(homes)
        ]


def rpc_status(rpc_url: str, *, timeout: float = 2.0) -> dict | None:
    """CometBFT ``/status`` result, or None when the node does not answer (yet). Local
    nodes serve RPC on a unix socket (``unix://``), Docker nodes on loopback TCP."""
    from deploy import rpc

    try:
        return rpc.get_json(f"{rpc_url}/status", timeout=timeout)
    except rpc.RpcError:
        return None


def peer_count(rpc_url: str, *, timeout: float = 2.0) -> int:
    """How many peers the node at ``rpc_url`` is connected to (0 when it does not answer)."""
    from deploy import rpc

    try:
        return int(rpc.get_json(f"{rpc_url}/net_info", timeout=timeout)["n_peers"])
    except (rpc.RpcError, KeyError, ValueError, TypeError):
        return 0


def height(rpc_url: str) -> int:
    status = rpc_status(rpc_url)
    return int(status["sync_info"]["latest_block_height"]) if status else 0


def wait_for_height(
    rpc_url: str | None,
    target: int,
    *,
    timeout: float = 60.0,
    explain: Callable[[], str] | None = None,
) -> int:
    """Block until the node at ``rpc_url`` has committed ``target``; returns the height.

    On time-out the error carries ``explain()`` (e.g. the node's log tail) for the reader.
    """
    if rpc_url is None:
        raise TimeoutError("the node has no RPC URL (not running?)")
    deadline = time.monotonic() + timeout
    current = 0
    while time.monotonic() < deadline:
        current = height(rpc_url)
        if current >= target:
            return current
        time.sleep(0.25)
    message = f"{rpc_url} reached height {current}, not {target}, in {timeout:g}s"
    if explain is not None:
        message += "\n" + explain()
    raise TimeoutError(message)


def log_tail(driver: Driver, network_id: str, node_id: str, lines: int = 40) -> Callable[[], str]:
    """For ``wait_for_height(explain=...)``: the node's last log lines when a wait fails."""
    return lambda: driver.logs(network_id=network_id, node_id=node_id, tail=lines)
