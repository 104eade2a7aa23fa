"""The HTTP client of webhooks against a real local receiver: signatures, the address it
connects to, refusals, timeouts, caps, no redirects."""

from __future__ import annotations

import pytest

from notify import transport
from notify.tests.receiver import Receiver, verify

SECRET = "whsec_test"


def _post(url: str, *, allow_private: bool = True, timeout: float = 2.0, resolve=None,
          body: bytes = b'{"a":1}'):
    headers = {"X-Baas-Signature": transport.signature(SECRET, 1_700_000_000, body)}
    kwargs = {"resolve": resolve} if resolve else {}
    return transport.post(url, body, headers, timeout=timeout, allow_private=allow_private,
                          **kwargs)


def test_signature_is_hmac_of_timestamp_dot_body_and_verifies():
    body = b'{"id":"x"}'
    header = transport.signature(SECRET, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, body, now=1_700_000_000)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_000)
    assert not verify("whsec_other", header, body, now=1_700_000_000)
    # an old signature replayed later is refused by the receiver's tolerance
    assert not verify(SECRET, header, body, now=1_700_000_000 + 301)


def test_a_2xx_answer_is_a_success_and_the_request_is_signed(receiver):
    result = _post(receiver.url("/in?x=1"))
    assert result.ok and result.status_code == 200 and result.excerpt == "ok"
    [got] = receiver.requests
    assert got.path == "/in?x=1" and got.body == b'{"a":1}'
    assert verify(SECRET, got.headers["X-Baas-Signature"], got.body, now=1_700_000_000)
    assert got.headers["Content-Type"] == "application/json"


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(receiver):
    """A name is resolved once; the request goes to that address and says the name."""
    asked = []

    def resolve(host):
        asked.append(host)
        return ["127.0.0.1"]

    result = _post(f"http://hooks.example.test:{receiver.port}/x", resolve=resolve)
    assert result.ok, result
    assert asked == ["hooks.example.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/x", "webhook_url_scheme"),
    ("file:///etc/passwd", "webhook_url_scheme"),
    ("javascript:alert(1)", "webhook_url_scheme"),
    ("http://user:pw@example.com/", "webhook_url_invalid"),
    ("http://exa mple.com/", "webhook_url_invalid"),
    ("http://example.com:99999/", "webhook_url_invalid"),
    ("http://127.0.0.1/", "webhook_url_private"),
    ("http://[::1]/", "webhook_url_private"),
    ("http://10.1.2.3/", "webhook_url_private"),
    ("http://169.254.169.254/latest/meta-data/", "webhook_url_private"),
    ("http://224.0.0.1/", "webhook_url_private"),
    ("http://[::ffff:127.0.0.1]/", "webhook_url_private"),
    ("http://100.64.0.1/", "webhook_url_private"),
    ("http://[2002:a00:1::1]/", "webhook_url_private"),  # 6to4 of 10.0.0.1
    ("http://[fec0::1]/", "webhook_url_private"),  # site-local
])
def test_refused_urls(url, code):
    with pytest.raises(transport.UrlRefused) as caught:
        transport.check_url(url, allow_private=False, resolve=lambda h: ["93.184.216.34"])
    assert caught.value.code == code


def test_a_name_resolving_to_any_private_address_is_refused_and_nothing_is_sent(receiver):
    """DNS rebinding: whatever the name resolved to at subscription time, the address
    connected to is checked at send time."""
    result = _post(f"http://rebind.example.test:{receiver.port}/", allow_private=False,
                   resolve=lambda h: ["93.184.216.34", "127.0.0.1"])
    assert (result.error, result.status_code) == ("webhook_url_unresolvable", None)
    assert receiver.requests == []


def test_a_name_resolving_to_a_private_address_is_answered_as_one_that_does_not_resolve():
    """The answer does not tell which internal names exist: a name of a private zone the
    control plane's resolver sees gets the same refusal as a name that does not exist."""
    def missing(host):
        raise OSError("no such host")

    refusals = []
    for resolve in (missing, lambda h: ["10.0.0.7"], lambda h: []):
        with pytest.raises(transport.UrlRefused) as caught:
            transport.check_url("https://db.internal.example/", allow_private=False,
                                resolve=resolve)
        refusals.append((caught.value.code, caught.value.message))
    assert len(set(refusals)) == 1 and refusals[0][0] == "webhook_url_unresolvable"
    # allowed by the operator: the private name is accepted
    assert transport.check_url("https://db.internal.example/", allow_private=True,
                               resolve=lambda h: ["10.0.0.7"])[1] == ["10.0.0.7"]


def test_a_name_that_does_not_resolve():
    def resolve(host):
        raise OSError("no such host")

    with pytest.raises(transport.UrlRefused) as caught:
        transport.check_url("https://nowhere.example.test/", allow_private=False,
                            resolve=resolve)
    assert caught.value.code == "webhook_url_unresolvable"


