"""An in-memory driver for unit tests of the task logic (the real drivers have their own
tests against real processes and a real Docker engine)."""

from __future__ import annotations

from deploy.drivers.base import (
    Driver,
    DriverError,
    NodeAddress,
    NodeSpec,
    NodeState,
    OwnedResource,
    Runtime,
    home_tree,
)


class FakeDriver(Driver):
    name = "local"

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], dict] = {}
        self.prepared: set[str] = set()
        self.unavailable = False
        self.applied: list[str] = []
        self.next_port = 30000
        # Ledger versions this fake runtime cannot run (ensure_runtime: runtime_missing).
        self.missing_versions: set[str] = set()
        self.ensured: list[str] = []

    def _port(self) -> int:
        self.next_port += 1
        return self.next_port

    def check(self) -> None:
        if self.unavailable:
            raise DriverError("driver_unavailable", "fake engine is down")

    def plan_network(self, *, network_id: str, validators: int) -> list[NodeAddress]:
        return [self.plan_node(network_id=network_id, index=i) for i in range(validators)]

    def plan_node(self, *, network_id: str, index: int) -> NodeAddress:
        return NodeAddress("127.0.0.1", self._port(), self._port(), self._port())

    def prepare_network(self, *, install_id: str, tenant_id: str, network_id: str) -> None:
        self.prepared.add(network_id)

    def ensure_runtime(self, version: str) -> Runtime:
        self.ensured.append(version)
        if version in self.missing_versions:
            raise DriverError("runtime_missing", f"no runtime of ledger {version} here")
        return Runtime(version=version, ref=f"fake:{version}")

    def apply_node(self, spec: NodeSpec) -> NodeState:
        key = (spec.network_id, spec.node_id)
        self.ensure_runtime(spec.ledger_version)
        entry = self.nodes.get(key)
        if entry is not None and entry.get("running") \
                and entry.get("version") != spec.ledger_version:
            raise DriverError("runtime_mismatch", "stop it before moving it to another version")
        self.applied.append(spec.node_id)
        entry = self.nodes.setdefault(key, {"files": home_tree(spec), "restarts": 0,
                                            "install": spec.install_id})
        entry["version"] = spec.ledger_version
        entry["running"] = True
        entry["rpc"] = f"http://127.0.0.1:{spec.address.rpc_port}"
        return self.inspect_node(network_id=spec.network_id, node_id=spec.node_id)

    def stop_node(self, *, network_id: str, node_id: str) -> None:
        if (network_id, node_id) in self.nodes:
            self.nodes[(network_id, node_id)]["running"] = False

    def start_node(self, *, network_id: str, node_id: str) -> NodeState:
        self.nodes[(network_id, node_id)]["running"] = True
        return self.inspect_node(network_id=network_id, node_id=node_id)

    def delete_node(self, *, network_id: str, node_id: str) -> None:
        self.nodes.pop((network_id, node_id), None)

    def inspect_node(self, *, network_id: str, node_id: str) -> NodeState:
        entry = self.nodes.get((network_id, node_id))
        if entry is None:
            return NodeState(node_id, False, False, None, "missing")
        return NodeState(node_id, True, entry["running"], entry["rpc"], "fake",
                         entry["restarts"], entry.get("version", ""))

    def delete_network(self, *, network_id: str) -> None:
        for key in [k for k in self.nodes if k[0] == network_id]:
            del self.nodes[key]
        self.prepared.discard(network_id)

    def list_owned(self, *, install_id: str) -> list[OwnedResource]:
        return [OwnedResource("process", f"{n}/{d}", n, d)
                for (n, d), e in self.nodes.items() if e["install"] == install_id]

    def logs(self, *, network_id: str, node_id: str, tail: int = 200) -> str:
        if (network_id, node_id) not in self.nodes:
            raise DriverError("node_not_found", "no such node")
        return "line 1\nline 2\n"
