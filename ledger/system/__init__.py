"""System chaincode present in every network from genesis: ``_identity`` and ``_lifecycle``."""

from __future__ import annotations

from ledger.system.base import SystemChaincode, SystemContext
from ledger.system.identity import identity as identity_chaincode
from ledger.system.lifecycle import lifecycle as lifecycle_chaincode

SYSTEM_CHAINCODES: dict[str, SystemChaincode] = {
    identity_chaincode.name: identity_chaincode,
    lifecycle_chaincode.name: lifecycle_chaincode,
}

__all__ = ["SYSTEM_CHAINCODES", "SystemChaincode", "SystemContext"]
