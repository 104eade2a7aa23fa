"""Stable error codes of the ledger application.

Every rejected or failed transaction carries one of these codes (``TxResult.code``) with
codespace ``"ledger"``. The numbers are part of the public protocol: clients and the
gateway switch on them, so never renumber; only append.
"""

from __future__ import annotations

from enum import IntEnum

CODESPACE = "ledger"


class Code(IntEnum):
    OK = 0
    # envelope / admission (CheckTx and FinalizeBlock)
    MALFORMED_TX = 1  # not canonical JSON, wrong field types, unknown fields
    TX_TOO_LARGE = 2
    BAD_SIGNATURE = 3
    WRONG_CHAIN = 4
    REPLAYED_TX = 5  # same signed body already committed inside the replay window
    TX_EXPIRED = 6  # tx time outside the accepted window around the block time
    UNKNOWN_SIGNER = 7  # signer public key is not registered in _identity
    UNKNOWN_CHAINCODE = 8
    UNKNOWN_FUNCTION = 9
    # execution
    UNAUTHORIZED = 10  # caller lacks the role the function requires
    INVALID_ARGUMENT = 11  # args rejected by the function or the host
    OUT_OF_GAS = 12  # deterministic step budget exhausted
    SANDBOX_VIOLATION = 13  # forbidden operation attempted at run time
    CODE_REJECTED = 14  # chaincode source refused at compile time
    CHAINCODE_ERROR = 15  # the chaincode raised an exception
    READ_ONLY = 16  # a write attempted from a read-only function or query
    NOT_FOUND = 17  # query target does not exist
    BAD_QUERY = 18  # unknown query path or malformed query data
    RESOURCE_LIMIT = 19  # allocation / recursion / size guard tripped
    DUPLICATE_TX = 20  # the same tx appears twice in one block or mempool
    INVALID_OUTPUT = 21  # a result, log or event could not cross the ABCI boundary
    HOST_ERROR = 22  # the host failed executing the tx (a bug): the tx fails, the chain goes on


class LedgerError(Exception):
    """An application error with a stable code and a deterministic message."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name.lower()}: {self.message}"


class TxError(LedgerError):
    """Raised while decoding or admitting a transaction envelope."""


class SandboxError(LedgerError):
    """Raised when chaincode breaks a sandbox rule (compile time or run time)."""
