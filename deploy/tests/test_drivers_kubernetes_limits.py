"""The Kubernetes driver against API servers that misbehave on purpose: one that drips its
answer a byte at a time (the whole request has a deadline, not only each socket read) and
one that sends a huge body (refused past ``MAX_RESPONSE_BYTES``, never read into memory);
and a TLS server that requires a client certificate, which the driver presents from inline
kubeconfig data without leaving it in a temporary file."""

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


def _cert(name: str, *, issuer=None, ca: bool = False, ip: str | None = None):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_cert, signer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(signer_cert.subject if signer_cert else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False)
    return builder.sign(signer_key, hashes.SHA256()), key


def _pem(cert=None, key=None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if cert is not None:
        return cert.public_bytes(serialization.Encoding.PEM)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_inline_client_certificates_work_and_leave_no_file_behind(tmp_path, monkeypatch):
    """Finding 13 (driver side): the decrypted client key of a registered cluster is not
    left in a temporary file, and the client still presents it (the server requires it)."""
    import base64
    import http.server
    import ssl
    import tempfile

    ca, ca_key = _cert("test-ca", ca=True)
    server_cert, server_key = _cert("server", issuer=(ca, ca_key), ip="127.0.0.1")
    client_cert, client_key = _cert("client", issuer=(ca, ca_key))
    files = tmp_path / "server"
    files.mkdir()
    (files / "ca.pem").write_bytes(_pem(ca))
    (files / "server.pem").write_bytes(_pem(server_cert) + _pem(key=server_key))
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            peer = self.connection.getpeercert()
            seen.append(dict(x[0] for x in peer["subject"])["commonName"])
            body = b'{"major": "1", "minor": "30", "gitVersion": "v1.30.0"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files / "server.pem")
    context.load_verify_locations(files / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate: no answer
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    try:
        config = _kubeconfig(f"https://127.0.0.1:{server.server_address[1]}")
        config["clusters"][0]["cluster"]["certificate-authority-data"] = b64(_pem(ca))
        config["users"][0]["user"] = {"client-certificate-data": b64(_pem(client_cert)),
                                      "client-key-data": b64(_pem(key=client_key))}
        drv = KubernetesDriver(kubeconfig=config, install_id="x", timeout=5)
        assert drv.version() == "v1.30.0"
        assert list(temp.iterdir()) == []  # nothing written stays, the key least of all
        assert drv.version() == "v1.30.0"  # new connections still present the certificate
        drv.api.client.rest_client.pool_manager.clear()
        assert drv.version() == "v1.30.0"
        assert seen == ["client", "client", "client"]
    finally:
        server.shutdown()
        server.server_close()
