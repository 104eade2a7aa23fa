"""Plumbing shared by the system chaincodes (native Python, trusted, present from genesis).

System chaincode is ordinary deterministic Python run by the host, not through the sandbox:
it is part of the node software, so every validator runs the same version by construction.
It sees the same ``Context`` as user chaincode plus host hooks (``SystemContext``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.contract import Context
from ledger.errors import Code, LedgerError

ADMIN_ROLE = "admin"


class SystemContext(Context):
    """Context for system chaincode: adds hooks only the host can offer."""

    max_value_bytes = 256 * 1024  # chaincode source is stored as one value
    max_write_bytes = 1 << 62  # trusted code (genesis writes many values); blocks still cap

    def __init__(self, *, host: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host  # LedgerApp-side services: compile, validator updates, reads
        self.validator_updates: list[tuple[bytes, int]] = []

    def charge(self, steps: int) -> None:
        """Charge host work (compiling chaincode) to the transaction's meter."""
        self._meter.step(steps)

    def read_other(self, chaincode: str, key: str) -> Any:
        """Read another chaincode's key (system chaincode only: identity lookups)."""
        saved = (self.chaincode, self._prefix)
        self.chaincode, self._prefix = chaincode, chaincode.encode() + b"/"
        try:
            return self.get(key)
        finally:
            self.chaincode, self._prefix = saved


@dataclass
class SystemChaincode:
    name: str
    exports: dict[str, tuple[str, Callable[..., Any]]] = field(default_factory=dict)

    def read(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.exports[fn.__name__] = ("read", fn)
        return fn

    def write(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.exports[fn.__name__] = ("write", fn)
        return fn


def require_admin(ctx: Context) -> None:
    if not ctx.caller.has_role(ADMIN_ROLE):
        raise LedgerError(Code.UNAUTHORIZED, "only identities with the admin role may do this")


def governs(ctx: SystemContext, org: str) -> bool:
    """Whether ``org`` takes part in governance. Genesis organisations govern; one added
    later governs only if ``add_org`` said so. Records written before this field existed
    count as governing (their networks keep working after an upgrade)."""
    record = ctx.read_other("_identity", f"org/{org}")
    return record is not None and bool(record.get("governs", True))


def governing_org(ctx: SystemContext) -> str:
    """The caller's organisation, if the caller is an admin of a governing organisation:
    only those approve installs, upgrades and changes to organisations and validators, so
    a consortium member cannot take over the network it was invited into."""
    require_admin(ctx)
    org = ctx.caller.org
    if not org:
        raise LedgerError(Code.UNAUTHORIZED, "caller belongs to no organisation")
    if not governs(ctx, org):
        raise LedgerError(Code.UNAUTHORIZED,
                          f"organisation {org!r} does not take part in governance: only "
                          "governing organisations approve chaincode and changes to "
                          "organisations and validators")
    return org


def counted(ctx: SystemContext, approvals: list[str]) -> list[str]:
    """The approvals that still count: an organisation removed (or no longer governing)
    since it approved does not."""
    return [org for org in approvals if governs(ctx, org)]


def require_str(value: Any, what: str, *, max_len: int = 128) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{what} must be a string of 1..{max_len} chars")
    return value


def require_hex_key(value: Any, what: str = "public_key") -> str:
    if (not isinstance(value, str) or len(value) != 64
            or any(c not in "0123456789abcdef" for c in value)):
        raise LedgerError(Code.INVALID_ARGUMENT, f"{what} must be 64 lowercase hex characters")
    return value
