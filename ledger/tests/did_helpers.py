"""Building and signing did:baas operations in ledger tests (clients use identity.did)."""

from __future__ import annotations

from typing import Any

from ledger.system.did import derive_suffix, op_message
from ledger.testing import CHAIN_ID, Chain, seeded
from ledger.tx import Signer

NAMESPACE = "seoul-welfare"


def key_state(signer: Signer, key_id: str = "key-1", **extra: Any) -> dict[str, Any]:
    """One Ed25519 key in authentication, assertionMethod and capabilityInvocation."""
    return {"verificationMethod": [{"id": key_id, "type": "Ed25519",
                                    "publicKey": signer.public_key_hex}],
            "authentication": [key_id], "assertionMethod": [key_id],
            "capabilityInvocation": [key_id], **extra}


def signed(signer: Signer, did: str, op: str, prev: int, state: Any, key: str = "key-1",
           chain_id: str = CHAIN_ID) -> dict[str, Any]:
    sig = signer.sign(op_message(chain_id, did, op, prev, state)).hex()
    return {"did": did, "op": op, "prev": prev, "state": state, "key": key, "sig": sig}


def create_op(signer: Signer, state: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    state = key_state(signer) if state is None else state
    return signed(signer, derive_suffix(signer.public_key_bytes), "create", 0, state, **kw)


def did_of(signer: Signer) -> str:
    return derive_suffix(signer.public_key_bytes)


def run(chain: Chain, function: str, op: Any, signer: str = "user1") -> Any:
    """One _did write in its own block; its TxResult."""
    return chain.block(chain.tx(signer, "_did", function, [op])).tx_results[0]


def with_namespace(chain: Chain) -> Chain:
    result = run(chain, "set_namespace", NAMESPACE, signer="admin1")
    assert result.code == 0, result.log
    return chain


__all__ = ["NAMESPACE", "create_op", "did_of", "key_state", "run", "seeded", "signed",
           "with_namespace"]
