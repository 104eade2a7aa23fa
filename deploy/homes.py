"""Node homes: generate them with the ledger runtime, store them (keys sealed), rebuild them.

A home is what ``ledger.network.generate_network`` writes for one validator (node.json,
``cometbft/config/*`` with genesis and keys, ``app/``). We keep every file of it in the
database so a task that runs again -- after a worker crash, or to recreate a node a driver
lost -- hands the driver byte-identical files: the same genesis and the same validator key.
Files holding private keys go to ``NodeKey`` sealed with ``deploy.crypto``; everything else
to ``Node.home_config``.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from django.db import transaction

from deploy import conf, crypto
from deploy.drivers import NodeAddress, NodeSpec
from deploy.models import Network, NetworkIdentity, Node, NodeKey
from tenants.choices import PLAN_NODE_RESOURCES, Plan
from tenants.models import Tenant


def is_secret(path: str) -> bool:
    """Private key files: CometBFT's node_key.json / priv_validator_key.json and any
    operator key the generator drops in a home. Their content is never stored in clear."""
    name = PurePosixPath(path).name.lower()
    return "key" in name and not name.endswith(".pub")


def _read_tree(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for item in sorted(root.rglob("*")):
        if item.is_file():
            files[item.relative_to(root).as_posix()] = item.read_bytes()
    return files


def install_id() -> str:
    # The same value the drivers label resources with, so orphan detection agrees.
    from deploy.drivers.config import install_id as driver_install_id

    return driver_install_id()


def managed_identity(network: Network, tenant: Any = None) -> tuple[NetworkIdentity, Any]:
    """The managed signer of ``tenant`` (default: the network's owner) on this network,
    created once and stored sealed. Its organisation id on chain is the tenant's slug; a
    consortium member's identity is its organisation's admin."""
    from ledger.tx import Signer

    tenant = tenant if tenant is not None else network.tenant
    identity = NetworkIdentity.objects.filter(network=network, tenant=tenant).first()
    if identity is not None:
        return identity, Signer.from_private_bytes(crypto.unseal(identity.sealed_private_key))
    signer = Signer.generate()
    identity = NetworkIdentity.objects.create(
        network=network,
        tenant=tenant,
        organisation_id=getattr(tenant, "slug", None) or f"org-{tenant.pk}",
        member_id="platform",
        public_key=signer.public_key_hex,
        sealed_private_key=crypto.seal(signer.private_bytes()),
    )
    return identity, signer


def app_state_for(network: Network, identity: NetworkIdentity) -> bytes:
    """Genesis app_state: the owner organisation with its managed identity as admin, and
    the example ``kv`` chaincode so a fresh network can take transactions at once."""
    org = {
        "id": identity.organisation_id,
        "name": getattr(network.tenant, "name", identity.organisation_id),
        "members": [
            {"id": identity.member_id, "public_key": identity.public_key, "roles": ["admin"]}
        ],
    }
    from ledger.genesis import make_app_state

    # The owner runs every genesis validator; members' validators join later, as their own.
    return make_app_state(organisations=[org], validator_org=identity.organisation_id,
                          open_access=network.public_access)


def generate_and_store(network: Network, nodes: list[Node]) -> None:
    """Generate every home of ``network`` in a temporary dir and store them atomically.

    Either all homes are stored or none, so a crash here just means a re-run regenerates.
    """
    from ledger import network as ledger_network

    # The managed identity first (a short transaction of its own), then the slow part --
    # ``cometbft init`` per node -- outside any transaction: on SQLite an open write
    # transaction blocks every other writer. Only storing the results is atomic.
    identity, _signer = managed_identity(network)
    app_state = app_state_for(network, identity)
    configs = [
        ledger_network.NodeConfig(
            index=node.index, moniker=node.moniker, host=node.host,
            p2p_port=node.p2p_port, rpc_port=node.rpc_port, abci_port=node.abci_port,
        )
        for node in nodes
    ]
    with tempfile.TemporaryDirectory(prefix="baas-homes-") as tmp:
        generated = ledger_network.generate_network(
            chain_id=network.chain_id, nodes=configs, out_dir=Path(tmp), app_state=app_state
        )
        trees = [_read_tree(Path(home)) for home in generated]
    with transaction.atomic():
        for node, files in zip(nodes, trees, strict=True):
            NodeKey.objects.filter(node=node).delete()
            config: dict[str, str] = {}
            for path, content in files.items():
                if is_secret(path):
                    NodeKey.objects.create(node=node, path=path, sealed=crypto.seal(content))
                else:
                    config[path] = base64.b64encode(content).decode()
            node.home_config = config
            node.validator_pub_key = _validator_pub_key(files)
            node.save(update_fields=["home_config", "validator_pub_key", "updated_at"])
        genesis_doc = _genesis_from(nodes[0].home_config) if nodes else None
        if genesis_doc is not None:
            network.genesis = genesis_doc
            network.save(update_fields=["genesis", "updated_at"])


def _validator_pub_key(files: dict[str, bytes]) -> str:
    for path, content in files.items():
        if path.endswith("priv_validator_key.json"):
            try:
                return json.loads(content)["pub_key"]["value"]
            except (ValueError, KeyError, TypeError):
                return ""
    return ""


def _genesis_from(config: dict[str, str]) -> dict | None:
    for path, encoded in config.items():
        if path.endswith("genesis.json"):
            try:
                return json.loads(base64.b64decode(encoded))
            except ValueError:
                return None
    return None


def homes_stored(nodes: list[Node]) -> bool:
    return bool(nodes) and all(node.home_config for node in nodes) and (
        NodeKey.objects.filter(node__in=nodes).values("node").distinct().count() == len(nodes)
    )


def config_files(node: Node) -> dict[str, bytes]:
    return {path: base64.b64decode(encoded) for path, encoded in node.home_config.items()}


def secret_files(node: Node) -> dict[str, bytes]:
    return {key.path: crypto.unseal(key.sealed) for key in node.keys.all()}


def home_files(node: Node) -> dict[str, bytes]:
    files = {path: base64.b64decode(encoded) for path, encoded in node.home_config.items()}
    for key in node.keys.all():
        files[key.path] = crypto.unseal(key.sealed)
    return files


def node_resources(tenant: Tenant) -> dict[str, Any]:
    """CPUs and memory of one validator of ``tenant``: its plan's, within the operator's
    ceilings. The tenant that runs the node decides (a consortium member pays for its own)."""
    cpu, memory_mb = PLAN_NODE_RESOURCES.get(tenant.plan, PLAN_NODE_RESOURCES[Plan.FREE])
    return {
        "cpu_limit": min(cpu, conf.setting("DEPLOY_NODE_CPU_LIMIT")),
        "memory_mb": min(memory_mb, int(conf.setting("DEPLOY_NODE_MEMORY_MB"))),
    }


def node_spec(node: Node) -> NodeSpec:
    network = node.network
    # The version read now, not from a network row loaded earlier: a restart or a
    # reconciler pass that began before an upgrade must not start a node on the old one.
    version, runtime_ref = Network.objects.filter(pk=node.network_id).values_list(
        "ledger_version", "runtime_ref").get()
    return NodeSpec(
        install_id=install_id(),
        # The organisation that runs the node (a consortium member's own validator carries
        # the member's label), not necessarily the network's owner.
        tenant_id=str(node.tenant_id or network.tenant_id),
        network_tenant_id=str(network.tenant_id),
        network_id=str(network.pk),
        node_id=str(node.pk),
        index=node.index,
        moniker=node.moniker,
        address=NodeAddress(
            host=node.host, p2p_port=node.p2p_port or 0, rpc_port=node.rpc_port or 0,
            abci_port=node.abci_port or 0, metrics_port=node.metrics_port or 0,
        ),
        home_files=config_files(node),
        secret_files=secret_files(node),
        **node_resources(node.tenant),
        # The network's pinned ledger, not the control plane's: a validator added or
        # restarted later runs what the others run.
        ledger_version=version,
        runtime_ref=runtime_ref,
    )


def _peer_address(node: Node) -> str:
    info = json.loads(base64.b64decode(node.home_config["node.json"]))
    return f"{info['node_id']}@{node.host}:{node.p2p_port}"


def generate_and_store_extra(network: Network, node: Node, peers: list[Node]) -> None:
    """A home for a validator joining a running chain: fresh CometBFT keys, the network's
    byte-identical genesis, and the existing validators as persistent peers."""
    from ledger import network as ledger_network

    genesis = next(
        (base64.b64decode(v) for p, v in peers[0].home_config.items()
         if p.endswith("config/genesis.json")),
        None,
    )
    if genesis is None:
        raise ValueError("the network's genesis is not stored; cannot add a validator")
    config = ledger_network.NodeConfig(
        index=node.index, moniker=node.moniker, host=node.host, p2p_port=node.p2p_port,
        rpc_port=node.rpc_port, abci_port=node.abci_port,
    )
    peer_list = ",".join(_peer_address(p) for p in peers)
    with tempfile.TemporaryDirectory(prefix="baas-homes-") as tmp:
        # The throw-away genesis made here is replaced by the network's own below.
        (home,) = ledger_network.generate_network(
            chain_id=network.chain_id, nodes=[config], out_dir=Path(tmp), app_state=b"{}"
        )
        files = _read_tree(Path(home))
    files["cometbft/config/genesis.json"] = genesis
    cfg = files["cometbft/config/config.toml"].decode()
    cfg = re.sub(r'(?m)^persistent_peers = ".*"$', f'persistent_peers = "{peer_list}"', cfg)
    files["cometbft/config/config.toml"] = cfg.encode()
    with transaction.atomic():
        NodeKey.objects.filter(node=node).delete()
        home_config: dict[str, str] = {}
        for path, content in files.items():
            if is_secret(path):
                NodeKey.objects.create(node=node, path=path, sealed=crypto.seal(content))
            else:
                home_config[path] = base64.b64encode(content).decode()
        node.home_config = home_config
        node.validator_pub_key = _validator_pub_key(files)
        node.save(update_fields=["home_config", "validator_pub_key", "updated_at"])


def validator_key_hex(node: Node) -> str:
    """The node's ed25519 validator public key as the ``_identity`` chaincode wants it."""
    return base64.b64decode(node.validator_pub_key).hex()
