"""`make stop` (scripts/stop-embedded.sh) stops the local ledger node processes that outlive
Ctrl-C on `make run` (they run in their own sessions), and a `make run` still running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _alive(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


def _spawn_node(nodes_dir: Path, network: str, node: str) -> subprocess.Popen:
    """A stand-in node: a process started like the local driver starts one (its own
    session, ``--home`` inside the node's dir)."""
    home = nodes_dir / network / node / "home"
    home.mkdir(parents=True)
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "--home", str(home.resolve())],
        start_new_session=True,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BAAS_VAR_DIR"] = str(tmp_path / "var")
    env["BAAS_NODES_DIR"] = str(tmp_path / "var" / "nodes")
    return env


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_make_stop_stops_local_node_processes(tmp_path):
    nodes_dir = tmp_path / "var" / "nodes"
    nodes = [_spawn_node(nodes_dir, "11111111-1111-1111-1111-111111111111",
                         f"2222222{i}-2222-2222-2222-222222222222") for i in range(2)]
    try:
        time.sleep(0.3)
        assert all(_alive(p) for p in nodes)
        res = subprocess.run(["bash", "scripts/stop-embedded.sh"], cwd=REPO, env=_env(tmp_path),
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        for p in nodes:
            p.wait(timeout=10)
        assert "Stopped 2 node(s)" in res.stdout
    finally:
        for p in nodes:
            if _alive(p):
                p.kill()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_make_stop_ends_a_make_run_in_another_terminal(tmp_path):
    """A stand-in ``run-embedded.sh`` (its own process group, a 'worker' child) recorded in
    var/run/embedded.pids is ended, and the pid file goes."""
    run_dir = tmp_path / "var" / "run"
    run_dir.mkdir(parents=True)
    fake = tmp_path / "run-embedded.sh"
    fake.write_text(
        "sleep 120 & w=$!\n"
        "trap 'kill $w; exit 130' INT\n"  # like run-embedded.sh: Ctrl-C ends the worker
        f"printf 'script %s\\npgid %s\\nworker %s\\n' $$ $(ps -o pgid= -p $$ | tr -d ' ') $w"
        f" > {run_dir}/embedded.pids\n"
        "wait\n"
    )
    run = subprocess.Popen(["bash", str(fake)], start_new_session=True)
    try:
        for _ in range(50):
            if (run_dir / "embedded.pids").exists():
                break
            time.sleep(0.1)
        res = subprocess.run(["bash", "scripts/stop-embedded.sh"], cwd=REPO, env=_env(tmp_path),
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        run.wait(timeout=10)
        assert not (run_dir / "embedded.pids").exists()
        assert "Stopping make run" in res.stdout
    finally:
        if _alive(run):
            os.killpg(run.pid, 9)
