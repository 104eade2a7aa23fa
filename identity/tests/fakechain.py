"""An in-memory ``_did`` (docs/did-method.md) behind the gateway's functions, for the API
and portal tests: it checks controller signatures, ``prev`` and suffix derivation as the
chain does, so the control plane's operations are checked byte for byte. The real chain:
``test_did_network.py``."""

from __future__ import annotations

import threading
from typing import Any

from baas.errors import AppError
from identity import services

T0 = 1_764_892_800 * 10**9  # 2025-12-05T00:00:00Z


class FakeQueryFailed(Exception):
    pass


class FakeDidChain:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.namespaces: dict[str, str | None] = {}  # chain id -> namespace
        self.dids: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.txs: list[dict[str, Any]] = []  # every _did write: chain_id, function, signer
        self.height = 10
        self.down = False  # no node answers
        self.without_did = False  # a ledger version before _did
        self.fail_next: str | None = None  # "timeout" | "reject"

    # -- reads --------------------------------------------------------------------------
    def config(self, chain_id: str) -> dict[str, Any]:
        count = sum(1 for (c, _s) in self.dids if c == chain_id)
        return {"namespace": self.namespaces.get(chain_id), "dids": count}

    def resolve(self, chain_id: str, did: str, version_id: int | None = None) -> Any:
        versions = self.dids.get((chain_id, did))
        if not versions:
            return None
        if version_id is None:
            version_id = len(versions)
        if not 1 <= version_id <= len(versions):
            return None
        record = dict(versions[version_id - 1])
        record["versions"] = len(versions)
        record["next_updated"] = versions[version_id]["updated"] \
            if version_id < len(versions) else None
        return record

    # -- writes -------------------------------------------------------------------------
    def apply(self, chain_id: str, function: str, args: Any, signer: str) -> None:
        with self.lock:
            self.txs.append({"chain_id": chain_id, "function": function, "signer": signer})
            if function == "set_namespace":
                if self.namespaces.get(chain_id):
                    raise ValueError("namespace already set")
                self.namespaces[chain_id] = args[0]
                return
            op = args[0]
            if not self.namespaces.get(chain_id):
                raise ValueError("namespace not set")
            versions = self.dids.get((chain_id, op["did"]))
            if function == "create":
                if versions:
                    raise ValueError("did exists")
                if op["prev"] != 0:
                    raise ValueError("prev mismatch")
                controllers = services._controller_ids(op["state"])
                if op["key"] not in controllers or services.derive_suffix(
                        bytes.fromhex(controllers[op["key"]])) != op["did"]:
                    raise ValueError("suffix not derived from key")
            else:
                if not versions:
                    raise ValueError("unknown did")
                current = versions[-1]
                if current["deactivated"]:
                    raise ValueError("deactivated")
                if op["prev"] != current["version"]:
                    raise ValueError("prev mismatch")
                controllers = services._controller_ids(current["state"])
                if op["key"] not in controllers:
                    raise ValueError("unauthorized key")
            message = services.op_message(chain_id, op["did"], op["op"], op["prev"],
                                          op["state"])
            if not services._verify(controllers[op["key"]], message, op["sig"]):
                raise ValueError("bad controller signature")
            self.height += 1
            version = 1 if versions is None else len(versions) + 1
            record = {"did": op["did"], "namespace": self.namespaces[chain_id],
                      "version": version, "state": op["state"],
                      "deactivated": function == "deactivate",
                      "created": T0 if versions is None else versions[0]["created"],
                      "updated": T0 + self.height * 10**9, "height": self.height,
                      "tx": f"{self.height:064x}",
                      "state_key": f"did/{op['did']}/v/{version:010d}"}
            self.dids.setdefault((chain_id, op["did"]), []).append(record)


class FakeClient:
    def __init__(self, fake: FakeDidChain, chain_id: str) -> None:
        self.fake, self.chain_id = fake, chain_id

    def call(self, chaincode: str, function: str, args: Any = None, *, height: int = 0) -> Any:
        from ledger.client import QueryFailed
        from ledger.errors import Code

        assert chaincode == "_did"
        if self.fake.without_did:
            raise QueryFailed("/call", int(Code.UNKNOWN_CHAINCODE), "unknown chaincode _did")
        if function == "config":
            return self.fake.config(self.chain_id)
        record = self.fake.resolve(self.chain_id, args["did"], args.get("version_id"))
        if record is None:
            raise QueryFailed("/call", int(Code.NOT_FOUND), "no such DID")
        return record


def install(monkeypatch: Any) -> FakeDidChain:
    from deploy import gateway

    fake = FakeDidChain()

    def with_failover(network: Any, call: Any, *, signer: Any = None) -> Any:
        gateway.candidate_nodes  # noqa: B018 -- the real function is not called: no nodes
        if fake.down:
            raise gateway.GatewayUnavailable(message="No node of this network answered.")
        return call(FakeClient(fake, network.chain_id))

    def broadcast_committed(*, network: Any, raw: bytes, timeout: float) -> dict:
        from ledger.tx import decode_tx

        tx = decode_tx(raw)
        assert tx.chain_id == network.chain_id and tx.chaincode == "_did"
        if fake.down:
            raise gateway.GatewayUnavailable(message="No node of this network answered.")
        if fake.fail_next == "timeout":
            fake.fail_next = None
            raise AppError("commit_timeout", "no block in time", status=504,
                           details={"hash": "ab" * 32})
        if fake.fail_next == "reject":
            fake.fail_next = None
            raise AppError("tx_rejected", "rejected", status=422,
                           details={"log": "INVALID_ARGUMENT: refused", "stage": "deliver"})
        try:
            fake.apply(network.chain_id, tx.function, tx.args, tx.signer)
        except ValueError as exc:
            raise AppError("tx_rejected", f"The ledger rejected the transaction: {exc}",
                           status=422, details={"log": str(exc), "stage": "deliver",
                                                "hash": tx.hash}) from None
        return {"hash": tx.hash, "code": 0, "log": "", "height": fake.height, "data": None}

    def governance_tx(network: Any, chaincode: str, function: str, args: Any, *,
                      already_done: str = "") -> dict:
        if fake.down:
            raise gateway.GatewayUnavailable(message="No node of this network answered.")
        fake.apply(network.chain_id, function, args, "governance")
        return {"hash": "00" * 32, "height": fake.height}

    def signer_for(*, network: Any, tenant: Any, user: Any = None, token: Any = None,
                   request: Any = None) -> Any:
        from deploy.services.keys import member_id_for
        from ledger.tx import Signer

        key = (network.pk, tenant.pk, member_id_for(user=user, token=token))
        if key not in fake_signers:
            fake_signers[key] = Signer.generate()
        return fake_signers[key]

    fake_signers: dict[Any, Any] = {}
    fake.signers = fake_signers  # type: ignore[attr-defined]
    monkeypatch.setattr("deploy.gateway.with_failover", with_failover)
    monkeypatch.setattr("deploy.gateway.broadcast_committed", broadcast_committed)
    monkeypatch.setattr("deploy.chain.governance_tx", governance_tx)
    monkeypatch.setattr("deploy.services.keys.signer_for", signer_for)
    return fake
