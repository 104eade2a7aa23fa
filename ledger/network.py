"""Generate the on-disk homes of a ledger network's validators.

Each node home holds ``cometbft/`` (CometBFT home, keys made by ``cometbft init``), ``app/``
(the LedgerApp data dir) and ``node.json``. All nodes share one genesis listing every
validator, and each node's ``config.toml`` names the others as persistent peers. The output
folder also gets ``network.json`` (what ``python -m ledger up/down`` reads).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

COMETBFT_BIN = os.environ.get("COMETBFT_BIN", "cometbft")
OPERATOR_KEY_FILE = "operator_key.json"
NETWORK_FILE = "network.json"
CHAIN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
MONIKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Consensus timing for a private network: a block at most every ~0.5 s under load, an empty
# block at least every 2 s so liveness stays visible without filling disks.
CONSENSUS_SETTINGS = {
    "timeout_propose": "2s",
    "timeout_commit": "500ms",
    "create_empty_blocks": True,
    "create_empty_blocks_interval": "2s",
}


class NetworkError(ValueError):
    """Bad input or a failed key generation; the message names the problem."""


class LocalnetError(RuntimeError):
    """A node of a local network failed to start or stop."""


@dataclass(frozen=True)
class NodeConfig:
    index: int
    moniker: str
    host: str  # address the other validators dial
    p2p_port: int
    rpc_port: int
    abci_port: int
    bind_host: str | None = None  # address CometBFT listens on (defaults to host)

    @property
    def listen(self) -> str:
        return self.bind_host or self.host


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports that are free right now on ``host`` (all held open together so they differ)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_nodes(count: int, *, host: str = "127.0.0.1", prefix: str = "node") -> list[NodeConfig]:
    """NodeConfigs for ``count`` validators on loopback, on free ports."""
    if count < 1:
        raise NetworkError("a network needs at least one validator")
    ports = free_ports(3 * count, host)
    return [
        NodeConfig(index=i, moniker=f"{prefix}{i}", host=host, p2p_port=ports[3 * i],
                   rpc_port=ports[3 * i + 1], abci_port=ports[3 * i + 2])
        for i in range(count)
    ]


def create_operator_key(out_dir: Path) -> tuple[bytes, str]:
    """Make the network's operator/admin ed25519 key, saved 0600 in ``out_dir``.

    Returns (32-byte private key, public key hex) for the genesis ``app_state``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    path = out_dir / OPERATOR_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"private_key": private.hex(), "public_key": public.hex()}, fh)
    os.chmod(path, 0o600)
    return private, public.hex()


