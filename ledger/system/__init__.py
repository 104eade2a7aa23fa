"""System chaincode present in every network: ``_identity``, ``_lifecycle`` and ``_did``."""

from __future__ import annotations

from ledger.system.base import SystemChaincode, SystemContext
from ledger.system.did import did_chaincode
from ledger.system.identity import identity as identity_chaincode
from ledger.system.lifecycle import lifecycle as lifecycle_chaincode

SYSTEM_CHAINCODES: dict[str, SystemChaincode] = {
    identity_chaincode.name: identity_chaincode,
    lifecycle_chaincode.name: lifecycle_chaincode,
    did_chaincode.name: did_chaincode,
}

__all__ = ["SYSTEM_CHAINCODES", "SystemChaincode", "SystemContext"]