def test_a_slow_receiver_times_out():
    slow = Receiver(default=(200, 3.0)).start()
    try:
        result = _post(slow.url(), timeout=0.5)
    finally:
        slow.stop()
    assert result.error == "timeout" and not result.ok


def test_a_redirect_is_not_followed():
    moved = Receiver(default=(302, 0.0), extra_headers={"Location": "http://10.0.0.1/"}).start()
    try:
        result = _post(moved.url())
    finally:
        moved.stop()
    assert (result.error, result.status_code) == ("http_status", 302)
    assert len(moved.requests) == 1


def test_the_answer_read_is_capped():
    big = Receiver(answer_body=b"x" * (transport.MAX_RESPONSE_BYTES * 4)).start()
    try:
        result = _post(big.url())
    finally:
        big.stop()
    assert result.ok and len(result.excerpt) == transport.EXCERPT_CHARS


def test_a_closed_port_is_a_connection_error():
    r = Receiver().start()
    url = r.url()
    r.stop()
    result = _post(url)
    assert result.error == "connection_refused"


def _self_signed(tmp_path, host):
    """A certificate for ``host`` and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path):
    import ssl

    cert, key = _self_signed(tmp_path, "hooks.example.test")
    r = Receiver().start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    r.server.socket = context.wrap_socket(r.server.socket, server_side=True)
    yield r, cert
    r.stop()


def test_https_verifies_the_host_name_on_the_pinned_address(tls_receiver, monkeypatch):
    receiver, cert = tls_receiver
    url = f"https://hooks.example.test:{receiver.port}/in"
    # not trusted: refused, nothing delivered
    assert _post(url, resolve=lambda h: ["127.0.0.1"]).error == "tls_failed"
    # trusted (the system store is read from SSL_CERT_FILE): the name verifies, although
    # the connection went to 127.0.0.1
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    result = _post(url, resolve=lambda h: ["127.0.0.1"])
    assert result.ok, result
    assert receiver.requests[-1].headers["Host"] == f"hooks.example.test:{receiver.port}"
    # the same server reached under a name its certificate does not carry: refused
    other = _post(f"https://other.example.test:{receiver.port}/in",
                  resolve=lambda h: ["127.0.0.1"])
    assert other.error == "tls_failed"


def _trickler(first: bytes, drip: bytes, every: float, total: float):
    """A raw server: after the request it sends ``first``, then ``drip`` every ``every``
    seconds for ``total`` seconds -- each byte in time for a per-read timeout."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.settimeout(30)
        try:
            conn.recv(65536)
            conn.sendall(first)
            end = time.monotonic() + total
            while time.monotonic() < end:
                conn.sendall(drip)
                time.sleep(every)
        except OSError:
            pass
        finally:
            conn.close()
            server.close()

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/"


@pytest.mark.parametrize("first, drip", [
    (b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n"),  # headers trickled
    (b"", b"H"),  # the status line trickled
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"),  # the body trickled
])
def test_the_whole_exchange_has_one_deadline(first, drip):
    """A receiver that sends a byte now and then, never letting a read time out, still
    gets no more than the timeout: the deadline covers status line and headers too."""
    import time

    url = _trickler(first, drip, every=0.2, total=6.0)
    started = time.monotonic()
    result = _post(url, timeout=1.0)
    took = time.monotonic() - started
    assert result.error == "timeout", result
    assert took < 2.5, took


def test_a_stalled_tls_handshake_ends_at_the_deadline():
    """A server that accepts and trickles bytes that never finish a TLS handshake."""
    import time

    url = _trickler(b"", b"\x16", every=0.2, total=6.0).replace("http://", "https://")
    started = time.monotonic()
    result = _post(url, timeout=1.0)
    assert result.error in ("timeout", "tls_failed"), result
    assert time.monotonic() - started < 2.5


def test_an_answer_with_nul_bytes_is_stored_without_them():
    url = _trickler(b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                    b"ab\x00cd", b"", every=0.01, total=0.0)
    result = _post(url)
    assert (result.error, result.status_code) == ("http_status", 500)
    assert "\x00" not in result.excerpt and result.excerpt.startswith("ab")


@pytest.mark.parametrize("url", [
    "http://93.184.216.34/a b", "http://93.184.216.34/a\tb", "http://93.184.216.34/\x7f",
    "http://93.184.216.34/?q=a\x00", "http://93.184.216.34:0/", "http://hooks.example.com:0/x",
])
def test_control_characters_spaces_and_port_0_are_refused(url):
    with pytest.raises(transport.UrlRefused) as caught:
        transport.check_url(url, allow_private=False, resolve=lambda h: ["93.184.216.34"])
    assert caught.value.code == "webhook_url_invalid"
