"""Throughput and commit latency of a ledger network vs CometBFT's built-in kvstore app.

    .venv/bin/python bench/ledger_throughput.py [--txs 2000] [--concurrency 32] [--profile]

Runs, on this machine and in this order: our chaincode host with the ``kv`` chaincode on 1
and on 4 validators, then CometBFT's ``kvstore`` app on 4 validators, all generated with the
same consensus settings (ledger.network) and driven by the same load generator:
``concurrency`` senders post pre-built transactions with ``broadcast_tx_sync`` round-robin
over the nodes; a watcher reads every committed block from node 0 and matches tx hashes.
Commit latency = time the block holding a tx was seen - time its broadcast began. TPS =
committed txs / (last commit seen - first broadcast). Signing happens before the clock starts.

The last line is the summary:
``ledger_tps_1v=... ledger_tps_4v=... kvstore_tps_4v=... ratio=...``
(ratio = ledger 4v / kvstore 4v).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.network import (  # noqa: E402
    COMETBFT_BIN,
    create_operator_key,
    generate_network,
    local_nodes,
)
from ledger.node import start_background, stop_background, wait_ready  # noqa: E402

CHAIN_ID = "bench"


@dataclass
class RunResult:
    name: str
    sent: int
    committed: int
    rejected: int
    tps: float
    p50_ms: float
    p99_ms: float
    blocks: int


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def drive(urls: list[str], txs: list[bytes], concurrency: int,
                timeout: float = 300.0) -> tuple[int, int, list[float], float, int]:
    """Send ``txs``; return (committed, rejected, latencies_s, elapsed_s, blocks)."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    rejected = 0
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for i, tx in enumerate(txs):
        queue.put_nowait((i, tx))
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        start_height = int((await http.get(f"{urls[0]}/status")).json()["result"]
                           ["sync_info"]["latest_block_height"])

        async def sender() -> None:
            nonlocal rejected
            while not queue.empty():
                i, tx = queue.get_nowait()
                url = urls[i % len(urls)]
                digest = hashlib.sha256(tx).hexdigest()
                sent_at[digest] = time.perf_counter()
                while True:
                    body = {"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_sync",
                            "params": {"tx": base64.b64encode(tx).decode()}}
                    reply = (await http.post(url, json=body)).json()
                    if "error" in reply and "mempool is full" in str(reply["error"]):
                        await asyncio.sleep(0.05)  # back-pressure, then retry
                        continue
                    break
                if "error" in reply or int(reply["result"].get("code", 0)):
                    rejected += 1
                    sent_at.pop(digest, None)

        began = time.perf_counter()
        senders = [asyncio.create_task(sender()) for _ in range(concurrency)]
        height, last_commit, blocks = start_height + 1, began, 0
        deadline = began + timeout
        while time.perf_counter() < deadline:
            reply = (await http.get(f"{urls[0]}/block", params={"height": height})).json()
            if "error" in reply:  # not yet committed
                if all(s.done() for s in senders) and len(latencies) >= len(sent_at):
                    break
                await asyncio.sleep(0.02)
                continue
            seen = time.perf_counter()
            block_txs = reply["result"]["block"]["data"]["txs"] or []
            for raw in block_txs:
                t0 = sent_at.get(hashlib.sha256(base64.b64decode(raw)).hexdigest())
                if t0 is not None:
                    latencies.append(seen - t0)
                    last_commit = seen
            blocks += 1 if block_txs else 0
            height += 1
        await asyncio.gather(*senders, return_exceptions=True)
    return len(latencies), rejected, latencies, last_commit - began, blocks


def ledger_txs(count: int, signer_key: bytes) -> list[bytes]:
    from ledger.tx import Signer, build_tx

    signer = Signer.from_private_bytes(signer_key)
    return [build_tx(signer=signer, chain_id=CHAIN_ID, chaincode="kv", function="put",
                     args=[f"key{i}", f"value{i}"]) for i in range(count)]


