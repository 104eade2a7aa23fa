"""What chaincode sees: the ``ctx`` passed as first argument to every exported function.

```python
@write
def put(ctx, key, value):
    ctx.put(key, value)
    ctx.emit("put", key=key)

@read
def get(ctx, key):
    return ctx.get(key)
```

- ``ctx.get(key, default=None)``, ``ctx.put(key, value)``, ``ctx.delete(key)``,
  ``ctx.has(key)``, ``ctx.range(start="", end=None, limit=100)`` work on the chaincode's own
  key space only: key ``k`` of chaincode ``c`` is stored as ``c/k``. Keys are strings of 1..256
  characters; values are JSON values (no floats), stored as canonical JSON.
- ``ctx.emit(event_type, **attrs)`` records an indexed event (attribute values become strings).
  Attribute names are identifiers; ``chaincode`` is refused because the host adds it (the
  emitting chaincode's name) to every event, so subscribers can trust it.
- ``ctx.caller``: ``public_key``, ``org``, ``member``, ``roles``, ``has_role(role)``.
  ``ctx.require_role(role)`` fails the call with ``UNAUTHORIZED`` unless the caller has it.
- ``ctx.block_height``, ``ctx.block_time`` (integer nanoseconds from the block header),
  ``ctx.tx_hash`` (hex; ``""`` in queries), ``ctx.chaincode`` (own name).

Functions marked ``@read`` get a read-only ctx: a write attempt fails the call.
Every host call is charged to the step meter (a fixed cost plus the size of the data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger import canonical
from ledger.errors import Code, LedgerError
from ledger.sandbox.runtime import Exposed, Meter

MAX_KEY_CHARS = 256
MAX_VALUE_BYTES = 64 * 1024
MAX_RANGE = 1000
MAX_EVENT_ATTRS = 16
RESERVED_EVENT_TYPES = frozenset({"tm", "tx"})
# Attributes the host adds to every chaincode event (ledger.app, _deliver): a chaincode
# setting them itself could forge events that queries such as kv_put.chaincode='kv' match.
RESERVED_EVENT_ATTRS = frozenset({"chaincode"})
MAX_EVENT_KEY = 64
MAX_EVENT_VALUE = 1024
GET_COST = 10
PUT_COST = 20
EMIT_COST = 5
BYTES_PER_STEP = 64


@dataclass(frozen=True)
class Caller(Exposed):
    public_key: str
    org: str | None = None
    member: str | None = None
    roles: tuple[str, ...] = ()

    EXPOSED = frozenset({"public_key", "org", "member", "roles", "has_role"})

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass
class Writes:
    """Writes and events of one call, applied to the block only if the call succeeds."""

    data: dict[bytes, bytes | None] = field(default_factory=dict)
    events: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)


class Context(Exposed):
    max_value_bytes = MAX_VALUE_BYTES
    EXPOSED = frozenset({
        "get", "put", "delete", "has", "range", "emit", "caller", "require_role",
        "block_height", "block_time", "tx_hash", "chaincode",
    })

    def __init__(
        self,
        *,
        chaincode: str,
        reader: Any,  # object with get(key: bytes) and range(start, end, limit)
        caller: Caller,
        block_height: int,
        block_time: int,
        tx_hash: str,
        meter: Meter,
        writable: bool,
    ) -> None:
        self.chaincode = chaincode
        self.caller = caller
        self.block_height = block_height
        self.block_time = block_time
        self.tx_hash = tx_hash
        self._reader = reader
        self._meter = meter
        self._writable = writable
        self._prefix = chaincode.encode() + b"/"
        self.writes = Writes()

    # -- helpers (host side; names start with _ so chaincode cannot reach them) ---------
    def _key(self, key: Any) -> bytes:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS or "\x00" in key:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"keys are strings of 1..{MAX_KEY_CHARS} characters without NUL")
        return self._prefix + key.encode("utf-8")

    def _check_writable(self, what: str) -> None:
        if not self._writable:
            raise self._meter.trip(Code.READ_ONLY, f"{what} is not allowed in a read function")

    def _read_raw(self, full_key: bytes) -> bytes | None:
        if full_key in self.writes.data:
            return self.writes.data[full_key]
        return self._reader.get(full_key)

    # -- API ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        raw = self._read_raw(self._key(key))
        self._meter.step(GET_COST + (len(raw) // BYTES_PER_STEP if raw else 0))
        # Stored values were written by canonical.encode, so plain json.loads is exact here.
        return default if raw is None else json.loads(raw)

    def has(self, key: str) -> bool:
        self._meter.step(GET_COST)
        return self._read_raw(self._key(key)) is not None

    def put(self, key: str, value: Any) -> None:
        self._check_writable("put")
        full = self._key(key)
        self._meter.charge_json(value)  # bounds the walk below: values may share sub-lists
        try:
            raw = canonical.encode(value, max_depth=64)
        except canonical.CanonicalError as exc:
            raise LedgerError(Code.INVALID_ARGUMENT, f"value is not storable: {exc}") from None
        if len(raw) > self.max_value_bytes:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"value is {len(raw)} bytes, limit {self.max_value_bytes}")
        self._meter.step(PUT_COST + len(raw) // BYTES_PER_STEP)
        self.writes.data[full] = raw

    def delete(self, key: str) -> None:
        self._check_writable("delete")
        self._meter.step(PUT_COST)
        self.writes.data[self._key(key)] = None

    def range(self, start: str = "", end: str | None = None, limit: int = 100) -> list[Any]:
        """[key, value] pairs with start <= key < end (whole key space if end is None)."""
        if not isinstance(limit, int) or not 0 < limit <= MAX_RANGE:
            raise LedgerError(Code.INVALID_ARGUMENT, f"limit must be 1..{MAX_RANGE}")
        if not isinstance(start, str) or not (end is None or isinstance(end, str)):
            raise LedgerError(Code.INVALID_ARGUMENT, "range bounds must be strings")
        lo = self._prefix + start.encode("utf-8")
        hi = self._prefix[:-1] + b"0" if end is None else self._prefix + end.encode("utf-8")
        merged = dict(self._reader.range(lo, hi, limit + len(self.writes.data)))
        for full, raw in self.writes.data.items():
            if lo <= full < hi:
                if raw is None:
                    merged.pop(full, None)
                else:
                    merged[full] = raw
        items = sorted(merged.items())[:limit]
        size = sum(len(raw) for _, raw in items)
        self._meter.step(GET_COST + len(items) + size // BYTES_PER_STEP)
        cut = len(self._prefix)
        return [[k[cut:].decode("utf-8"), json.loads(v)] for k, v in items]

    def emit(self, event_type: str, **attrs: Any) -> None:
        self._check_writable("emit")
        if not isinstance(event_type, str) or not event_type.isidentifier() or len(
                event_type) > 64:
            raise LedgerError(Code.INVALID_ARGUMENT, "event type must be an identifier")
        if event_type in RESERVED_EVENT_TYPES:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"event type {event_type!r} is reserved by CometBFT/the host")
        if len(attrs) > MAX_EVENT_ATTRS:
            raise LedgerError(Code.INVALID_ARGUMENT, f"at most {MAX_EVENT_ATTRS} attributes")
        pairs = []
        for key, value in attrs.items():
            if not key.isidentifier() or len(key) > MAX_EVENT_KEY:
                raise LedgerError(Code.INVALID_ARGUMENT,
                                  f"event attribute names are identifiers of at most "
                                  f"{MAX_EVENT_KEY} characters")
            if key in RESERVED_EVENT_ATTRS:
                raise LedgerError(Code.INVALID_ARGUMENT,
                                  f"event attribute {key!r} is reserved: the host sets it "
                                  f"to the emitting chaincode's name")
            if not isinstance(value, str):
                self._meter.charge_json(value)
            text = value if isinstance(value, str) else canonical.encode(value).decode()
            if len(text) > MAX_EVENT_VALUE:
                raise LedgerError(Code.INVALID_ARGUMENT,
                                  f"event attribute {key!r} exceeds {MAX_EVENT_VALUE} chars")
            pairs.append((key, text))
        self._meter.step(EMIT_COST + len(pairs))
        self.writes.events.append((event_type, pairs))

    def require_role(self, role: str) -> None:
        if not self.caller.has_role(role):
            raise LedgerError(Code.UNAUTHORIZED, f"caller lacks role {role!r}")
