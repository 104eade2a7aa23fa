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
    assert (result.error, result.status_code) == ("webhook_url_private", None)
    assert receiver.requests == []


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
