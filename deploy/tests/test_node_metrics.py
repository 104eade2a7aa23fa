"""CometBFT's [instrumentation] as the drivers write it, on a config ``cometbft init`` made."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from deploy.drivers import DriverError
from deploy.drivers._instrumentation import (
    CONFIG_TOML,
    enable_prometheus,
    instrumented,
    prometheus_listen_addr,
)


@pytest.fixture(scope="module")
def init_config(tmp_path_factory) -> str:
    from conftest import require_service

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    home = tmp_path_factory.mktemp("cmt")
    subprocess.run(["cometbft", "init", "--home", str(home)], check=True, capture_output=True,
                   timeout=60)
    return (home / "config" / "config.toml").read_text()


@pytest.mark.cometbft
def test_metrics_are_turned_on_in_a_real_config_and_nothing_else_changes(init_config):
    assert prometheus_listen_addr(init_config) is None  # off as cometbft init writes it
    text = enable_prometheus(init_config, listen="127.0.0.1:23456")
    parsed, before = tomllib.loads(text), tomllib.loads(init_config)
    assert parsed["instrumentation"]["prometheus"] is True
    assert parsed["instrumentation"]["prometheus_listen_addr"] == "127.0.0.1:23456"
    assert parsed["instrumentation"]["namespace"] == "cometbft"
    assert prometheus_listen_addr(text) == "127.0.0.1:23456"
    assert {k: v for k, v in parsed.items() if k != "instrumentation"} == \
        {k: v for k, v in before.items() if k != "instrumentation"}
    assert enable_prometheus(text, listen="127.0.0.1:23456") == text  # idempotent


@pytest.mark.parametrize("listen", ["", "127.0.0.1", "a b:1", ":0", ":70000", '":1"\nx="'])
def test_bad_listen_addresses_are_refused(listen):
    with pytest.raises(DriverError) as err:
        enable_prometheus('[instrumentation]\nprometheus = false\n'
                          'prometheus_listen_addr = ":26660"\nnamespace = "x"\n', listen=listen)
    assert err.value.code == "invalid_spec"


def test_a_config_without_the_section_gets_one_and_stand_in_homes_are_left_alone():
    files = instrumented({CONFIG_TOML: b'moniker = "n"\n'}, listen=":26660")
    text = files[CONFIG_TOML].decode()
    assert tomllib.loads(text) == {"moniker": "n", "instrumentation": {
        "prometheus": True, "prometheus_listen_addr": ":26660", "namespace": "cometbft"}}
    assert instrumented(files, listen=":26660") == files  # idempotent
    with pytest.raises(DriverError) as err:  # a config that does not parse is refused
        instrumented({CONFIG_TOML: b'moniker = \n'}, listen=":26660")
    assert err.value.code == "invalid_spec"
    stand_in = {"node.json": b"{}"}
    assert instrumented(stand_in, listen=":26660") is stand_in
    config = {CONFIG_TOML: b"anything"}
    assert instrumented(config, listen=None) is config  # no metrics port: as it was


# --- rpc.get_capped: no redirect, no proxy, one deadline ------------------------------------


@pytest.fixture
def http_server():
    """A loopback HTTP server whose answer a test sets: ``answer(handler)`` per request;
    ``hits`` counts requests per path."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state: dict = {"answer": None, "hits": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["hits"].append(self.path)
            state["answer"](self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _send(handler, status: int, body: bytes = b"", **headers):
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_get_capped_never_follows_a_redirect(http_server):
    """A node's listener (on a cluster a tenant runs) answering 302 to another address must
    not have the control plane fetch that address and relay its body."""
    from deploy import rpc

    def answer(handler):
        if handler.path == "/metrics":
            _send(handler, 302, Location=f"{http_server['url']}/secret")
        else:
            _send(handler, 200, b"internal secret")

    http_server["answer"] = answer
    with pytest.raises(rpc.RpcError) as err:
        rpc.get_capped(f"{http_server['url']}/metrics", timeout=5, limit=1000)
    assert not isinstance(err.value, rpc.ResponseTooLarge)
    assert http_server["hits"] == ["/metrics"]  # /secret was never asked for


def test_get_capped_ignores_proxy_variables(http_server, monkeypatch):
    """``http_proxy`` set in the control plane's environment is not a way to the nodes."""
    from deploy import rpc

    http_server["answer"] = lambda h: _send(h, 200, b"proxied")
    # The "proxy" is the test server; the node's address is a closed port.
    with socket_closed_port() as port:
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, http_server["url"])
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        # urllib reads the variables when it builds its shared opener, the first time it
        # is used: start from none, as a fresh process would.
        import urllib.request

        monkeypatch.setattr(urllib.request, "_opener", None)
        with pytest.raises(rpc.RpcError):
            rpc.get_capped(f"http://127.0.0.1:{port}/metrics", timeout=2, limit=1000)
    assert http_server["hits"] == []


