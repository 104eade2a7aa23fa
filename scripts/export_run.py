#!/usr/bin/env python3
"""Run an exported network without the platform that made it (``run.py`` in the archive).

    python3 run.py            start every validator, print their RPC URLs, stop on Ctrl-C
    python3 run.py --detach   start them in the background and return (logs: node.log)
    python3 run.py --stop     stop what --detach started

Each validator is ``python3 -m ledger node --home nodes/<moniker>``, which starts
``cometbft`` itself, with ``PYTHONPATH`` set to this folder so it imports the ``ledger/``
shipped here: the version the network ran, not any other. Ports are picked here, on
127.0.0.1, and written into each node's ``node.json`` and CometBFT ``config.toml``
(``--base-port N`` uses N, N+1, ... instead of free ones). Needs Python 3.11+, the packages
in ``requirements.txt`` and ``cometbft`` on PATH (or ``COMETBFT_BIN``).

This file uses the standard library only, and is copied into every export as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PIDS = ROOT / "run.pids"
HOST = "127.0.0.1"


def free_ports(count: int, base: int | None) -> list[int]:
    if base:
        return list(range(base, base + count))
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def set_toml(text: str, section: str, key: str, value: str) -> str:
    """Set ``key = "value"`` in ``[section]`` ("" for the top) of a CometBFT config."""
    out, current, done = [], "", False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            line, done = f"{key} = {json.dumps(value)}", True
        out.append(line)
    if not done:
        sys.exit(f"config.toml has no {key!r} in [{section or 'top level'}]")
    return "\n".join(out) + "\n"


def configure(network: dict, base: int | None) -> list[dict]:
    nodes = network["nodes"]
    ports = free_ports(3 * len(nodes), base)
    plan = []
    for i, node in enumerate(nodes):
        home = ROOT / node["home"]
        info = json.loads((home / "node.json").read_text())
        p2p, rpc, abci = ports[3 * i: 3 * i + 3]
        plan.append({"moniker": node["moniker"], "home": home, "node_id": info["node_id"],
                     "p2p": p2p, "rpc": rpc, "abci": abci})
    for entry in plan:
        home = entry["home"]
        info = json.loads((home / "node.json").read_text())
        info.update(host=HOST, p2p_port=entry["p2p"], rpc_port=entry["rpc"],
                    abci_port=entry["abci"])
        (home / "node.json").write_text(json.dumps(info, indent=2) + "\n")
        cfg = home / "cometbft" / "config" / "config.toml"
        text = cfg.read_text()
        peers = ",".join(f"{o['node_id']}@{HOST}:{o['p2p']}" for o in plan if o is not entry)
        text = set_toml(text, "", "proxy_app", f"tcp://{HOST}:{entry['abci']}")
        text = set_toml(text, "rpc", "laddr", f"tcp://{HOST}:{entry['rpc']}")
        text = set_toml(text, "p2p", "laddr", f"tcp://{HOST}:{entry['p2p']}")
        text = set_toml(text, "p2p", "persistent_peers", peers)
        cfg.write_text(text)
    return plan


def start(plan: list[dict]) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    procs = []
    for entry in plan:
        log = open(entry["home"] / "node.log", "ab")  # noqa: SIM115 -- the child keeps it
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "ledger", "node", "--home", str(entry["home"])],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
    PIDS.write_text(json.dumps([p.pid for p in procs]) + "\n")
    return procs


def height(rpc_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{rpc_port}/status", timeout=2) as answer:
            return int(json.load(answer)["result"]["sync_info"]["latest_block_height"])
    except (OSError, ValueError, KeyError):
        return -1


def stop(pids: list[int], timeout: float = 20.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)  # the node runner stops its cometbft
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever is left of its session
        except (ProcessLookupError, PermissionError):
            pass
    PIDS.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detach", action="store_true", help="start and return")
    parser.add_argument("--stop", action="store_true", help="stop what --detach started")
    parser.add_argument("--base-port", type=int, default=None,
                        help="use BASE, BASE+1, ... instead of free ports")
    args = parser.parse_args()
    if args.stop:
        stop(json.loads(PIDS.read_text()) if PIDS.exists() else [])
        return 0
    if PIDS.exists():
        sys.exit(f"{PIDS} exists: the network may be running (python3 run.py --stop)")
    network = json.loads((ROOT / "network.json").read_text())
    plan = configure(network, args.base_port)
    procs = start(plan)
    print(f"chain {network['chain_id']}, exported at height {network['height']}", flush=True)
    for entry in plan:
        print(f"{entry['moniker']}: rpc http://{HOST}:{entry['rpc']} "
              f"p2p {HOST}:{entry['p2p']} log {entry['home'] / 'node.log'}", flush=True)
    deadline = time.monotonic() + 90
    start_height = int(network.get("height") or 0)
    while time.monotonic() < deadline and not any(p.poll() is not None for p in procs):
        heights = [height(entry["rpc"]) for entry in plan]
        if min(heights) > start_height:
            print(f"committing: height {max(heights)}", flush=True)
            break
        time.sleep(0.5)
    if args.detach:
        return 0
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    while not stopping:
        if any(p.poll() is not None for p in procs):
            print("a validator stopped; see its node.log. Stopping the others.", flush=True)
            break
        time.sleep(0.5)
    stop([p.pid for p in procs])
    return 0


if __name__ == "__main__":
    sys.exit(main())
