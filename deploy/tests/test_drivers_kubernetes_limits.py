"""The Kubernetes driver against API servers that misbehave on purpose: one that drips its
answer a byte at a time (the whole request has a deadline, not only each socket read) and
one that sends a huge body (refused past ``MAX_RESPONSE_BYTES``, never read into memory)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from deploy.drivers import DriverError, _kube_api
from deploy.drivers.kubernetes import KubernetesDriver


def _kubeconfig(server: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


@pytest.fixture
def raw_server():
    """A TCP server whose reply to every connection is the function a test sets."""
    behaviour: dict = {}
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=behaviour["reply"], args=(conn, stop), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", behaviour
    stop.set()
    server.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def test_an_answer_dripped_a_byte_at_a_time_hits_the_overall_deadline(raw_server):
    url, behaviour = raw_server

    def drip(conn, stop):
        with conn:
            _read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n")
            try:
                while not stop.is_set():  # one byte every 0.2 s: no socket read times out
                    conn.sendall(b" ")
                    time.sleep(0.2)
            except OSError:
                return

    behaviour["reply"] = drip
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=1.5)
    started = time.monotonic()
    with pytest.raises(DriverError) as err:
        drv.version()
    took = time.monotonic() - started
    assert err.value.code == "driver_timeout"
    assert took < 4, f"the request took {took:.1f}s despite a 1.5s deadline"


def test_a_huge_chunked_answer_is_refused_not_read_into_memory(raw_server, monkeypatch):
    monkeypatch.setattr(_kube_api, "MAX_RESPONSE_BYTES", 1024 * 1024)
    url, behaviour = raw_server
    sent = {"bytes": 0}

    def flood(conn, stop):
        with conn:
            _read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            block = b"x" * 65536
            try:
                while not stop.is_set() and sent["bytes"] < 50 * 1024 * 1024:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                    sent["bytes"] += len(block)
            except OSError:
                return

    behaviour["reply"] = flood
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=10)
    with pytest.raises(DriverError) as err:
        drv.version()
    assert err.value.code == "driver_error" and "larger than 1 MiB" in err.value.message
    assert sent["bytes"] < 50 * 1024 * 1024  # we hung up long before the server finished


def test_a_declared_huge_answer_is_refused_before_reading(raw_server, monkeypatch):
    monkeypatch.setattr(_kube_api, "MAX_RESPONSE_BYTES", 1024)
    url, behaviour = raw_server

    def declare(conn, stop):
        with conn:
            _read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 999999999\r\n\r\n{")
            stop.wait(5)

    behaviour["reply"] = declare
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=10)
    started = time.monotonic()
    with pytest.raises(DriverError) as err:
        drv.version()
    assert err.value.code == "driver_error" and time.monotonic() - started < 3