def test_get_capped_has_one_deadline_not_one_per_read(http_server):
    """A listener that drips a byte every 0.3 s never lets a per-read timeout of 1 s fire;
    the whole exchange still ends after about 1 s."""
    import time

    from deploy import rpc

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(100):
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.3)

    http_server["answer"] = answer
    started = time.monotonic()
    with pytest.raises(rpc.RpcError):
        rpc.get_capped(f"{http_server['url']}/metrics", timeout=1, limit=1000)
    assert time.monotonic() - started < 3


def test_get_capped_caps_the_size_and_refuses_error_statuses(http_server):
    from deploy import rpc

    http_server["answer"] = lambda h: _send(h, 200, b"y" * 5000)
    with pytest.raises(rpc.ResponseTooLarge):
        rpc.get_capped(f"{http_server['url']}/metrics", timeout=5, limit=1000)
    assert rpc.get_capped(f"{http_server['url']}/metrics?x=1", timeout=5,
                          limit=5000) == b"y" * 5000
    assert http_server["hits"][-1] == "/metrics?x=1"
    http_server["answer"] = lambda h: _send(h, 500, b"oops")
    with pytest.raises(rpc.RpcError):
        rpc.get_capped(f"{http_server['url']}/metrics", timeout=5, limit=1000)
    for bad in ("https://127.0.0.1/metrics", "http:///metrics", "http://127.0.0.1:x/m"):
        with pytest.raises(rpc.RpcError):
            rpc.get_capped(bad, timeout=1, limit=10)


class socket_closed_port:  # noqa: N801 (a context manager used like a function)
    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


# --- Kubernetes: the metrics URL is the planned port ----------------------------------------


def _rendered_sts():
    import uuid

    from deploy.drivers import NodeAddress, NodeSpec
    from deploy.drivers import k8s_manifests as m
    from deploy.drivers.kubernetes import render_node

    network_id = "3f1c6c1e-8d5c-4a57-9a43-0a4a2f1e9b01"
    spec = NodeSpec(install_id="install-a", tenant_id="17", network_id=network_id,
                    node_id=str(uuid.uuid4()), index=0, moniker="node0",
                    address=NodeAddress(m.node_host(network_id, 0), 26656, 26657, 26658,
                                        26660),
                    home_files={"node.json": b"{}",
                                "cometbft/config/config.toml": b'moniker = "node0"\n'},
                    secret_files={}, cpu_limit=0.5, memory_mb=256,
                    ledger_version="0123456789abcdef")
    return spec, render_node(spec, image="img:1")[3]


def test_kubernetes_metrics_url_uses_the_planned_port_not_the_live_one(monkeypatch):
    """Whoever runs a tenant's cluster can edit the StatefulSet: a containerPort it names
    must not choose where the control plane reads from."""
    from deploy.drivers.kubernetes import KubernetesDriver

    spec, sts = _rendered_sts()
    for port in sts["spec"]["template"]["spec"]["containers"][0]["ports"]:
        if port["name"] == "metrics":
            port["containerPort"] = 8080
    drv = KubernetesDriver(kubeconfig={"clusters": []}, install_id="install-a")
    monkeypatch.setattr(drv, "_statefulset", lambda network_id, node_id: sts)
    monkeypatch.setattr(drv, "_pod", lambda sts: None)
    state = drv.inspect_node(network_id=spec.network_id, node_id=spec.node_id)
    assert state.metrics_url == f"http://{spec.address.host}:26660"


