"""Node container entrypoint: wait until the persistent peers' names resolve, then become
``python3 -m ledger node --home /node``.

Why: peers are other containers, addressed by their DNS names on the network's bridge, and
Docker's DNS only knows containers that are running. CometBFT resolves persistent peers once
at start-up and silently drops names it cannot resolve, so a node started a moment before
its peers would never dial them. Waiting (bounded: BAAS_PEER_WAIT_SECONDS, default 20) until
the names resolve lets every node of a fresh network dial every other one. After the wait
the node starts regardless; a peer that is gone for good must not keep a node down.
"""

import os
import re
import socket
import sys
import time

HOME = "/node"
CONFIG = os.path.join(HOME, "cometbft", "config", "config.toml")


def peer_hosts(config_text: str) -> list[str]:
    match = re.search(r'^persistent_peers\s*=\s*"([^"]*)"', config_text, re.MULTILINE)
    hosts = []
    for peer in (match.group(1).split(",") if match else []):
        peer = peer.strip()
        if "@" in peer:
            hosts.append(peer.split("@", 1)[1].rsplit(":", 1)[0])
    return hosts


def resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        return False
    return True


def main() -> None:
    try:
        with open(CONFIG) as fh:
            hosts = peer_hosts(fh.read())
    except OSError:
        hosts = []  # no config: let the node itself report the problem
    deadline = time.monotonic() + float(os.environ.get("BAAS_PEER_WAIT_SECONDS", "20"))
    waiting = [h for h in hosts if not resolves(h)]
    while waiting and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = [h for h in waiting if not resolves(h)]
    if waiting:
        print(f"entrypoint: peers not resolvable yet, starting anyway: {waiting}",
              file=sys.stderr, flush=True)
    args = [sys.executable, "-m", "ledger", "node", "--home", HOME]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
