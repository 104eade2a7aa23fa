"""The export's ``run.py`` (scripts/export_run.py) with a stand-in ledger that never
commits: what it leaves running when interrupted, refused or stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archives.workflows import RUNNER

FAKE_LEDGER = "import time\nwhile True:\n    time.sleep(1)\n"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = tmp_path / "net"
    home = root / "nodes" / "n-0"
    (home / "cometbft" / "config").mkdir(parents=True)
    (home / "node.json").write_text(json.dumps({"node_id": "0" * 40}))
    (home / "cometbft" / "config" / "config.toml").write_text(
        'proxy_app = "x"\n[rpc]\nladdr = "x"\n[p2p]\nladdr = "x"\npersistent_peers = ""\n')
    (root / "ledger").mkdir()
    (root / "ledger" / "__init__.py").write_text("")
    (root / "ledger" / "__main__.py").write_text(FAKE_LEDGER)
    (root / "network.json").write_text(json.dumps({
        "chain_id": "c", "height": 5, "nodes": [{"moniker": "n-0", "home": "nodes/n-0"}]}))
    shutil.copyfile(RUNNER, root / "run.py")
    return root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _run(root: Path, *args: str, startup: str = "60") -> subprocess.Popen:
    env = {**os.environ, "RUN_STARTUP_S": startup}
    return subprocess.Popen([sys.executable, "-I", "run.py", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _pids(root: Path) -> list[int]:
    return [e["pid"] for e in json.loads((root / "run.pids").read_text())]


def test_ctrl_c_while_waiting_for_blocks_stops_the_validators(export):
    proc = _run(export)
    try:
        while " rpc " not in proc.stdout.readline():
            pass
        pids = _pids(export)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
        assert not (export / "run.pids").exists()
    finally:
        proc.kill()


def test_detach_fails_when_nothing_commits_and_leaves_nothing_running(export):
    proc = _run(export, "--detach", startup="2")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "did not commit" in out and not (export / "run.pids").exists()


def test_a_second_run_is_refused_while_run_pids_exists(export):
    (export / "run.pids").write_text("[]\n")
    proc = _run(export)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "exists" in out


def test_stop_never_signals_a_reused_pid(export):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    try:
        # The recorded process is gone and its pid now names another one.
        (export / "run.pids").write_text(json.dumps([{"pid": sleeper.pid, "start": "1"}]))
        proc = _run(export, "--stop")
        assert proc.wait(timeout=30) == 0
        assert sleeper.poll() is None and not (export / "run.pids").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