def load_operator_key(path: Path) -> bytes:
    try:
        data = json.loads(path.read_text())
        key = bytes.fromhex(data["private_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NetworkError(f"cannot read operator key {path}: {exc}") from exc
    if len(key) != 32:
        raise NetworkError(f"{path}: private_key must be 32 bytes of hex")
    return key


def node_id(cometbft_home: Path) -> str:
    """CometBFT node id: hex of the first 20 bytes of SHA-256 of the node's public key."""
    data = json.loads((cometbft_home / "config" / "node_key.json").read_text())
    raw = base64.b64decode(data["priv_key"]["value"])  # 64 bytes: seed || public key
    return hashlib.sha256(raw[32:]).digest()[:20].hex()


def _validator_pub_key(cometbft_home: Path) -> dict[str, str]:
    data = json.loads((cometbft_home / "config" / "priv_validator_key.json").read_text())
    return data["pub_key"]


def _set_toml(text: str, section: str, key: str, value: Any) -> str:
    """Replace ``key = ...`` inside ``[section]`` ("" for top level) of CometBFT's config."""
    rendered = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
    out, current, done = [], "", False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            line = f"{key} = {rendered}"
            done = True
        out.append(line)
    if not done:
        raise NetworkError(f"config.toml has no {key!r} in [{section}]")
    return "\n".join(out) + "\n"


def _configure(cfg_path: Path, node: NodeConfig, peers: str) -> None:
    text = cfg_path.read_text()
    settings: list[tuple[str, str, Any]] = [
        ("", "moniker", node.moniker),
        ("", "proxy_app", f"tcp://127.0.0.1:{node.abci_port}"),
        # Per-block state lines only: full "info" costs CPU and disk on busy networks.
        ("", "log_level", "state:info,*:error"),
        ("rpc", "laddr", f"tcp://{node.listen}:{node.rpc_port}"),
        ("p2p", "laddr", f"tcp://{node.listen}:{node.p2p_port}"),
        ("p2p", "persistent_peers", peers),
        ("p2p", "addr_book_strict", False),
        ("p2p", "allow_duplicate_ip", True),
        ("p2p", "pex", False),  # a permissioned network: the peer list is the genesis set
        *[("consensus", k, v) for k, v in CONSENSUS_SETTINGS.items()],
    ]
    for section, key, value in settings:
        text = _set_toml(text, section, key, value)
    tomllib.loads(text)  # never leave a config CometBFT cannot parse
    cfg_path.write_text(text)


def _validate(chain_id: str, nodes: list[NodeConfig]) -> None:
    if not CHAIN_ID_RE.match(chain_id):
        raise NetworkError(
            f"invalid chain id {chain_id!r}: 1-50 letters, digits, '.', '_' or '-'"
        )
    if not nodes:
        raise NetworkError("a network needs at least one validator")
    seen: set[tuple[str, int]] = set()
    for n in nodes:
        if not MONIKER_RE.match(n.moniker):
            raise NetworkError(f"invalid moniker {n.moniker!r}")
        for port in (n.p2p_port, n.rpc_port, n.abci_port):
            if not 0 < port < 65536:
                raise NetworkError(f"{n.moniker}: port {port} out of range")
            if (n.host, port) in seen:
                raise NetworkError(f"{n.moniker}: port {port} on {n.host} used twice")
            seen.add((n.host, port))
    if len({n.moniker for n in nodes}) != len(nodes):
        raise NetworkError("monikers must be unique")


def generate_network(
    *, chain_id: str, nodes: list[NodeConfig], out_dir: Path, app_state: bytes | dict | str,
    genesis_time: datetime | None = None,
) -> list[Path]:
    """Write one home per validator under ``out_dir``; returns the node homes in order."""
    _validate(chain_id, nodes)
    if shutil.which(COMETBFT_BIN) is None:
        raise NetworkError(f"{COMETBFT_BIN!r} not found on PATH: run scripts/install-cometbft.sh")
    if isinstance(app_state, bytes | str):
        try:
            app_state = json.loads(app_state)
        except ValueError as exc:
            raise NetworkError(f"app_state is not JSON: {exc}") from exc
    out_dir = Path(out_dir)
    homes = [out_dir / n.moniker for n in nodes]
    for home in homes:
        if (home / "node.json").exists():
            raise NetworkError(f"{home} already holds a node; choose an empty folder")

    for node, home in zip(nodes, homes, strict=True):
        cmt = home / "cometbft"
        done = subprocess.run(
            [COMETBFT_BIN, "init", "--home", str(cmt)], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise NetworkError(f"cometbft init failed for {node.moniker}: {done.stderr.strip()}")
        (home / "app").mkdir(parents=True, exist_ok=True)

    validators = []
    for node, home in zip(nodes, homes, strict=True):
        pub = _validator_pub_key(home / "cometbft")
        address = hashlib.sha256(base64.b64decode(pub["value"])).digest()[:20].hex().upper()
        validators.append({"address": address, "pub_key": pub, "power": "10",
                           "name": node.moniker})
    template = json.loads((homes[0] / "cometbft" / "config" / "genesis.json").read_text())
    when = (genesis_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    genesis = {
        "genesis_time": when,
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": template["consensus_params"],
        "validators": validators,
        "app_hash": "",
        "app_state": app_state,
    }
    genesis_text = json.dumps(genesis, indent=2)

    ids = [node_id(home / "cometbft") for home in homes]
    for i, (node, home) in enumerate(zip(nodes, homes, strict=True)):
        peers = ",".join(
            f"{ids[j]}@{other.host}:{other.p2p_port}" for j, other in enumerate(nodes) if j != i
        )
        (home / "cometbft" / "config" / "genesis.json").write_text(genesis_text)
        _configure(home / "cometbft" / "config" / "config.toml", node, peers)
        info = {"moniker": node.moniker, "chain_id": chain_id, "abci_port": node.abci_port,
                "rpc_port": node.rpc_port, "p2p_port": node.p2p_port, "host": node.host,
                "node_id": ids[i]}
        (home / "node.json").write_text(json.dumps(info, indent=2) + "\n")

    manifest = {"chain_id": chain_id,
                "nodes": [{**asdict(n), "home": h.name} for n, h in zip(nodes, homes, strict=True)]}
    (out_dir / NETWORK_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return homes


def load_network(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / NETWORK_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise NetworkError(f"{path} not found: is {out_dir} a network made by 'testnet'?") from None
    except ValueError as exc:
        raise NetworkError(f"{path} is not valid JSON: {exc}") from exc


def load_node(home: Path) -> dict[str, Any]:
    path = Path(home) / "node.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise NetworkError(f"{path} not found: is {home} a node home?") from None
    except ValueError as exc:
        raise NetworkError(f"{path} is not valid JSON: {exc}") from exc
    for key in ("moniker", "chain_id", "abci_port", "rpc_port", "p2p_port", "host"):
        if key not in info:
            raise NetworkError(f"{path} lacks {key!r}")
    return info
