"""Persistent, versioned key-value store with an authenticated app hash.

Storage is one SQLite file. Every block's writes, its height, app hash and the replay set
changes are written in ONE SQLite transaction in ``commit()``, so a crash (even ``kill -9``)
leaves either the previous block or the new one, never a mix; CometBFT's handshake then
replays whatever the app has not committed.

Authenticated structure (the app hash): keys are spread over ``2**DEPTH`` buckets by the
first bytes of ``sha256(key)``. A bucket's hash commits to its sorted ``(key, sha256(value))``
entries; a fixed-depth binary Merkle tree over the buckets gives the root, which is the app
hash. Per block only touched buckets and their ``DEPTH`` ancestors are recomputed, so the cost
is proportional to the writes, not the state size. A proof of a key (present or absent) is the
bucket's entry list plus ``DEPTH`` sibling hashes (``verify_proof``).

Tables: ``cur`` (latest value per key), ``kv`` (every version, for queries at a height),
``node`` / ``node_cur`` (tree node versions / latest), ``blocks`` (app hash per height),
``replay`` (seen tx bodies with expiry), ``meta`` (last height, hash, block time, chain id).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEPTH = 16
BUCKETS = 1 << DEPTH


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bucket_of(key: bytes) -> int:
    return int.from_bytes(_h(key)[:4], "big") >> (32 - DEPTH)


def entry_hash(key: bytes, value_hash: bytes) -> bytes:
    return _h(b"\x00" + struct.pack(">I", len(key)) + key + value_hash)


def bucket_hash(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Hash of a bucket from ``(key, value_hash)`` pairs; sorted here so order never matters."""
    return _h(b"\x01" + b"".join(entry_hash(k, vh) for k, vh in sorted(entries)))


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x02" + left + right)


# DEFAULTS[level] is the hash of an all-empty subtree at that level (level 0 = bucket).
DEFAULTS: list[bytes] = [bucket_hash([])]
for _level in range(DEPTH):
    DEFAULTS.append(node_hash(DEFAULTS[-1], DEFAULTS[-1]))
