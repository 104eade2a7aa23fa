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
STARTUP_S = float(os.environ.get("RUN_STARTUP_S", "90"))  # until every validator commits


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


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (``/proc/<pid>/stat`` field 22), None where there
    is no /proc: with it, --stop never signals a process that reused a recorded pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after "pid (comm)": 3.. -> 22


def claim_pids() -> int:
    """Create ``run.pids`` exclusively before anything starts: two runs in one folder
    cannot both start the validators (and then overwrite each other's record)."""
    try:
        return os.open(PIDS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        sys.exit(f"{PIDS} exists: the network may be running (python3 run.py --stop)")


def start(plan: list[dict], pids_fd: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    procs = []
    with os.fdopen(pids_fd, "w") as record:
        try:
            for entry in plan:
                log = open(entry["home"] / "node.log", "ab")  # noqa: SIM115 -- the child keeps it
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "ledger", "node", "--home", str(entry["home"])],
                    cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
        finally:  # recorded even when a later start failed: --stop finds the earlier ones
            record.write(json.dumps([{"pid": p.pid, "start": start_time(p.pid)}
                                     for p in procs]) + "\n")
    return procs


def recorded() -> list[int]:
    """The pids in ``run.pids`` that are still the processes this script started."""
    try:
        entries = json.loads(PIDS.read_text())
    except (OSError, ValueError):
        return []
    pids = []
    for entry in entries:
        pid, started = (entry, None) if isinstance(entry, int) else (entry["pid"],
                                                                     entry.get("start"))
        if started is None or start_time(pid) == started:
            pids.append(pid)
    return pids


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
        stop(recorded())
        return 0
    network = json.loads((ROOT / "network.json").read_text())
    pids_fd = claim_pids()
    # Handlers before the first validator starts: Ctrl-C during the wait below stops them
    # too, instead of leaving them running with nobody to stop them.
    stopping: list[bool] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    procs: list[subprocess.Popen] = []
    keep_running = False
    try:
        plan = configure(network, args.base_port)
        procs = start(plan, pids_fd)
        print(f"chain {network['chain_id']}, exported at height {network['height']}",
              flush=True)
        for entry in plan:
            print(f"{entry['moniker']}: rpc http://{HOST}:{entry['rpc']} "
                  f"p2p {HOST}:{entry['p2p']} log {entry['home'] / 'node.log'}", flush=True)
        committing = wait_committing(network, plan, procs, stopping)
        if args.detach:
            if not committing:
                print(f"the validators did not commit within {STARTUP_S:.0f} s; stopping them (see "
                      "their node.log)", flush=True)
                return 1
            keep_running = True
            return 0
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("a validator stopped; see its node.log. Stopping the others.",
                      flush=True)
                break
            time.sleep(0.5)
        return 0
    finally:
        if not keep_running:
            stop([p.pid for p in procs])


def wait_committing(network: dict, plan: list[dict], procs: list[subprocess.Popen],
                    stopping: list[bool]) -> bool:
    """Wait up to STARTUP_S for every validator to pass the exported height."""
    deadline = time.monotonic() + STARTUP_S
    start_height = int(network.get("height") or 0)
    while time.monotonic() < deadline and not stopping \
            and not any(p.poll() is not None for p in procs):
        heights = [height(entry["rpc"]) for entry in plan]
        if min(heights) > start_height:
            print(f"committing: height {max(heights)}", flush=True)
            return True
        time.sleep(0.5)
    return False


if __name__ == "__main__":
    sys.exit(main())
