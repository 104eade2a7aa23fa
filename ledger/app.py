"""The ledger application: deterministic chaincode host behind the ABCI layer.

``ledger/abci/`` (ledger-net) translates ABCI 2.0 requests into calls on ``LedgerApp``; this
module knows nothing about protobuf or sockets. Life of a block::

    finalize_block(height, time, txs) -> BlockResult(tx results, app hash, validator updates)
    commit()                          -> writes, height and app hash persisted atomically

Every tx is admitted twice: ``check_tx`` (mempool, against the wall clock) and again inside
``finalize_block`` (against the block time; the authoritative, deterministic check).
"""

from __future__ import annotations

import json
import pathlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import canonical
from ledger.contract import Caller, Context
from ledger.errors import CODESPACE, Code, LedgerError
from ledger.genesis import GenesisError, parse_app_state
from ledger.metrics import HostMetrics
from ledger.sandbox import CompiledChaincode, Meter, compile_chaincode, invoke
from ledger.sandbox.runtime import DEFAULT_STEP_LIMIT
from ledger.state import StateReader, StateStore
from ledger.system import SYSTEM_CHAINCODES, SystemContext
from ledger.system import identity as identity_cc  # the module
from ledger.tx import Transaction, decode_query, decode_tx

# A tx is valid only while block time - PAST <= tx.time_ms <= block time + FUTURE; its body
# hash stays in the replay set until tx.time_ms + PAST, after which the time rule refuses it.
TX_WINDOW_PAST_MS = 5 * 60 * 1000
TX_WINDOW_FUTURE_MS = 60 * 1000
# Steps all txs of one block may use together: bounds a block's execution time whatever
# its txs do (a registered member spamming runaway calls cannot stall the chain for long).
BLOCK_STEP_LIMIT = 50 * DEFAULT_STEP_LIMIT
DECODED_CACHE_SIZE = 20_000
DECODED_CACHE_MAX_TX = 4096  # bytes; larger txs (chaincode installs) are rare: not cached
RECORD_CACHE_SIZE = 10_000
PROPOSAL_TX_OVERHEAD = 8  # protobuf tag + length prefix per tx, rounded up
GENESIS_KEY = "0" * 64
# What one block's transactions may add to the block reply and the store (results, logs,
# event attributes; written keys and values). A tx that would go past either fails with
# RESOURCE_LIMIT and changes nothing; the same tx in the same block does so on every node.
MAX_BLOCK_OUTPUT_BYTES = 8 * 1024 * 1024
MAX_BLOCK_WRITE_BYTES = 32 * 1024 * 1024
QUERY_STEP_LIMIT = DEFAULT_STEP_LIMIT  # one query: at most what one call may use
KEYS_PAGE = 100  # keys per ``/keys`` query page
KEYS_MAX_BYTES = 1024 * 1024  # values per ``/keys`` page; a page stops early past it


@dataclass(frozen=True)
class Event:
    type: str
    attributes: list[tuple[str, str]]  # (key, value); all indexed


@dataclass(frozen=True)
class TxResult:
    code: int = 0  # 0 = ok; stable non-zero codes in ledger/errors.py
    log: str = ""  # human message on failure
    data: bytes = b""  # return value (JSON bytes) on success
    events: list[Event] = field(default_factory=list)
    gas_used: int = 0  # deterministic execution steps used
    codespace: str = ""  # "ledger" for our errors


@dataclass(frozen=True)
class ValidatorUpdate:
    pub_key: bytes  # 32-byte ed25519 public key
    power: int  # 0 removes