@pytest.mark.parametrize("ports", [
    [{"name": "metrics", "containerPort": "abc"}],
    [{"name": "metrics", "containerPort": None}],
    [{"name": "metrics", "containerPort": [1]}],
    [{"name": "metrics", "containerPort": 99999}],
    ["metrics"],
    "metrics",
    None,
])
def test_metrics_port_of_odd_live_objects_is_zero_not_an_error(ports):
    from deploy.drivers import k8s_manifests as m

    _spec, sts = _rendered_sts()
    sts["spec"]["template"]["spec"]["containers"][0]["ports"] = ports
    assert m.metrics_port_of(sts) == 0
    for odd in ({}, {"spec": None}, {"spec": {"template": {"spec": {"containers": "x"}}}},
                {"spec": {"template": {"spec": {"containers": [None, 3]}}}}, None, []):
        assert m.metrics_port_of(odd) == 0
    sts["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "metrics", "containerPort": "26660"}]
    assert m.metrics_port_of(sts) == 26660


@pytest.fixture
def raw_server():
    """A loopback listener that hands each accepted connection to ``state["serve"](conn,
    stop)``: a test writes the exact bytes (and their pace) itself. ``stop`` is set at
    teardown, so a dripping answer never outlives its test by more than a beat."""
    import socket
    import threading

    stop = threading.Event()
    state: dict = {"serve": None}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)

    def accept_loop():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    def serve_one(conn):
        with conn:
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                state["serve"](conn, stop)
            except OSError:
                pass  # the client shut the exchange down: what a deadline does

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{listener.getsockname()[1]}"
    yield state
    stop.set()
    thread.join(5)
    listener.close()


def _drip(conn, stop, data: bytes, *, every: float = 0.5, forever: bytes = b"",
          for_s: float = 25) -> None:
    """``data`` one byte every ``every`` seconds, then ``forever`` repeated likewise (never
    ending the line), for at most ``for_s`` seconds: far longer than any deadline here."""
    import itertools
    import time

    ends = time.monotonic() + for_s
    tail = itertools.cycle(forever) if forever else iter(())
    for byte in itertools.chain(data, tail):
        if stop.is_set() or time.monotonic() > ends:
            return
        conn.sendall(bytes([byte]))
        time.sleep(every)


def _timed_capped(url: str, *, timeout: float, limit: int = 1000):
    import time

    from deploy import rpc

    started = time.monotonic()
    try:
        return rpc.get_capped(url, timeout=timeout, limit=limit), time.monotonic() - started
    except rpc.RpcError as exc:
        return exc, time.monotonic() - started


def test_get_capped_deadline_covers_a_dripping_status_line_and_headers(raw_server):
    """One byte every 0.5 s of a status line and of headers that never end: every recv
    gets something before a per-read timeout of 1 s could fire, so only an overall
    deadline ends it (after about 1 s; a hang would last the 25 s of dripping)."""
    from deploy import rpc

    raw_server["serve"] = lambda conn, stop: _drip(
        conn, stop, b"HTTP/1.1 200 OK\r\nX-Slow: ", forever=b"a")
    result, took = _timed_capped(f"{raw_server['url']}/metrics", timeout=1)
    assert isinstance(result, rpc.RpcError), result
    assert not isinstance(result, rpc.ResponseTooLarge)
    assert "timed out" in str(result)
    assert took < 5, f"took {took:.1f} s for a 1 s deadline"


def test_get_capped_deadline_covers_a_dripping_chunk_size_line(raw_server):
    """Headers at once, then a chunked body whose chunk-size line drips (a chunk extension
    that never ends): the reads in http.client's chunk parsing are bounded too."""
    from deploy import rpc

    def serve(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n")
        _drip(conn, stop, b"a;ext=", forever=b"x")

    raw_server["serve"] = serve
    result, took = _timed_capped(f"{raw_server['url']}/metrics", timeout=1)
    assert isinstance(result, rpc.RpcError), result
    assert "timed out" in str(result)
    assert took < 5, f"took {took:.1f} s for a 1 s deadline"


def test_get_capped_deadline_leaves_a_prompt_answer_alone(raw_server):
    """A whole answer in time (chunked or with a length) is returned as it is; the watchdog
    of one call does not cut a later one short."""
    import time

    answers = iter([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nmetrics",
    ])
    raw_server["serve"] = lambda conn, stop: conn.sendall(next(answers))
    assert _timed_capped(f"{raw_server['url']}/metrics", timeout=1)[0] == b"hello world"
    time.sleep(1.2)  # past the first call's deadline: its timer must be gone
    assert _timed_capped(f"{raw_server['url']}/metrics", timeout=5)[0] == b"metrics"


def test_get_capped_deadline_keeps_the_size_cap(raw_server):
    from deploy import rpc

    raw_server["serve"] = lambda conn, stop: conn.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"400\r\n" + b"z" * 1024 + b"\r\n" + b"400\r\n" + b"z" * 1024 + b"\r\n0\r\n\r\n")
    result, _ = _timed_capped(f"{raw_server['url']}/metrics", timeout=5, limit=1500)
    assert isinstance(result, rpc.ResponseTooLarge), result
    result, _ = _timed_capped(f"{raw_server['url']}/metrics", timeout=5, limit=2048)
    assert result == b"z" * 2048