EMPTY_ROOT = DEFAULTS[DEPTH]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB);
CREATE TABLE IF NOT EXISTS cur (key BLOB PRIMARY KEY, value BLOB NOT NULL, bucket INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cur_bucket ON cur (bucket);
CREATE TABLE IF NOT EXISTS kv (key BLOB NOT NULL, height INTEGER NOT NULL, value BLOB,
    bucket INTEGER NOT NULL, PRIMARY KEY (key, height)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_bucket ON kv (bucket, height);
CREATE TABLE IF NOT EXISTS node (level INTEGER NOT NULL, idx INTEGER NOT NULL,
    height INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx, height)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_cur (level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, app_hash BLOB NOT NULL,
    time_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replay (body BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replay_expiry ON replay (expires_ms);
"""


def _capped(cursor: Any, max_bytes: int | None) -> list[tuple[bytes, bytes]]:
    """Rows of ``cursor`` until their values exceed ``max_bytes`` (the row that crosses the
    cap is included, so the caller sees that it was reached)."""
    if max_bytes is None:
        return cursor.fetchall()
    rows = []
    total = 0
    for row in cursor:
        rows.append(row)
        total += len(row[1])
        if total > max_bytes:
            break
    return rows


class HeightReads:
    """Reads of committed state at a height (``kv`` keeps every version)."""

    _db: sqlite3.Connection

    def get_at(self, key: bytes, height: int) -> bytes | None:
        row = self._db.execute(
            "SELECT value FROM kv WHERE key = ? AND height <= ? ORDER BY height DESC LIMIT 1",
            (key, height),
        ).fetchone()
        return None if row is None else row[0]

    def has_at(self, key: bytes, height: int) -> bool:
        row = self._db.execute(
            "SELECT value IS NOT NULL FROM kv WHERE key = ? AND height <= ? "
            "ORDER BY height DESC LIMIT 1", (key, height),
        ).fetchone()
        return bool(row and row[0])

    def range_at(self, start: bytes, end: bytes, height: int, limit: int,
                 max_bytes: int | None = None) -> list[tuple[bytes, bytes]]:
        return _capped(self._db.execute(
            "SELECT key, value FROM (SELECT key, value, MAX(height) FROM kv "
            "WHERE key >= ? AND key < ? AND height <= ? GROUP BY key) "
            "WHERE value IS NOT NULL ORDER BY key LIMIT ?",
            (start, end, height, limit),
        ), max_bytes)

    def block_time_at(self, height: int) -> int:
        row = self._db.execute("SELECT time_ns FROM blocks WHERE height = ?", (height,)).fetchone()
        return 0 if row is None else int(row[0])

    def app_hash_at(self, height: int) -> bytes | None:
        row = self._db.execute("SELECT app_hash FROM blocks WHERE height = ?", (height,)).fetchone()
        return None if row is None else row[0]

    def size(self) -> tuple[int, int]:
        """(keys, bytes of keys and values) of the latest state, for metrics."""
        keys, total = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) FROM cur"
        ).fetchone()
        return int(keys), int(total)

    def prove(self, key: bytes, height: int) -> dict[str, Any]:
        """Proof of ``key``'s value (or absence) against the app hash at ``height``."""
        bucket = bucket_of(key)
        entries = self._db.execute(
            "SELECT key, value FROM (SELECT key, value, MAX(height) FROM kv "
            "WHERE bucket = ? AND height <= ? GROUP BY key) WHERE value IS NOT NULL",
            (bucket, height),
        ).fetchall()
        siblings = []
        idx = bucket
        for level in range(DEPTH):
            row = self._db.execute(
                "SELECT hash FROM node WHERE level = ? AND idx = ? AND height <= ? "
                "ORDER BY height DESC LIMIT 1",
                (level, idx ^ 1, height),
            ).fetchone()
            siblings.append((row[0] if row else DEFAULTS[level]).hex())
            idx >>= 1
        return {
            "bucket": bucket,
            "entries": sorted([k.hex(), _h(v).hex()] for k, v in entries),
            "siblings": siblings,
        }


class StateReader(HeightReads):
    """A second, read-only connection for queries: they run on their own thread and never
    wait for (or see inside) the consensus connection's transaction."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                   isolation_level=None, check_same_thread=False)

    def close(self) -> None:
        self._db.close()


class StateStore(HeightReads):
    """The world state. Writes accumulate in memory until ``commit``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # WAL + NORMAL survives process crashes (kill -9) without losing a committed block;
        # after a power loss the last block may be lost and CometBFT replays it.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._nodes: dict[tuple[int, int], bytes] = {
            (level, idx): h for level, idx, h in self._db.execute(
                "SELECT level, idx, hash FROM node_cur")
        }
        self.replay: dict[bytes, int] = dict(
            self._db.execute("SELECT body, expires_ms FROM replay"))
        self._expiry = [(exp, body) for body, exp in self.replay.items()]
        heapq.heapify(self._expiry)
        self.height = int(self.get_meta("height") or 0)
        self.app_hash: bytes = self.get_meta("app_hash") or b""
        self._reset_pending()

    # -- meta --------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: Any) -> None:
        """Staged: written with the next commit."""
        self._pending_meta[key] = value

    # -- pending block -----------------------------------------------------------------
    def _reset_pending(self) -> None:
        self._pending: dict[bytes, bytes | None] = {}
        self._pending_keys: list[bytes] = []  # sorted, for range scans over staged writes
        self._dirty: set[int] = set()
        self._pending_nodes: dict[tuple[int, int], bytes] = {}
        self._pending_meta: dict[str, Any] = {}
        self._replay_add: dict[bytes, int] = {}

    def discard(self) -> None:
        """Forget uncommitted writes (used when a block is re-executed)."""
        for body in self._replay_add:
            self.replay.pop(body, None)
        self._reset_pending()

    def write(self, key: bytes, value: bytes | None) -> None:
        """Stage a write (``None`` deletes) for the current block."""
        if key not in self._pending:
            bisect.insort(self._pending_keys, key)
        self._pending[key] = value
        self._dirty.add(bucket_of(key))

    def add_replay(self, body: bytes, expires_ms: int) -> None:
        self.replay[body] = expires_ms
        self._replay_add[body] = expires_ms
        heapq.heappush(self._expiry, (expires_ms, body))

    # -- reads (latest, including staged writes) ---------------------------------------
    def get(self, key: bytes) -> bytes | None:
        if key in self._pending:
            return self._pending[key]
        row = self._db.execute("SELECT value FROM cur WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def has(self, key: bytes) -> bool:
        if key in self._pending:
            return self._pending[key] is not None
        return self._db.execute("SELECT 1 FROM cur WHERE key = ?", (key,)).fetchone() is not None

    def range(self, start: bytes, end: bytes, limit: int,
              max_bytes: int | None = None) -> list[tuple[bytes, bytes]]:
        """Keys in [start, end) in byte order, merging committed and staged writes.

        With ``max_bytes`` the read stops once the values read exceed it.
        """
        keys = self._pending_keys
        staged = keys[bisect.bisect_left(keys, start):bisect.bisect_left(keys, end)]
        deleted = sum(1 for k in staged if self._pending[k] is None)
        rows = dict(_capped(self._db.execute(
            "SELECT key, value FROM cur WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
            (start, end, limit + deleted),
        ), max_bytes))
        for key in staged:
            value = self._pending[key]
            if value is None:
                rows.pop(key, None)
            else:
                rows[key] = value
        return sorted(rows.items())[:limit]

    # -- app hash ----------------------------------------------------------------------
    def _node(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        if key in self._pending_nodes:
            return self._pending_nodes[key]
        return self._nodes.get(key, DEFAULTS[level])

    def root(self) -> bytes:
        """App hash of the state including staged writes; recomputes only dirty paths."""
        if self._dirty:
            by_bucket: dict[int, dict[bytes, bytes | None]] = {}
            for key, value in self._pending.items():
                b = bucket_of(key)
                if b in self._dirty:
                    by_bucket.setdefault(b, {})[key] = value
            level_dirty: set[int] = set()
            for b, changes in by_bucket.items():
                entries = dict(self._db.execute(
                    "SELECT key, value FROM cur WHERE bucket = ?", (b,)))
                for key, value in changes.items():
                    if value is None:
                        entries.pop(key, None)
                    else:
                        entries[key] = value
                self._pending_nodes[(0, b)] = bucket_hash((k, _h(v)) for k, v in entries.items())
                level_dirty.add(b)
            for level in range(1, DEPTH + 1):
                parents = {i >> 1 for i in level_dirty}
                for p in parents:
                    self._pending_nodes[(level, p)] = node_hash(
                        self._node(level - 1, 2 * p), self._node(level - 1, 2 * p + 1))
                level_dirty = parents
            self._dirty.clear()
        return self._node(DEPTH, 0)

    # -- commit ------------------------------------------------------------------------
    def commit(self, *, height: int, time_ns: int) -> bytes:
        """Persist staged writes as ``height`` atomically; returns the app hash."""
        app_hash = self.root()
        expire_before = time_ns // 1_000_000
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            kv_rows = [(k, height, v, bucket_of(k)) for k, v in self._pending.items()]
            db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)", kv_rows)
            db.executemany(
                "INSERT OR REPLACE INTO cur VALUES (?, ?, ?)",
                [(k, v, b) for k, _, v, b in kv_rows if v is not None],
            )
            db.executemany("DELETE FROM cur WHERE key = ?", [(k,) for k, _, v, _ in kv_rows
                                                          if v is None])
            node_rows = [(lv, i, h) for (lv, i), h in self._pending_nodes.items()]
            db.executemany("INSERT OR REPLACE INTO node VALUES (?, ?, ?, ?)",
                           [(lv, i, height, h) for lv, i, h in node_rows])
            db.executemany("INSERT OR REPLACE INTO node_cur VALUES (?, ?, ?)", node_rows)
            db.executemany("INSERT OR REPLACE INTO replay VALUES (?, ?)",
                           list(self._replay_add.items()))
            db.execute("DELETE FROM replay WHERE expires_ms < ?", (expire_before,))
            db.execute("INSERT OR REPLACE INTO blocks VALUES (?, ?, ?)",
                       (height, app_hash, time_ns))
            meta = {**self._pending_meta, "height": height, "app_hash": app_hash,
                    "time_ns": time_ns}
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._nodes.update(self._pending_nodes)
        # Prune the in-memory replay set exactly like the table (same deterministic rule).
        while self._expiry and self._expiry[0][0] < expire_before:
            exp, body = heapq.heappop(self._expiry)
            if self.replay.get(body) == exp:
                del self.replay[body]
        self.height = height
        self.app_hash = app_hash
        self._reset_pending()
        return app_hash

    def close(self) -> None:
        self._db.close()


def verify_proof(
    *, key: bytes, value: bytes | None, proof: dict[str, Any], app_hash: bytes
) -> bool:
    """Check a ``StateStore.prove`` proof: ``value`` (None = absent) under ``app_hash``."""
    bucket = proof["bucket"]
    if bucket != bucket_of(key):
        return False
    entries = {bytes.fromhex(k): bytes.fromhex(vh) for k, vh in proof["entries"]}
    if value is None:
        if key in entries:
            return False
    elif entries.get(key) != _h(value):
        return False
    current = bucket_hash(entries.items())
    idx = bucket
    for sibling_hex in proof["siblings"]:
        sibling = bytes.fromhex(sibling_hex)
        current = node_hash(sibling, current) if idx & 1 else node_hash(current, sibling)
        idx >>= 1
    return len(proof["siblings"]) == DEPTH and current == app_hash