@dataclass(frozen=True)
class BlockResult:
    tx_results: list[TxResult]
    app_hash: bytes
    validator_updates: list[ValidatorUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class QueryResult:
    code: int = 0
    log: str = ""
    key: bytes = b""
    value: bytes = b""
    height: int = 0
    proof: bytes = b""  # optional, opaque (JSON) proof


def _text(message: str, limit: int = 500) -> str:
    """A log line that can cross the ABCI boundary: bounded, valid UTF-8 (lone surrogates
    are escaped the same way on every node)."""
    message = message if len(message) <= limit else message[: limit - 3] + "..."
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message


def _failure(err: LedgerError, gas_used: int = 0) -> TxResult:
    return TxResult(code=int(err.code), log=_text(err.message), codespace=CODESPACE,
                    gas_used=gas_used)


def _output_size(result: TxResult) -> int:
    """Bytes ``result`` adds to the block reply; raises UnicodeEncodeError if any of its
    text is not valid UTF-8 (protobuf would refuse to serialise it)."""
    size = len(result.data) + len(result.log.encode("utf-8"))
    for event in result.events:
        size += len(event.type.encode("utf-8"))
        for key, value in event.attributes:
            size += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    return size


@dataclass
class _BlockBudget:
    steps: int
    output: int = 0
    written: int = 0


class _AtHeight:
    """Read-only view of committed state at one height (for queries)."""

    def __init__(self, store: StateStore, height: int) -> None:
        self.store = store
        self.height = height

    def get(self, key: bytes) -> bytes | None:
        return self.store.get_at(key, self.height)

    def has(self, key: bytes) -> bool:
        return self.store.has_at(key, self.height)

    def range(self, start: bytes, end: bytes, limit: int,
              max_bytes: int | None = None) -> list[tuple[bytes, bytes]]:
        return self.store.range_at(start, end, self.height, limit, max_bytes)


@dataclass
class _Call:
    result: Any
    steps: int
    ctx: Context


class LedgerApp:
    def __init__(self, data_dir: pathlib.Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        # The clock is used only by check_tx (local mempool policy), never in consensus.
        self._clock = clock
        self._lock = threading.RLock()
        # Queries never take _lock: they read committed heights through their own SQLite
        # connection (``_reads``), one at a time under _query_lock, so a query can neither
        # wait for nor hold up consensus (the ABCI server runs them on their own thread).
        self._query_lock = threading.Lock()
        self.store = StateStore(pathlib.Path(data_dir) / "state.sqlite")
        self._reads: StateReader | None = None
        self.chain_id: str = self._meta_str("chain_id")
        self._compiled: dict[str, CompiledChaincode] = {}
        self._decoded: OrderedDict[bytes, Transaction] = OrderedDict()
        self._records: dict[bytes, Any] = {}  # raw system record -> parsed JSON
        self._block: tuple[int, int] | None = None  # (height, time_ns) awaiting commit
        # Node-local figures (times differ per node): never part of the state or app hash.
        self.metrics = HostMetrics(state_size=lambda: self._query_reads().size())
        self.metrics.height.set(self.store.height)
        self._block_started = 0.0
        self._tx_chaincode = ""  # the tx being delivered, for its metrics label

    def _meta_str(self, key: str) -> str:
        value = self.store.get_meta(key)
        return value.decode() if isinstance(value, bytes) else (value or "")

    # -- ABCI surface ------------------------------------------------------------------
    def info(self) -> tuple[int, bytes]:
        with self._lock:
            return self.store.height, self.store.app_hash

    def init_chain(self, *, chain_id: str, initial_height: int, time_ns: int,
                   validators: list[ValidatorUpdate], app_state: bytes) -> bytes:
        with self._lock:
            genesis = parse_app_state(app_state)
            self.store.discard()
            self.chain_id = chain_id
            self.store.set_meta("chain_id", chain_id)
            admin = Caller(public_key=GENESIS_KEY, member="genesis", roles=("admin",))

            ident = self._system_ctx("_identity", admin, self.store, initial_height, time_ns)
            try:
                for org in genesis.organisations:
                    identity_cc.create_org(ident, org["id"], org.get("name") or org["id"],
                                           governs=True)
                    for m in org.get("members", []):
                        identity_cc.create_member(ident, org["id"],
                                                  m.get("id") or m["public_key"][:8],
                                                  m["public_key"], m.get("roles", []))
            except LedgerError as err:
                raise GenesisError(f"genesis organisations: {err.message}") from None
            ident.put("config", {"open_access": genesis.open_access})
            for i, v in enumerate(validators):
                if v.power > 0:
                    pk = v.pub_key.hex()
                    ident.put(f"node/{pk}", {"public_key": pk, "org": genesis.validator_org,
                                             "power": v.power,
                                             "name": f"genesis-validator-{i}"})
            self._apply(ident)

            life = self._system_ctx("_lifecycle", admin, self.store, initial_height, time_ns)
            life.put("policy", {"min_organisations": genesis.min_organisations})
            for cc in genesis.chaincodes:
                try:
                    compiled = self.compile(cc["source"])
                except LedgerError as err:
                    raise GenesisError(f"genesis chaincode {cc['name']!r}: {err.message}"
                                       ) from None
                life.put(f"code/{compiled.code_hash}", cc["source"])
                life.put(f"cc/{cc['name']}", {
                    "name": cc["name"], "version": cc["version"],
                    "code_hash": compiled.code_hash, "exports": compiled.exports,
                    "sequence": 1, "height": initial_height,
                })
            self._apply(life)
            return self.store.root()

    def check_tx(self, tx: bytes, *, recheck: bool = False) -> TxResult:
        with self._lock:
            try:
                decoded = self._decode(tx)
                now_ms = int(self._clock() * 1000)
                self._admit(decoded, self.store, now_ms)
            except LedgerError as err:
                return _failure(err)
            return TxResult()

    def prepare_proposal(self, txs: list[bytes], *, max_tx_bytes: int) -> list[bytes]:
        with self._lock:
            chosen: list[bytes] = []
            seen: set[str] = set()
            total = 0
            for raw in txs:
                size = len(raw) + PROPOSAL_TX_OVERHEAD
                if total + size > max_tx_bytes:
                    continue
                try:
                    decoded = self._decode(raw)
                except LedgerError:
                    continue
                if decoded.chain_id != self.chain_id or decoded.body_hash in seen:
                    continue
                if bytes.fromhex(decoded.body_hash) in self.store.replay:
                    continue  # already committed: it would only fail with REPLAYED_TX
                seen.add(decoded.body_hash)
                chosen.append(raw)
                total += size
            return chosen

    def process_proposal(self, txs: list[bytes]) -> bool:
        """Refuse blocks carrying undecodable, unsigned, foreign or duplicated txs.

        Only checks that give the same answer on every node before execution; time window
        and replay rules are applied in finalize_block, where a failing tx gets a code.
        """
        with self._lock:
            seen: set[str] = set()
            for raw in txs:
                try:
                    decoded = self._decode(raw)
                except LedgerError:
                    return False
                if decoded.chain_id != self.chain_id or decoded.body_hash in seen:
                    return False
                seen.add(decoded.body_hash)
            return True

    def finalize_block(self, *, height: int, time_ns: int, proposer: bytes,
                       txs: list[bytes]) -> BlockResult:
        with self._lock:
            self._block_started = time.perf_counter()
            updates: dict[bytes, int] = {}
            budget = _BlockBudget(steps=BLOCK_STEP_LIMIT)
            results = [self._deliver_safely(raw, height, time_ns, updates, budget)
                       for raw in txs]
            app_hash = self.store.root()
            self._block = (height, time_ns)
            return BlockResult(
                tx_results=results,
                app_hash=app_hash,
                validator_updates=[ValidatorUpdate(pk, p) for pk, p in updates.items()],
            )

    def commit(self) -> int:
        with self._lock:
            if self._block is None:
                raise RuntimeError("commit without finalize_block")
            height, time_ns = self._block
            self.store.commit(height=height, time_ns=time_ns)
            self._block = None
            try:
                self.metrics.block_seconds.observe(time.perf_counter() - self._block_started)
                self.metrics.height.set(height)
            except Exception:  # noqa: BLE001 -- figures never fail a commit
                pass
            return 0

    def query(self, *, path: str, data: bytes, height: int = 0,
              prove: bool = False) -> QueryResult:
        """Serve a query from committed state; safe to call from another thread than the
        consensus calls (it never takes their lock)."""
        with self._query_lock:
            latest = self.store.height
            at = height or latest
            if at > latest or at < 0:
                return QueryResult(code=int(Code.BAD_QUERY), height=latest,
                                   log=f"height {at} is not committed (latest {latest})")
            try:
                return self._query(path, data, at, prove)
            except LedgerError as err:
                return QueryResult(code=int(err.code), log=_text(err.message), key=data,
                                   height=at)
            except (ValueError, KeyError, TypeError) as exc:  # e.g. a non-record at that key
                return QueryResult(code=int(Code.BAD_QUERY), key=data, height=at,
                                   log=_text(f"query failed: {type(exc).__name__}: {exc}"))
            except Exception as exc:  # MemoryError, RecursionError, a bug: answer, never die
                return QueryResult(code=int(Code.HOST_ERROR), key=data, height=at,
                                   log=f"query failed: {type(exc).__name__}")

    def _query_reads(self) -> Any:
        if self._reads is None:
            try:
                self._reads = StateReader(self.store.path)
            except Exception:  # no file yet (nothing committed): read through the store
                return self.store
        return self._reads

    def close(self) -> None:
        with self._lock, self._query_lock:
            if self._reads is not None:
                self._reads.close()
            self.store.close()

    # -- chaincode services ------------------------------------------------------------
    def compile(self, source: str) -> CompiledChaincode:
        """Compile (cached by code hash); raises SandboxError(CODE_REJECTED)."""
        from ledger.sandbox import code_hash

        key = code_hash(source) if isinstance(source, str) else ""
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_chaincode(source)
            self._compiled[compiled.code_hash] = compiled
        return compiled

    def _record(self, raw: bytes) -> Any:
        """Parse a system record; memoised by its bytes (parsing is a pure function).

        Callers must not mutate the result.
        """
        parsed = self._records.get(raw)
        if parsed is None:
            if len(self._records) > RECORD_CACHE_SIZE:
                self._records.clear()
            parsed = self._records[raw] = json.loads(raw)
        return parsed

    def _chaincode(self, name: str, reader: Any) -> tuple[CompiledChaincode, dict[str, Any]]:
        raw = reader.get(f"_lifecycle/cc/{name}".encode())
        if raw is None:
            raise LedgerError(Code.UNKNOWN_CHAINCODE, f"chaincode {name!r} is not installed")
        record = self._record(raw)
        compiled = self._compiled.get(record["code_hash"])
        if compiled is None:
            source = canonical.decode(
                reader.get(f"_lifecycle/code/{record['code_hash']}".encode()))
            compiled = self.compile(source)
        return compiled, record

    def _caller(self, public_key: str, reader: Any) -> Caller | None:
        raw = reader.get(f"_identity/member/{public_key}".encode())
        if raw is None:
            return None
        m = self._record(raw)
        return Caller(public_key=public_key, org=m["org"], member=m["member"],
                      roles=tuple(m["roles"]))

    def _open_access(self, reader: Any) -> bool:
        raw = reader.get(b"_identity/config")
        return bool(raw and self._record(raw).get("open_access"))

    # -- admission and execution -------------------------------------------------------
    def _decode(self, raw: bytes) -> Transaction:
        """Decode + verify, memoised: the signature of identical bytes never changes."""
        cached = self._decoded.get(raw)
        if cached is not None:
            return cached
        decoded = decode_tx(raw)
        if len(raw) <= DECODED_CACHE_MAX_TX:  # keep the cache's memory bounded
            self._decoded[raw] = decoded
            if len(self._decoded) > DECODED_CACHE_SIZE:
                self._decoded.popitem(last=False)
        return decoded

    def _admit(self, tx: Transaction, reader: Any, now_ms: int) -> Caller:
        if tx.chain_id != self.chain_id:
            raise LedgerError(Code.WRONG_CHAIN,
                              f"tx is for chain {tx.chain_id!r}, this is {self.chain_id!r}")
        if not now_ms - TX_WINDOW_PAST_MS <= tx.time_ms <= now_ms + TX_WINDOW_FUTURE_MS:
            raise LedgerError(Code.TX_EXPIRED,
                              f"tx time {tx.time_ms} is outside [-{TX_WINDOW_PAST_MS}, "
                              f"+{TX_WINDOW_FUTURE_MS}] ms of the block time")
        if bytes.fromhex(tx.body_hash) in self.store.replay:
            raise LedgerError(Code.REPLAYED_TX, "tx was already included")
        caller = self._caller(tx.signer, reader)
        if caller is None:
            if not self._open_access(reader):
                raise LedgerError(Code.UNKNOWN_SIGNER, "signer is not registered in _identity")
            caller = Caller(public_key=tx.signer)
        system = SYSTEM_CHAINCODES.get(tx.chaincode)
        if system is not None:
            if tx.function not in system.exports:
                raise LedgerError(Code.UNKNOWN_FUNCTION,
                                  f"{tx.chaincode} has no function {tx.function!r}")
        else:
            _, record = self._chaincode(tx.chaincode, reader)
            if tx.function not in record["exports"]:
                raise LedgerError(Code.UNKNOWN_FUNCTION,
                                  f"{tx.chaincode} has no function {tx.function!r}")
        return caller

    def _deliver_safely(self, raw: bytes, height: int, time_ns: int,
                        updates: dict[bytes, int], budget: _BlockBudget) -> TxResult:
        """``_deliver`` that never raises and never returns what ABCI cannot carry.

        An exception escaping here would stop the node and, since every validator executes
        the same block, halt the chain. A host bug fails the tx with HOST_ERROR instead; a
        result whose text is not valid UTF-8 fails with INVALID_OUTPUT; a tx whose output
        or writes would push the block past its caps fails with RESOURCE_LIMIT. Writes are
        applied only once the result is known to be deliverable.
        """
        started = time.perf_counter()
        self._tx_chaincode = ""  # set by _deliver once the tx is decoded
        result = self._deliver_checked(raw, height, time_ns, updates, budget)
        try:
            self.metrics.tx(self._chaincode_label(self._tx_chaincode), result.code,
                            result.gas_used, time.perf_counter() - started)
        except Exception:  # noqa: BLE001 -- a figure must never stop a block (or the chain)
            pass
        return result

    def _chaincode_label(self, name: str) -> str:
        """The tx's chaincode for metrics if it names a system or installed one, else
        ``none``: names a client sends at random must not each make a new series."""
        if name and (name in SYSTEM_CHAINCODES
                     or self.store.get(f"_lifecycle/cc/{name}".encode())):
            return name
        return "none"

    def _deliver_checked(self, raw: bytes, height: int, time_ns: int,
                         updates: dict[bytes, int], budget: _BlockBudget) -> TxResult:
        try:
            result, ctx = self._deliver(raw, height, time_ns, budget)
        except Exception as exc:  # MemoryError, RecursionError, a host bug
            return _failure(LedgerError(Code.HOST_ERROR, f"host error: {type(exc).__name__}"))
        try:
            size = _output_size(result)
        except UnicodeEncodeError:
            return _failure(LedgerError(Code.INVALID_OUTPUT, "result, log or event is not "
                                        "valid UTF-8"), gas_used=result.gas_used)
        written = 0
        if ctx is not None:
            written = sum(len(k) + len(v or b"") for k, v in ctx.writes.data.items())
        if budget.output + size > MAX_BLOCK_OUTPUT_BYTES:
            return _failure(LedgerError(Code.RESOURCE_LIMIT, "block output limit of "
                                        f"{MAX_BLOCK_OUTPUT_BYTES} bytes reached"),
                            gas_used=result.gas_used)
        if budget.written + written > MAX_BLOCK_WRITE_BYTES:
            return _failure(LedgerError(Code.RESOURCE_LIMIT, "block write limit of "
                                        f"{MAX_BLOCK_WRITE_BYTES} bytes reached"),
                            gas_used=result.gas_used)
        budget.output += size
        budget.written += written
        if ctx is not None:
            self._apply(ctx)
            if isinstance(ctx, SystemContext):
                for pk, power in ctx.validator_updates:
                    updates.pop(pk, None)  # keep one update per key, the last one
                    updates[pk] = power
        return result

    def _deliver(self, raw: bytes, height: int, time_ns: int,
                 budget: _BlockBudget) -> tuple[TxResult, Context | None]:
        """Execute one tx of a block; returns its result and, on success, the ctx holding
        its writes (applied by the caller)."""
        try:
            tx = self._decode(raw)
            self._tx_chaincode = tx.chaincode
            caller = self._admit(tx, self.store, time_ns // 1_000_000)
        except LedgerError as err:
            return _failure(err), None
        # From here on the tx is "included": its nonce is spent even if execution fails.
        self.store.add_replay(bytes.fromhex(tx.body_hash), tx.time_ms + TX_WINDOW_PAST_MS)
        if budget.steps <= 0:
            return _failure(LedgerError(
                Code.OUT_OF_GAS, f"block execution budget of {BLOCK_STEP_LIMIT} steps exhausted"
            )), None
        meter = Meter(min(DEFAULT_STEP_LIMIT, budget.steps))
        try:
            try:
                call = self._call(tx.chaincode, tx.function, tx.args, caller=caller,
                                  reader=self.store, height=height, time_ns=time_ns,
                                  tx_hash=tx.hash, meter=meter, writable=True)
                data = canonical.encode(call.result)
            finally:
                budget.steps -= meter.steps
        except LedgerError as err:
            return _failure(err, gas_used=meter.steps), None
        except (MemoryError, RecursionError):  # not reachable within the sandbox's limits
            return _failure(LedgerError(Code.RESOURCE_LIMIT, "host resources exhausted"),
                            gas_used=meter.steps), None
        events = [Event("tx", [("chaincode", tx.chaincode), ("function", tx.function),
                               ("signer", tx.signer)])]
        events += [Event(etype, [*attrs, ("chaincode", tx.chaincode)])
                   for etype, attrs in call.ctx.writes.events]
        return TxResult(data=data, events=events, gas_used=call.steps), call.ctx

    def _system_ctx(self, name: str, caller: Caller, reader: Any, height: int,
                    time_ns: int, *, tx_hash: str = "", meter: Meter | None = None,
                    writable: bool = True) -> SystemContext:
        return SystemContext(host=self, chaincode=name, reader=reader, caller=caller,
                             block_height=height, block_time=time_ns, tx_hash=tx_hash,
                             meter=meter or Meter(10**12), writable=writable)

    def _call(self, chaincode: str, function: str, args: Any, *, caller: Caller, reader: Any,
              height: int, time_ns: int, tx_hash: str, meter: Meter, writable: bool) -> _Call:
        system = SYSTEM_CHAINCODES.get(chaincode)
        if system is not None:
            entry = system.exports.get(function)
            if entry is None:
                raise LedgerError(Code.UNKNOWN_FUNCTION, f"{chaincode} has no {function!r}")
            mode, fn = entry
            if mode == "write" and not writable:
                raise LedgerError(Code.READ_ONLY, f"{chaincode}.{function} writes state")
            ctx = self._system_ctx(chaincode, caller, reader, height, time_ns, tx_hash=tx_hash,
                                   meter=meter, writable=writable and mode == "write")
            try:
                result = fn(ctx, *args) if isinstance(args, list) else fn(ctx, **args)
                canonical.check_value(result, max_depth=64)
            except LedgerError:
                raise
            except TypeError as exc:
                raise LedgerError(Code.INVALID_ARGUMENT, f"bad arguments: {exc}") from None
            except Exception as exc:  # a bug must fail the tx the same way on every node,
                # not crash FinalizeBlock and halt the chain
                raise LedgerError(Code.CHAINCODE_ERROR,
                                  f"{chaincode}.{function} failed: {type(exc).__name__}: {exc}"
                                  ) from None
            return _Call(result, meter.steps, ctx)
        compiled, record = self._chaincode(chaincode, reader)
        mode = compiled.exports.get(function)
        ctx = Context(chaincode=chaincode, reader=reader, caller=caller, block_height=height,
                      block_time=time_ns, tx_hash=tx_hash, meter=meter,
                      writable=writable and mode == "write")
        result, steps = invoke(compiled, function, args, ctx, meter=meter, allow_write=writable)
        return _Call(result, steps, ctx)

    def _apply(self, ctx: Context) -> None:
        for key, value in ctx.writes.data.items():
            self.store.write(key, value)

    # -- queries -----------------------------------------------------------------------
    def _query(self, path: str, data: bytes, height: int, prove: bool) -> QueryResult:
        reads = self._query_reads()
        reader = _AtHeight(reads, height)
        if path == "/state":
            value = reader.get(data)
            proof = b""
            if prove:
                app_hash = reads.app_hash_at(height) or b""
                proof = canonical.encode({"app_hash": app_hash.hex(), "height": height,
                                          **reads.prove(data, height)})
            if value is None:
                return QueryResult(code=int(Code.NOT_FOUND), log="key not found", key=data,
                                   height=height, proof=proof)
            return QueryResult(key=data, value=value, height=height, proof=proof)
        if path == "/call":
            return self._query_call(data, reader, height)
        if path == "/metrics":  # this node's own figures (ledger/metrics.py), not state
            return QueryResult(key=data, value=self.metrics.exposition(), height=height)
        if path == "/keys":
            return self._query_keys(data, reader, height)
        if path == "/identity":
            key = b"_identity/member/" + data.strip().lower()
            return self._lookup(key, data, height, "no member with that public key")
        if path == "/chaincode":
            name = data.decode("utf-8", "replace")
            if not name:
                items = reader.range(b"_lifecycle/cc/", b"_lifecycle/cc0", 1000)
                value = canonical.encode([canonical.decode(v, max_depth=64) for _, v in items])
                return QueryResult(key=data, value=value, height=height)
            return self._lookup(f"_lifecycle/cc/{name}".encode(), data, height,
                                f"chaincode {name!r} is not installed")
        raise LedgerError(Code.BAD_QUERY, f"unknown query path {path!r}")

    def _query_keys(self, data: bytes, reader: _AtHeight, height: int) -> QueryResult:
        """Committed keys under a prefix, in byte order, for browsing state (the explorer):
        data is JSON ``{"prefix": hex, "after": hex, "limit": n}``; the value is
        ``{"items": [[key hex, value hex], ...], "more": bool}``. Reads only: no app hash
        depends on it, so adding it forks nothing."""
        try:
            request = json.loads(data)
            prefix = bytes.fromhex(request.get("prefix", ""))
            after = bytes.fromhex(request.get("after", ""))
            limit = int(request.get("limit", KEYS_PAGE))
        except (ValueError, TypeError, AttributeError):
            raise LedgerError(Code.BAD_QUERY, 'data must be JSON {"prefix": hex, "after": '
                              'hex, "limit": n}') from None
        if not prefix:
            raise LedgerError(Code.BAD_QUERY, "prefix must not be empty")
        limit = max(1, min(limit, KEYS_PAGE))
        start = after + b"\x00" if after.startswith(prefix) else prefix
        end = prefix.rstrip(b"\xff")
        end = end[:-1] + bytes([end[-1] + 1]) if end else b"\xff" * (len(prefix) + 1)
        rows = reader.range(start, end, limit + 1, KEYS_MAX_BYTES)
        more = len(rows) > limit or sum(len(v) for _, v in rows) > KEYS_MAX_BYTES
        items = [[k.hex(), v.hex()] for k, v in rows[:limit]]
        return QueryResult(key=data, height=height,
                           value=canonical.encode({"items": items, "more": more}))

    def _lookup(self, key: bytes, data: bytes, height: int, missing: str) -> QueryResult:
        value = self._query_reads().get_at(key, height)
        if value is None:
            raise LedgerError(Code.NOT_FOUND, missing)
        return QueryResult(key=data, value=value, height=height)

    def _query_call(self, data: bytes, reader: _AtHeight, height: int) -> QueryResult:
        """Run a @read function. Only a signed query (``ledger.tx.build_query``) runs with
        a caller; in an unsigned one a ``"caller"`` field is ignored (anyone can write any
        public key there), so the function sees an anonymous caller with no roles."""
        try:
            request = json.loads(data)
            if not isinstance(request, dict):
                raise TypeError
        except (ValueError, TypeError):
            raise LedgerError(Code.BAD_QUERY, "data must be a JSON object") from None
        if "sig" in request:
            signed = decode_query(data, chain_id=self.chain_id,
                                  now_ms=int(self._clock() * 1000))
            chaincode, function, args = signed.chaincode, signed.function, signed.args
            caller = self._caller(signed.signer, reader) or Caller(public_key=signed.signer)
        else:
            chaincode, function = request.get("chaincode"), request.get("function")
            args = request.get("args", [])
            if not isinstance(chaincode, str) or not isinstance(function, str) or not \
                    isinstance(args, (list, dict)):
                raise LedgerError(Code.BAD_QUERY, 'data must be JSON {"chaincode", "function",'
                                  ' "args": [...] or {...}} or a signed query') from None
            caller = Caller(public_key="")
        meter = Meter(QUERY_STEP_LIMIT)
        call = self._call(chaincode, function, args, caller=caller, reader=reader,
                          height=height, time_ns=self._query_reads().block_time_at(height),
                          tx_hash="", meter=meter, writable=False)
        return QueryResult(key=data, value=canonical.encode(call.result), height=height)
