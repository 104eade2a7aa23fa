"""Run one validator: our ABCI server plus ``cometbft start`` as a child process.

``python -m ledger node --home DIR`` is the single command every driver (local processes,
Docker) runs per node. The ABCI server listens first so CometBFT's handshake finds it; the
runner forwards SIGTERM/SIGINT to CometBFT and exits when either half stops. When the app
fails on a consensus request the runner stops CometBFT and exits non-zero instead of letting
the node answer differently from the other validators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.abci.handler import Handler
from ledger.abci.server import AbciServer
from ledger.network import COMETBFT_BIN, LocalnetError, load_node

log = logging.getLogger("ledger.node")
STOP_GRACE_SECONDS = 15


async def _stop_child(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning("cometbft did not stop in %ss; killing it", STOP_GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


def _unix_proxy_app(home: Path) -> str | None:
    """The unix socket CometBFT's ``proxy_app`` names, if it names one (the platform's local
    driver puts it in a 0700 directory); None for TCP."""
    config = home / "cometbft" / "config" / "config.toml"
    try:
        text = config.read_text("utf-8")
    except OSError:
        return None
    match = re.search(r'^\s*proxy_app\s*=\s*"unix://([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else None


async def run_node(home: Path, app_factory: Callable[[Path], Any] | None = None) -> int:
    if app_factory is None:
        from ledger.app import LedgerApp as app_factory

    info = load_node(home)
    try:
        app = app_factory(home / "app")
    except Exception:
        log.exception("cannot open the app state in %s", home / "app")
        return 1
    abci_path = _unix_proxy_app(home)
    server = AbciServer(Handler(app), host="127.0.0.1", port=int(info["abci_port"]),
                        path=abci_path)
    try:
        try:
            await server.start()
        except OSError as exc:
            where = abci_path or f"127.0.0.1:{info['abci_port']}"
            log.error("cannot listen for ABCI on %s: %s", where, exc)
            return 1
        try:
            child = await asyncio.create_subprocess_exec(
                COMETBFT_BIN, "start", "--home", str(home / "cometbft"),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.error("cannot start %s (run scripts/install-cometbft.sh): %s", COMETBFT_BIN, exc)
            return 1
        log.info("node %s: cometbft pid %s, ABCI on %s", info["moniker"], child.pid, server.port)

        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)

        child_done = asyncio.create_task(child.wait())
        server_done = asyncio.create_task(server.wait_stopped())
        stop_task = asyncio.create_task(stop_requested.wait())
        await asyncio.wait({child_done, server_done, stop_task},
                           return_when=asyncio.FIRST_COMPLETED)
        for task in (server_done, stop_task):
            task.cancel()

        if stop_requested.is_set():
            log.info("node %s: stopping", info["moniker"])
            await _stop_child(child)
            code = 0
        elif server.fatal is not None:
            log.error("node %s: app failed, stopping cometbft: %s", info["moniker"], server.fatal)
            await _stop_child(child)
            code = 1
        else:
            # CometBFT stopping on its own (crash, lost ABCI link, killed) fails this node.
            log.error("node %s: cometbft exited with %s", info["moniker"], child.returncode)
            code = child.returncode if child.returncode and child.returncode > 0 else 1
        return code
    finally:
        server.stop()
        app.close()


def main(home: str) -> int:
    logging.basicConfig(
        level=os.environ.get("LEDGER_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    profile_path = os.environ.get("LEDGER_PROFILE")  # set by bench/ledger_throughput.py
    if not profile_path:
        return asyncio.run(run_node(Path(home).resolve()))
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return asyncio.run(run_node(Path(home).resolve()))
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


# --- background processes for a local network (``python -m ledger up/down``) ---------------
PID_FILE = "node.pid"
LOG_FILE = "node.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def node_pid(home: Path) -> int | None:
    try:
        pid = int((home / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def start_background(home: Path) -> int:
    """Start ``python -m ledger node --home HOME`` detached; output goes to HOME/node.log."""
    import subprocess

    home = Path(home).resolve()
    load_node(home)
    pid = node_pid(home)
    if pid is not None:
        return pid
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(home / LOG_FILE, "ab") as logfile:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ledger", "node", "--home", str(home)],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,  # own process group: kill -9 takes cometbft too
        )
    (home / PID_FILE).write_text(f"{proc.pid}\n")
    return proc.pid


def stop_background(home: Path, *, hard: bool = False, timeout: float = 30.0) -> str:
    """Stop a node started by ``start_background``. ``hard`` is ``kill -9`` of the node's
    whole process group (the ABCI host and cometbft), i.e. a crash."""
    import time

    home = Path(home).resolve()
    pid = node_pid(home)
    if pid is None:
        (home / PID_FILE).unlink(missing_ok=True)
        return "not running"
    if hard:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    state = "killed" if hard else "stopped"
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        state = "killed after timeout"
    # Reap whatever is left of the group (cometbft if the runner died first).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    (home / PID_FILE).unlink(missing_ok=True)
    return state


def wait_ready(url: str, *, timeout: float, pid: int | None = None, min_height: int = 1) -> None:
    """Wait until the node at ``url`` answers RPC and has committed ``min_height``."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            raise LocalnetError(f"node at {url} exited during start-up")
        try:
            st = httpx.get(f"{url}/status", timeout=2.0).json()["result"]["sync_info"]
            if int(st["latest_block_height"]) >= min_height:
                return
            last = f"height {st['latest_block_height']}"
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.25)
    raise LocalnetError(f"node at {url} not ready after {timeout}s ({last})")


def up(network_dir: Path, *, timeout: float = 60.0) -> list[tuple[str, str]]:
    """Start every node of a network made by ``testnet``; wait until each has a block."""
    from ledger.network import load_network

    manifest = load_network(network_dir)
    started = []
    for node in manifest["nodes"]:
        home = Path(network_dir) / node["home"]
        pid = start_background(home)
        started.append((node["moniker"], f"http://{node['host']}:{node['rpc_port']}", pid, home))
    for name, url, pid, home in started:
        try:
            wait_ready(url, timeout=timeout, pid=pid)
        except LocalnetError as exc:
            raise LocalnetError(f"{name}: {exc}; see {home / LOG_FILE}") from None
    return [(name, url) for name, url, _pid, _home in started]


def down(network_dir: Path) -> list[tuple[str, str]]:
    from ledger.network import load_network

    manifest = load_network(network_dir)
    return [(n["moniker"], stop_background(Path(network_dir) / n["home"]))
            for n in manifest["nodes"]]
