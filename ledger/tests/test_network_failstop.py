"""A node whose app fails on a consensus request stops, with CometBFT, instead of answering."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from conftest import require_service
from ledger.app import LedgerApp
from ledger.cli import build_app_state
from ledger.network import create_operator_key, generate_network, local_nodes
from ledger.node import run_node

pytestmark = [pytest.mark.cometbft, pytest.mark.slow]
FAIL_AT = 3


class FailingApp(LedgerApp):
    """The real app, except that FinalizeBlock of height FAIL_AT raises (a bug, a full disk)."""

    def finalize_block(self, *, height, **kwargs):
        if height == FAIL_AT:
            raise OSError("no space left on device")
        return super().finalize_block(height=height, **kwargs)


def _cometbft_running_for(home: Path) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"cometbft") and str(home).encode() in b" ".join(args):
            return True
    return False


def test_app_failure_in_finalize_block_stops_the_node(tmp_path, caplog):
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    _key, public_hex = create_operator_key(tmp_path)
    (home,) = generate_network(chain_id="failstop", nodes=local_nodes(1), out_dir=tmp_path,
                               app_state=build_app_state(public_hex))

    code = asyncio.run(asyncio.wait_for(run_node(home, FailingApp), timeout=120))

    assert code == 1
    assert not _cometbft_running_for(home)  # the runner stopped its child
    assert "app failed on consensus request finalize_block" in caplog.text
    app = LedgerApp(home / "app")
    try:
        height, app_hash = app.info()
    finally:
        app.close()
    assert height == FAIL_AT - 1  # nothing of the failed block was committed
    assert app_hash