def kvstore_txs(count: int) -> list[bytes]:
    return [f"key{i}=value{i}".encode() for i in range(count)]


def run_ledger(validators: int, count: int, concurrency: int, profile: Path | None) -> RunResult:
    from ledger.cli import build_app_state

    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        out = Path(tmp)
        key, public_hex = create_operator_key(out)
        nodes = local_nodes(validators)
        homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=out,
                                 app_state=build_app_state(public_hex))
        try:
            for i, home in enumerate(homes):
                env_profile = str(profile) if profile and i == 0 else None
                if env_profile:
                    os.environ["LEDGER_PROFILE"] = env_profile
                start_background(home)
                os.environ.pop("LEDGER_PROFILE", None)
            urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
            for url in urls:
                wait_ready(url, timeout=60)
            txs = ledger_txs(count, key)
            result = asyncio.run(drive(urls, txs, concurrency))
            return _result(f"ledger {validators}v", count, result)
        finally:
            for home in homes:
                stop_background(home)


def run_kvstore(validators: int, count: int, concurrency: int) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="kvstore-bench-") as tmp:
        out = Path(tmp)
        nodes = local_nodes(validators)
        homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=out, app_state=b"{}")
        procs = []
        try:
            for home in homes:
                log = open(home / "node.log", "ab")  # noqa: SIM115 (closed with the process)
                procs.append(subprocess.Popen(
                    [COMETBFT_BIN, "start", "--home", str(home / "cometbft"),
                     "--proxy_app=kvstore"], stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
            urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
            for url in urls:
                wait_ready(url, timeout=60)
            result = asyncio.run(drive(urls, kvstore_txs(count), concurrency))
            return _result(f"kvstore {validators}v", count, result)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _result(name: str, sent: int, measured: tuple[int, int, list[float], float, int]) -> RunResult:
    committed, rejected, lat, elapsed, blocks = measured
    res = RunResult(name=name, sent=sent, committed=committed, rejected=rejected,
                    tps=committed / elapsed if elapsed > 0 else 0.0,
                    p50_ms=percentile(lat, 0.5) * 1000, p99_ms=percentile(lat, 0.99) * 1000,
                    blocks=blocks)
    print(f"{res.name:>11}: sent={res.sent} committed={res.committed} rejected={res.rejected} "
          f"blocks_with_txs={res.blocks} tps={res.tps:.1f} "
          f"p50={res.p50_ms:.0f}ms p99={res.p99_ms:.0f}ms", flush=True)
    return res


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    version = subprocess.run([COMETBFT_BIN, "version"], capture_output=True, text=True).stdout
    return (f"machine: {os.cpu_count()} CPUs, {model}; {platform.system()} "
            f"{platform.release()}; python {platform.python_version()}; cometbft "
            f"{version.strip()}; load average at start {load}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txs", type=int, default=2000, help="transactions per run")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent senders")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile node 0 of the 1-validator ledger run and print the top")
    args = ap.parse_args()
    print(machine())
    print(f"conditions: {args.txs} txs per run, {args.concurrency} concurrent senders, "
          "broadcast_tx_sync round-robin over all nodes, timeout_commit=500ms, all nodes "
          "on this machine's loopback", flush=True)
    profile = Path(tempfile.gettempdir()) / "ledger-node0.prof" if args.profile else None
    l1 = run_ledger(1, args.txs, args.concurrency, profile)
    if profile and profile.exists():
        print("profile of the 1-validator ledger node (top 20 by own time):")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(20)
    l4 = run_ledger(4, args.txs, args.concurrency, None)
    k4 = run_kvstore(4, args.txs, args.concurrency)
    ratio = l4.tps / k4.tps if k4.tps else 0.0
    print(f"ledger_tps_1v={l1.tps:.1f} ledger_tps_4v={l4.tps:.1f} "
          f"kvstore_tps_4v={k4.tps:.1f} ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
