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
- ``ctx.did_resolve(did)`` and ``ctx.did_verify(did_url, message, signature,
  relationship="authentication")`` read did:baas DIDs of this network (``_did``; see
  docs/did-method.md, "Chaincode access").
- ``ctx.ec``: the secp256k1 group for zero-knowledge proofs (points as hex, scalars as
  integers; ``ledger/ec_host.py``), each operation charged a fixed cost.

Functions marked ``@read`` get a read-only ctx: a write attempt fails the call.
Every host call is charged to the step meter (a fixed cost plus the size of the data)
*before* it does the work, sizes are checked before anything is encoded, and a refused
host call is sticky: catching the error does not let the call go on (the meter keeps the
failure and the transaction fails with it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledger import canonical, did_core, ed25519
from ledger.ec_host import EcHost
from ledger.errors import Code, LedgerError
from ledger.sandbox.runtime import ALLOC_UNIT, Exposed, Meter

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
# Per transaction (one call): what its writes and events may add to the block.
MAX_TX_WRITE_BYTES = 2 * 1024 * 1024
MAX_TX_EVENTS = 256
MAX_TX_EVENT_BYTES = 64 * 1024
MAX_RANGE_BYTES = 4 * 1024 * 1024  # bytes one ctx.range may read from the store
# ctx.did_resolve: 3 reads (config, head, version record), + bytes read/64.
DID_RESOLVE_COST = 50
# ctx.did_verify, whatever the outcome: 3 reads and up to 16 Ed25519 verifications (a DID
# may list 16 keys in one relationship), + message bytes/64. A fixed worst case, so the
# cost says nothing about the DID or the signature.
DID_VERIFY_COST = 4000


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
    max_write_bytes = MAX_TX_WRITE_BYTES
    EXPOSED = frozenset({
        "get", "put", "delete", "has", "range", "emit", "caller", "require_role",
        "block_height", "block_time", "tx_hash", "chaincode", "did_resolve", "did_verify",
        "ec",
    })

    def __init__(
        self,
        *,
        chaincode: str,
        reader: Any,  # get(key), has(key) (optional), range(start, end, limit, max_bytes)
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
        self.ec = EcHost(meter)
        self.writes = Writes()
        self.written_bytes = 0
        self.event_bytes = 0

    # -- helpers (host side; names start with _ so chaincode cannot reach them) ---------
    def _refuse(self, message: str, code: Code = Code.INVALID_ARGUMENT) -> LedgerError:
        """A host call refused: recorded on the meter, so catching it changes nothing."""
        return self._meter.trip(code, message)

    def _key(self, key: Any) -> bytes:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS or "\x00" in key:
            raise self._refuse(f"keys are strings of 1..{MAX_KEY_CHARS} characters without NUL")
        try:
            return self._prefix + key.encode("utf-8")
        except UnicodeEncodeError:
            raise self._refuse("keys must be valid UTF-8") from None

    def _bound(self, bound: Any) -> bytes:
        if not isinstance(bound, str) or len(bound) > MAX_KEY_CHARS:
            raise self._refuse(f"range bounds are strings of at most {MAX_KEY_CHARS} "
                               "characters")
        try:
            return bound.encode("utf-8")
        except UnicodeEncodeError:
            raise self._refuse("range bounds must be valid UTF-8") from None

    def _check_writable(self, what: str) -> None:
        if not self._writable:
            raise self._meter.trip(Code.READ_ONLY, f"{what} is not allowed in a read function")

    def _read_raw(self, full_key: bytes) -> bytes | None:
        if full_key in self.writes.data:
            return self.writes.data[full_key]
        return self._reader.get(full_key)

    # -- API ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        full = self._key(key)
        self._meter.step(GET_COST)
        raw = self._read_raw(full)  # at most MAX_VALUE_BYTES, paid for before decoding
        if raw:
            self._meter.step(len(raw) // BYTES_PER_STEP)
        # Stored values were written by canonical.encode, so plain json.loads is exact here.
        return default if raw is None else json.loads(raw)

    def has(self, key: str) -> bool:
        full = self._key(key)
        self._meter.step(GET_COST)
        if full in self.writes.data:
            return self.writes.data[full] is not None
        has = getattr(self._reader, "has", None)  # existence only: the value is not read
        return has(full) if has is not None else self._reader.get(full) is not None

    def put(self, key: str, value: Any) -> None:
        self._check_writable("put")
        full = self._key(key)
        meter = self._meter
        meter.charge_json(value)  # bounds the walks below: values may share sub-lists
        floor = meter.json_floor(value, self.max_value_bytes)
        if floor > self.max_value_bytes:  # refused before the encoder builds it
            raise self._refuse(f"value is at least {floor} bytes, limit {self.max_value_bytes}")
        meter.step(PUT_COST + floor // BYTES_PER_STEP)
        try:
            raw = canonical.encode(value, max_depth=64)
        except canonical.CanonicalError as exc:
            raise self._refuse(f"value is not storable: {exc}") from None
        if len(raw) > self.max_value_bytes:
            raise self._refuse(f"value is {len(raw)} bytes, limit {self.max_value_bytes}")
        meter.step((len(raw) - floor) // BYTES_PER_STEP)
        self._count_write(len(full) + len(raw))
        self.writes.data[full] = raw

    def _count_write(self, size: int) -> None:
        self.written_bytes += size
        if self.written_bytes > self.max_write_bytes:
            raise self._refuse(f"writes of one call exceed {self.max_write_bytes} bytes",
                               Code.RESOURCE_LIMIT)

    def delete(self, key: str) -> None:
        self._check_writable("delete")
        full = self._key(key)
        self._meter.step(PUT_COST)
        self._count_write(len(full))
        self.writes.data[full] = None

    def range(self, start: str = "", end: str | None = None, limit: int = 100) -> list[Any]:
        """[key, value] pairs with start <= key < end (whole key space if end is None)."""
        if type(limit) is not int or not 0 < limit <= MAX_RANGE:
            raise self._refuse(f"limit must be 1..{MAX_RANGE}")
        meter = self._meter
        lo = self._prefix + self._bound(start)
        hi = self._prefix[:-1] + b"0" if end is None else self._prefix + self._bound(end)
        own = self.writes.data
        # paid before any work: the scan of this call's own writes and the rows asked for
        meter.step(GET_COST + limit // ALLOC_UNIT + len(own) // ALLOC_UNIT)
        mine = {full: raw for full, raw in own.items() if lo <= full < hi}
        deleted = sum(1 for raw in mine.values() if raw is None)
        # every row read is paid for, not only those returned; a byte cap bounds the read
        budget = (meter.limit - meter.steps + 1) * BYTES_PER_STEP
        max_bytes = min(budget, MAX_RANGE_BYTES)
        rows = self._reader.range(lo, hi, limit + deleted, max_bytes=max_bytes)
        size = sum(len(raw) for _, raw in rows)
        meter.step(len(rows) + size // BYTES_PER_STEP)
        if size > MAX_RANGE_BYTES:
            raise self._refuse(f"range read more than {MAX_RANGE_BYTES} bytes",
                               Code.RESOURCE_LIMIT)
        merged = dict(rows)
        for full, raw in mine.items():
            if raw is None:
                merged.pop(full, None)
            else:
                merged[full] = raw
        items = sorted(merged.items())[:limit]
        size = sum(len(raw) for _, raw in items)
        meter.step(len(items) + size // BYTES_PER_STEP)
        cut = len(self._prefix)
        return [[k[cut:].decode("utf-8"), json.loads(v)] for k, v in items]

    def emit(self, event_type: str, **attrs: Any) -> None:
        self._check_writable("emit")
        meter = self._meter
        meter.step(EMIT_COST + len(attrs))
        # lengths first: isidentifier() and encoding walk the whole text
        if not isinstance(event_type, str) or len(event_type) > 64 or not (
                event_type.isidentifier()):
            raise self._refuse("event type must be an identifier")
        if event_type in RESERVED_EVENT_TYPES:
            raise self._refuse(f"event type {event_type!r} is reserved by CometBFT/the host")
        if len(attrs) > MAX_EVENT_ATTRS:
            raise self._refuse(f"at most {MAX_EVENT_ATTRS} attributes")
        if len(self.writes.events) >= MAX_TX_EVENTS:
            raise self._refuse(f"at most {MAX_TX_EVENTS} events per call", Code.RESOURCE_LIMIT)
        pairs = []
        size = len(event_type)
        for key, value in attrs.items():
            if len(key) > MAX_EVENT_KEY or not key.isidentifier():
                raise self._refuse(f"event attribute names are identifiers of at most "
                                   f"{MAX_EVENT_KEY} characters")
            if key in RESERVED_EVENT_ATTRS:
                raise self._refuse(f"event attribute {key!r} is reserved: the host sets it "
                                   f"to the emitting chaincode's name")
            if isinstance(value, str):
                text = value
                if len(text) > MAX_EVENT_VALUE:
                    raise self._refuse(
                        f"event attribute {key!r} exceeds {MAX_EVENT_VALUE} chars")
            else:
                meter.charge_json(value)
                floor = meter.json_floor(value, MAX_EVENT_VALUE)
                if floor > MAX_EVENT_VALUE:  # refused before the encoder builds it
                    raise self._refuse(
                        f"event attribute {key!r} exceeds {MAX_EVENT_VALUE} chars")
                try:
                    text = canonical.encode(value).decode()
                except canonical.CanonicalError as exc:
                    raise self._refuse(f"event attribute {key!r} is not JSON: {exc}") from None
                if len(text) > MAX_EVENT_VALUE:
                    raise self._refuse(
                        f"event attribute {key!r} exceeds {MAX_EVENT_VALUE} chars")
            try:
                encoded = len(text.encode("utf-8"))
            except UnicodeEncodeError:
                raise self._refuse(f"event attribute {key!r} is not valid UTF-8") from None
            size += len(key) + encoded
            pairs.append((key, text))
        meter.step(size // BYTES_PER_STEP)
        self.event_bytes += size
        if self.event_bytes > MAX_TX_EVENT_BYTES:
            raise self._refuse(f"events of one call exceed {MAX_TX_EVENT_BYTES} bytes",
                               Code.RESOURCE_LIMIT)
        self.writes.events.append((event_type, pairs))

    # -- did:baas (the _did key space, read directly: user chaincode cannot write it) ---
    def _did_read(self, key: str, *, paid: bool) -> Any:
        raw = self._reader.get(b"_did/" + key.encode())
        if raw is None:
            return None
        if paid:  # before parsing, as ctx.get
            self._meter.step(len(raw) // BYTES_PER_STEP)
        return json.loads(raw)

    def _did_here(self, did: Any, *, fragment: bool, paid: bool) -> tuple[str, str | None] | None:
        """(suffix, fragment) of a DID of this network's namespace; None for another
        namespace or method (also when this network has no namespace)."""
        try:
            namespace, suffix, part = did_core.parse_did_url(did, fragment=fragment)
        except LedgerError as err:
            raise self._refuse(err.message) from None
        if namespace is None:
            return None
        config = self._did_read(did_core.CONFIG_KEY, paid=paid) or {}
        return (suffix, part) if namespace == config.get("namespace") else None

    def did_resolve(self, did: str) -> Any:
        """The latest ``_did.resolve`` record of a DID of this network, or None."""
        self._meter.step(DID_RESOLVE_COST)
        here = self._did_here(did, fragment=False, paid=True)
        if here is None:
            return None
        try:
            return did_core.resolve_record(lambda key: self._did_read(key, paid=True),
                                           here[0])
        except LedgerError as err:
            if err.code == Code.NOT_FOUND:
                return None
            raise self._refuse(err.message) from None

    def did_verify(self, did_url: str, message: str, signature: str,
                   relationship: str = "authentication") -> bool:
        """Whether ``signature`` over ``message`` is by a key of the DID (URL) listed in
        ``relationship``. Charged DID_VERIFY_COST + message bytes/64 before any work,
        whatever the answer."""
        limit = did_core.MAX_MESSAGE_BYTES
        if not isinstance(message, str) or len(message) > limit:
            raise self._refuse(f"message must be a string of at most {limit} bytes")
        self._meter.step(DID_VERIFY_COST + len(message) // BYTES_PER_STEP)
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError:
            raise self._refuse("message must be valid UTF-8") from None
        if len(data) > limit:
            raise self._refuse(f"message must be a string of at most {limit} bytes")
        self._meter.step(len(data) // BYTES_PER_STEP - len(message) // BYTES_PER_STEP)
        if data.startswith(did_core.LEDGER_DOMAINS):
            # Every signature the ledger itself checks (a DID operation, a transaction, a
            # signed query, a membership proof) is over bytes that start with its domain
            # under "ledger/": accepting one here would let a chaincode pass a signature
            # taken off the chain as the key's holder authenticating something else.
            raise self._refuse("message must not start with a ledger signing domain "
                               f"({did_core.LEDGER_DOMAINS.decode()!r}...)")
        if not isinstance(signature, str) or not did_core.HEX128.match(signature):
            raise self._refuse("signature must be 128 lower-case hex characters")
        if not isinstance(relationship, str) or (
                relationship not in did_core.SIGNING_RELATIONSHIPS):
            raise self._refuse("relationship must be one of "
                               + ", ".join(sorted(did_core.SIGNING_RELATIONSHIPS)))
        here = self._did_here(did_url, fragment=True, paid=False)
        if here is None:
            return False
        suffix, fragment = here
        head = self._did_read(did_core.head_key(suffix), paid=False)
        if head is None or head["deactivated"]:
            return False
        state = self._did_read(did_core.version_key(suffix, head["version"]),
                               paid=False)["state"]
        sig = bytes.fromhex(signature)
        keys = did_core.signing_keys(state, relationship, fragment)
        return any(ed25519.verify(key, sig, data) for key in keys)

    def require_role(self, role: str) -> None:
        self._meter.step(GET_COST)  # raising and catching is the costly part
        if not self.caller.has_role(role):
            # the message quotes a bounded prefix: repr() of a huge role, caught and retried
            # in a loop, would be unmetered work
            shown = role[:64] if isinstance(role, str) else type(role).__name__
            raise LedgerError(Code.UNAUTHORIZED, f"caller lacks role {shown!r}")
