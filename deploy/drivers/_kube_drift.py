"""Drift between what the Kubernetes driver applied and what the cluster holds (pure).

The desired state is rendered again from what the driver recorded on the live objects
(labels, the StatefulSet's annotations: replicas it asked for, CPU and memory, a hash of
the home files) and compared with the live objects as a *subset*: every field the driver
sets must hold the value it set; fields the API server or controllers add are ignored.
Lists must keep their length (an added ingress rule or container is drift).
"""

from __future__ import annotations

import base64
from typing import Any

from deploy.drivers import k8s_manifests as m
from deploy.drivers.base import NodeAddress, NodeSpec


def differences(desired: Any, live: Any, path: str = "") -> list[str]:
    """Where ``live`` does not hold what ``desired`` says, as readable paths."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [f"{path or '.'} is {_short(live)}, the driver set an object"]
        found: list[str] = []
        for key, value in desired.items():
            if key not in live:
                found.append(f"{path}.{key} is missing")
            else:
                found += differences(value, live[key], f"{path}.{key}")
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            have = len(live) if isinstance(live, list) else _short(live)
            return [f"{path} has {have} entries, the driver set {len(desired)}"]
        found = []
        for i, (want, have) in enumerate(zip(desired, live, strict=True)):
            found += differences(want, have, f"{path}[{i}]")
        return found
    if desired != live:
        return [f"{path} is {_short(live)}, the driver set {_short(desired)}"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def object_drift(desired: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    """Drift items of one object: missing, labels/annotations, and its body (a ConfigMap's
    or Secret's content is compared by hash, see ``home_drift``)."""
    what = f"{desired['kind']} {desired['metadata']['name']}"
    if live is None:
        return [f"{what} is missing"]
    meta = {k: v for k, v in desired["metadata"].items() if k in ("labels", "annotations")}
    body = {k: v for k, v in desired.items()
            if k not in ("apiVersion", "kind", "metadata", "data", "binaryData")}
    found = differences(meta, live.get("metadata") or {}, ".metadata")
    found += differences(body, live, "")
    return [f"{what}: {item}" for item in found]


def live_files(obj: dict[str, Any] | None) -> dict[str, bytes]:
    """ConfigMap/Secret content by key, decoded (``data`` of a ConfigMap is plain text)."""
    if obj is None:
        return {}
    files = {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
    if obj.get("kind") == "Secret":
        files.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
    else:
        files.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
    return files


def spec_from_live(sts: dict[str, Any], config_map: dict[str, Any] | None,
                   secret: dict[str, Any] | None) -> NodeSpec:
    """The NodeSpec the driver last applied, as far as the cluster records it: ids from the
    labels, limits from the annotations, file paths from the StatefulSet's own volume items
    (content from the live ConfigMap/Secret; compared by hash, not here)."""
    labels = sts["metadata"].get("labels") or {}
    notes = sts["metadata"].get("annotations") or {}
    volumes = {v.get("name"): v for v in sts["spec"]["template"]["spec"].get("volumes") or []}

    def files(volume: str, source: str, obj: dict[str, Any] | None) -> dict[str, bytes]:
        content = live_files(obj)
        items = (volumes.get(volume) or {}).get(source, {}).get("items") or []
        return {item["path"]: content.get(item["key"], b"") for item in items}

    index = m.node_index(sts["metadata"].get("name")) or 0
    network_id = labels.get(m.L_NETWORK, "")
    return NodeSpec(
        install_id=labels.get(m.L_INSTALL, ""), tenant_id=labels.get(m.L_TENANT, ""),
        network_id=network_id, node_id=labels.get(m.L_NODE, ""), index=index,
        moniker=m.node_name(index),
        address=NodeAddress(host=m.node_host(network_id, index), p2p_port=m.P2P_PORT,
                            rpc_port=m.RPC_PORT, abci_port=m.RPC_PORT + 1,
                            metrics_port=m.metrics_port_of(sts)),
        home_files=files("home-files", "configMap", config_map) or {"-": b""},
        secret_files=files("home-keys", "secret", secret),
        cpu_limit=m.decimal_number(notes.get(m.A_CPU), 1.0),
        memory_mb=m.whole_number(notes.get(m.A_MEMORY), 512),
        ledger_version=labels.get(m.L_VERSION, ""),
    )


def home_drift(sts: dict[str, Any], config_map: dict[str, Any] | None,
               secret: dict[str, Any] | None) -> list[str]:
    if config_map is None or secret is None:
        return []  # reported as missing objects already
    recorded = (sts["metadata"].get("annotations") or {}).get(m.A_HOME_SHA)
    now = m.home_digest(live_files(config_map), live_files(secret))
    if recorded and recorded != now:
        name = sts["metadata"]["name"]
        return [f"ConfigMap {name}-home / Secret {name}-keys: their content is not what the "
                "driver applied"]
    return []


def storage_of(sts: dict[str, Any]) -> tuple[int, str | None]:
    """Size (GiB) and class of a live StatefulSet's claim template: immutable once made,
    so a re-apply renders these, whatever the settings say now."""
    template = (sts["spec"].get("volumeClaimTemplates") or [{}])[0].get("spec") or {}
    size = str(((template.get("resources") or {}).get("requests") or {}).get("storage", ""))
    return m.gib_of(size) or 5, template.get("storageClassName")
