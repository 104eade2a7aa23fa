"""The local driver's node RPC is reachable only by the platform's user (issue 8): CometBFT
serves it on a Unix socket in a 0700 directory, not on loopback TCP, and the platform's
clients (``deploy.rpc``, ``ledger.client``) speak HTTP and websockets over that socket."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import socketserver
import stat
import threading
from pathlib import Path, PurePosixPath

import pytest

from conftest import require_service
from deploy import rpc
from deploy.drivers.local import UNIX_SOCKET_PATH_MAX, LocalDriver, _rpc_on_socket
from ledger.client import LedgerClient, unix_socket_of

CONFIG = b"""moniker = "node0"
proxy_app = "tcp://127.0.0.1:1"

[rpc]
laddr = "tcp://127.0.0.1:26657"
cors_allowed_origins = []

[p2p]
laddr = "tcp://127.0.0.1:26656"
"""


def test_the_rpc_listen_address_becomes_the_socket_and_p2p_stays():
    key = PurePosixPath("cometbft/config/config.toml")
    paths, sock = _rpc_on_socket({key: CONFIG}, Path("/run/x/abc.sock"))
    text = paths[key].decode()
    assert sock == Path("/run/x/abc.sock")
    assert 'laddr = "unix:///run/x/abc.sock"' in text
    assert 'laddr = "tcp://127.0.0.1:26656"' in text  # [p2p] untouched
    assert "26657" not in text
    # the ABCI connection to the chaincode host leaves loopback TCP too
    assert 'proxy_app = "unix:///run/x/abc.abci"' in text and "tcp://127.0.0.1:1" not in text


def test_the_socket_dir_is_private_and_paths_fit_the_limit(tmp_path):
    drv = LocalDriver(nodes_dir=tmp_path / "nodes", install_id="i")
    path = drv._rpc_socket("net", "node")
    info = os.stat(path.parent)
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    long_dir = tmp_path / ("x" * 120) / "nodes"
    far = LocalDriver(nodes_dir=long_dir, install_id="i")._rpc_socket("net", "node")
    assert len(str(far)) <= UNIX_SOCKET_PATH_MAX
    assert stat.S_IMODE(os.stat(far.parent).st_mode) == 0o700


def test_a_socket_dir_opened_up_by_someone_is_closed_again(tmp_path):
    drv = LocalDriver(nodes_dir=tmp_path / "nodes", install_id="i")
    directory = drv._rpc_socket("n", "m").parent
    os.chmod(directory, 0o777)
    drv._rpc_socket("n", "m")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_unix_urls_name_the_socket_and_the_path():
    assert unix_socket_of("unix:///a/b/n.sock/status") == ("/a/b/n.sock", "/status")
    assert unix_socket_of("unix:///a/b/n.sock") == ("/a/b/n.sock", "/")
    assert unix_socket_of("http://127.0.0.1:1") is None
    with pytest.raises(ValueError):
        unix_socket_of("unix://relative.sock")


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, result):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self._answer({"sync_info": {"latest_block_height": "7", "catching_up": False},
                      "node_info": {"id": "abc"}, "path": self.path})

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer({"method": request["method"]})

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"


@pytest.fixture
def fake_node(tmp_path):
    path = str(tmp_path / "n.sock")
    server = socketserver.UnixStreamServer(path, _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_deploy_rpc_and_the_ledger_client_speak_over_the_socket(fake_node):
    url = f"unix://{fake_node}"
    assert rpc.status(url).height == 7
    with LedgerClient(url, timeout=5) as client:
        assert client.rpc("status")["method"] == "status"


def test_an_unreachable_socket_is_an_rpc_error(tmp_path):
    with pytest.raises(rpc.RpcError):
        rpc.status(f"unix://{tmp_path}/missing.sock")


@pytest.mark.slow
@pytest.mark.cometbft
def test_a_real_node_answers_on_its_socket_and_not_on_tcp(tmp_path):
    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    from deploy.drivers.testing import make_specs

    drv = LocalDriver(nodes_dir=tmp_path / "nodes", install_id="sock-test", stop_timeout=10)
    spec = make_specs(drv, validators=1, install_id="sock-test")[0]
    drv.prepare_network(install_id="sock-test", tenant_id="t", network_id=spec.network_id)
    try:
        state = drv.apply_node(spec)
        assert state.rpc_url.startswith("unix://"), state.rpc_url
        sock_path, _ = unix_socket_of(state.rpc_url)
        assert stat.S_IMODE(os.stat(Path(sock_path).parent).st_mode) == 0o700
        import time

        deadline = time.monotonic() + 90
        height = 0
        while time.monotonic() < deadline and height < 2:
            try:
                height = rpc.status(state.rpc_url).height
            except rpc.RpcError:
                time.sleep(0.5)
        assert height >= 2, drv.logs(network_id=spec.network_id, node_id=spec.node_id)
        with LedgerClient(state.rpc_url, timeout=10) as client:
            assert client.rpc("status")["sync_info"]["latest_block_height"]
            events = client.subscribe("tm.event='NewBlock'", timeout=30)
            assert next(events)
            events.close()
        # Nothing answers RPC, or the chaincode host's ABCI, on the planned TCP ports: a local
        # user could read any chain's state through either.
        for port in (spec.address.rpc_port, spec.address.abci_port):
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, port
        abci = Path(sock_path).with_suffix(".abci")
        assert abci.exists() and stat.S_IMODE(os.stat(abci).st_mode) == 0o600
    finally:
        drv.delete_network(network_id=spec.network_id)
    assert not Path(sock_path).exists() and not Path(sock_path).with_suffix(".abci").exists()
