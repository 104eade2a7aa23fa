"""State store: app hash properties, versioned reads, proofs, persistence and crash safety."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ledger.state import DEPTH, EMPTY_ROOT, StateStore, bucket_hash, node_hash, verify_proof


def full_root(store: StateStore) -> bytes:
    """Recompute the app hash from every committed key, ignoring all cached tree nodes."""
    buckets: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value, bucket in store._db.execute("SELECT key, value, bucket FROM cur"):
        buckets.setdefault(bucket, []).append((key, hashlib.sha256(value).digest()))
    level = {b: bucket_hash(entries) for b, entries in buckets.items()}
    defaults = [bucket_hash([])]
    for _ in range(DEPTH):
        defaults.append(node_hash(defaults[-1], defaults[-1]))
    for depth in range(DEPTH):
        parents = {}
        for idx in {i >> 1 for i in level}:
            left = level.get(2 * idx, defaults[depth])
            right = level.get(2 * idx + 1, defaults[depth])
            parents[idx] = node_hash(left, right)
        level = parents
    return level.get(0, defaults[DEPTH])


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(tmp_path / "state.sqlite")
    yield s
    s.close()


def test_empty_store(store: StateStore) -> None:
    assert (store.height, store.app_hash) == (0, b"")
    assert store.root() == EMPTY_ROOT


def test_root_depends_on_content_not_on_history(tmp_path: Path) -> None:
    a = StateStore(tmp_path / "a.sqlite")
    for i in range(50):
        a.write(f"kv/{i}".encode(), str(i).encode())
    a.commit(height=1, time_ns=1)
    b = StateStore(tmp_path / "b.sqlite")
    for i in reversed(range(50)):  # other order, other blocks, with a detour
        b.write(f"kv/{i}".encode(), b"tmp")
        if i % 10 == 0:
            b.commit(height=b.height + 1, time_ns=1)
    b.write(b"kv/extra", b"x")
    for i in range(50):
        b.write(f"kv/{i}".encode(), str(i).encode())
    b.commit(height=b.height + 1, time_ns=1)
    assert a.app_hash != b.app_hash
    b.write(b"kv/extra", None)
    b.commit(height=b.height + 1, time_ns=1)
    assert a.app_hash == b.app_hash == full_root(a) == full_root(b)


def test_every_value_change_changes_the_root(store: StateStore) -> None:
    store.write(b"kv/a", b"1")
    first = store.root()
    store.write(b"kv/a", b"2")
    assert store.root() != first
    store.write(b"kv/a", b"1")
    assert store.root() == first


def test_versioned_reads(store: StateStore) -> None:
    store.write(b"kv/a", b"1")
    store.commit(height=1, time_ns=10)
    store.write(b"kv/a", b"2")
    store.commit(height=2, time_ns=20)
    store.write(b"kv/a", None)
    store.commit(height=3, time_ns=30)
    assert [store.get_at(b"kv/a", h) for h in (0, 1, 2, 3)] == [None, b"1", b"2", None]
    assert store.get(b"kv/a") is None
    assert store.block_time_at(2) == 20


def test_staged_writes_are_visible_before_commit_and_in_range(store: StateStore) -> None:
    store.write(b"kv/a", b"1")
    store.write(b"kv/b", b"2")
    store.commit(height=1, time_ns=1)
    store.write(b"kv/b", None)
    store.write(b"kv/c", b"3")
    assert store.get(b"kv/c") == b"3"
    assert store.range(b"kv/", b"kv0", 10) == [(b"kv/a", b"1"), (b"kv/c", b"3")]
    assert store.range_at(b"kv/", b"kv0", 1, 10) == [(b"kv/a", b"1"), (b"kv/b", b"2")]


def test_proofs_of_presence_and_absence(store: StateStore) -> None:
    for i in range(200):
        store.write(f"kv/{i}".encode(), f"v{i}".encode())
    store.commit(height=1, time_ns=1)
    store.write(b"kv/7", b"changed")
    store.commit(height=2, time_ns=2)
    for height, value in ((1, b"v7"), (2, b"changed")):
        proof = store.prove(b"kv/7", height)
        app_hash = store.app_hash_at(height)
        assert verify_proof(key=b"kv/7", value=value, proof=proof, app_hash=app_hash)
        assert not verify_proof(key=b"kv/7", value=b"forged", proof=proof, app_hash=app_hash)
        assert not verify_proof(key=b"kv/7", value=None, proof=proof, app_hash=app_hash)
    absent = store.prove(b"kv/missing", 2)
    assert verify_proof(key=b"kv/missing", value=None, proof=absent, app_hash=store.app_hash)
    assert not verify_proof(key=b"kv/missing", value=b"x", proof=absent,
                            app_hash=store.app_hash)
    assert not verify_proof(key=b"kv/7", value=b"changed", proof=store.prove(b"kv/7", 2),
                            app_hash=store.app_hash_at(1))


def test_reopen_keeps_committed_and_drops_staged(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    s = StateStore(path)
    s.write(b"kv/a", b"1")
    s.add_replay(b"\x01" * 32, 5_000)
    s.commit(height=1, time_ns=1_000_000)
    committed = s.app_hash
    s.write(b"kv/b", b"2")  # staged only: a crash loses it, CometBFT replays the block
    s.root()
    s.close()
    s = StateStore(path)
    assert (s.height, s.app_hash) == (1, committed)
    assert s.get(b"kv/a") == b"1" and s.get(b"kv/b") is None
    assert s.replay == {b"\x01" * 32: 5_000}
    assert s.root() == committed
    s.close()


def test_replay_entries_expire_by_block_time(store: StateStore) -> None:
    store.add_replay(b"a" * 32, 1_000)
    store.add_replay(b"b" * 32, 3_000)
    store.commit(height=1, time_ns=2_000 * 1_000_000)
    assert set(store.replay) == {b"b" * 32}
    rows = store._db.execute("SELECT body FROM replay").fetchall()
    assert rows == [(b"b" * 32,)]


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ledger.state import StateStore
    s = StateStore(Path(sys.argv[1]))
    h = s.height
    print("ready", flush=True)
    while True:
        h += 1
        for i in range(200):
            s.write(f"kv/{(h * 7 + i) % 1000}".encode(), f"{h}-{i}".encode() * 20)
        s.commit(height=h, time_ns=h)
""")


@pytest.mark.slow
def test_kill_9_during_commits_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    root = Path(__file__).resolve().parents[2]
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=root,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.3 + 0.1 * round_)  # let it commit some blocks, then kill mid-flight
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        s = StateStore(path)
        assert s.height > 0
        assert s.app_hash == s.app_hash_at(s.height) == full_root(s)
        s.close()


def test_range_with_staged_deletes_still_fills_the_limit(store: StateStore) -> None:
    for i in range(6):
        store.write(f"kv/{i}".encode(), b"v")
    store.write(b"other/x", b"v")
    store.commit(height=1, time_ns=1)
    for i in (0, 1, 3):
        store.write(f"kv/{i}".encode(), None)
    store.write(b"kv/25", b"new")
    assert [k for k, _ in store.range(b"kv/", b"kv0", 3)] == [b"kv/2", b"kv/25", b"kv/4"]
    assert [k for k, _ in store.range(b"kv/", b"kv0", 10)] == \
        [b"kv/2", b"kv/25", b"kv/4", b"kv/5"]
