"""did:web: the URL rules, and resolution against a real local HTTPS server."""

from __future__ import annotations

import json
import ssl
import threading
import time

import pytest

from identity.did.did_web import (
    WebMethod,
    WebTarget,
    address_is_private,
    checked_addresses,
    did_web_target,
    resolve_did_web,
)
from identity.did.errors import InternalError, InvalidDid, NotFound
from identity.did.resolver import Resolver
from identity.did.tests.webserver import https_server


@pytest.mark.parametrize(("did", "url"), [
    ("did:web:example.com", "https://example.com/.well-known/did.json"),
    ("did:web:Example.COM", "https://example.com/.well-known/did.json"),
    ("did:web:example.com%3A8443", "https://example.com:8443/.well-known/did.json"),
    ("did:web:example.com%3a8443", "https://example.com:8443/.well-known/did.json"),
    ("did:web:example.com:user:alice", "https://example.com/user/alice/did.json"),
    ("did:web:w3c-ccg.github.io:user:alice",
     "https://w3c-ccg.github.io/user/alice/did.json"),
    ("did:web:example.com%3A443:a", "https://example.com/a/did.json"),
    ("did:web:localhost%3A9443", "https://localhost:9443/.well-known/did.json"),
])
def test_the_url_of_a_did_web(did, url):
    assert did_web_target(did).url == url


@pytest.mark.parametrize("did", [
    "did:web:127.0.0.1",  # an IP address, not a domain
    "did:web:%5B%3A%3A1%5D",
    "did:web:example.com%3A0",
    "did:web:example.com%3A70000",
    "did:web:example.com%3Aabc",
    "did:web:exa%41mple.com",
    "did:web:-bad-.com",
    "did:web:example..com",
    "did:web:example.com:..",
    "did:web:example.com:%2E%2E",
    "did:key:z6Mk",
    "did:web",
    "not a did",
])
def test_malformed_did_webs_are_invalid(did):
    with pytest.raises(InvalidDid):
        did_web_target(did)


@pytest.mark.parametrize(("address", "private"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("::1", True), ("fe80::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", True), ("8.8.8.8", False), ("2001:4860:4860::8888", False),
    # special-purpose ranges Python 3.11's ipaddress counts as global
    ("192.0.0.9", True), ("192.0.0.200", True), ("192.88.99.1", True),
    ("2002:7f00:1::1", True),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", True), ("fec0::1", True), ("3fff::1", True), ("5f00::1", True),
    ("64:ff9b::7f00:1", True), ("64:ff9b:1::1", True), ("::7f00:1", True),
    ("2606:4700:4700::1111", False), ("1.1.1.1", False),
])
def test_private_addresses(address, private):
    assert address_is_private(address) is private


def test_a_name_with_any_private_address_is_refused():
    target = WebTarget("example.com", 443, "/.well-known/did.json")
    with pytest.raises(InternalError, match="could not be fetched"):
        checked_addresses(target, allow_private=False,
                          resolve=lambda host, port: ["93.184.215.14", "10.0.0.1"])
    assert checked_addresses(target, allow_private=True,
                             resolve=lambda host, port: ["10.0.0.1"]) == ["10.0.0.1"]

    def no_name(host, port):
        raise OSError("no such name")

    with pytest.raises(InternalError, match="could not be fetched"):
        checked_addresses(target, allow_private=False, resolve=no_name)


def _doc(did: str) -> dict:
    return {"@context": ["https://www.w3.org/ns/did/v1"], "id": did,
            "verificationMethod": [{"id": f"{did}#k", "type": "Multikey", "controller": did,
                                    "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2Qt"
                                                          "KLGpbnnEGta2doK"}],
            "service": [{"id": "#home", "type": "LinkedDomains",
                         "serviceEndpoint": "https://example.org/"}]}


def _json(body: object, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/did+json"}, json.dumps(body).encode()


@pytest.fixture
def web():
    with https_server() as server:
        yield server


def test_resolves_from_a_local_https_server(web):
    root, user = web.did(), web.did("user", "alice")
    web.routes["/.well-known/did.json"] = _json(_doc(root))
    web.routes["/user/alice/did.json"] = _json(_doc(user))
    ctx = web.client_context()
    assert resolve_did_web(root, allow_private=True, ssl_context=ctx) == _doc(root)
    assert resolve_did_web(user, allow_private=True, ssl_context=ctx)["id"] == user
    assert web.requests == ["/.well-known/did.json", "/user/alice/did.json"]


def test_loopback_is_refused_unless_allowed(web):
    web.routes["/.well-known/did.json"] = _json(_doc(web.did()))
    with pytest.raises(InternalError, match="could not be fetched"):
        resolve_did_web(web.did(), ssl_context=web.client_context())
    assert web.requests == []  # refused before any connection


def test_an_untrusted_certificate_is_refused(web):
    web.routes["/.well-known/did.json"] = _json(_doc(web.did()))
    with pytest.raises(InternalError, match="could not be fetched"):
        resolve_did_web(web.did(), allow_private=True,
                        ssl_context=ssl.create_default_context())


@pytest.mark.parametrize("status", [404, 410])
def test_not_found(web, status):
    web.routes["/.well-known/did.json"] = (status, {}, b"gone")
    with pytest.raises(NotFound, match=str(status)):
        resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context())


@pytest.mark.parametrize(("route", "match"), [
    ((302, {"Location": "https://127.0.0.1/x"}, b""), "redirect"),
    ((500, {}, b"oops"), "HTTP 500"),
    ((200, {}, b"not json"), "not JSON"),
    ((200, {}, b"[1, 2]"), "JSON object"),
    ((200, {}, json.dumps({"id": "did:web:elsewhere.example"}).encode()), "not of"),
])
def test_bad_answers_are_internal_errors(web, route, match):
    web.routes["/.well-known/did.json"] = route
    with pytest.raises(InternalError, match=match):
        resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context())
    assert web.requests == ["/.well-known/did.json"]  # one request: no redirect followed


def test_the_body_cap(web):
    doc = _doc(web.did())
    doc["padding"] = "x" * 5000
    web.routes["/.well-known/did.json"] = _json(doc)
    with pytest.raises(InternalError, match="larger"):
        resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context(),
                        max_bytes=4096)
    assert resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context(),
                           max_bytes=8192)["padding"] == "x" * 5000


def test_a_dripping_server_is_cut_at_the_deadline(web):
    stop = time.monotonic() + 10

    def drip(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while time.monotonic() < stop:
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)

    web.routes["/.well-known/did.json"] = drip
    started = time.monotonic()
    with pytest.raises(InternalError, match="in time"):
        resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context(),
                        timeout=0.5)
    # Far less than the ten seconds the server would go on: the deadline held.
    assert time.monotonic() - started < 5


def test_unreachable():
    with pytest.raises(InternalError, match="could not be fetched"):
        resolve_did_web("did:web:localhost%3A9", allow_private=True,
                        resolve=lambda host, port: ["127.0.0.1"])


def test_failures_below_http_share_one_message(web):
    """Refused, unresolvable, private and bad-certificate targets read the same: a public
    resolver must not tell "connection refused" from "no route" or "bad certificate"."""
    messages = set()

    def no_name(host, port):
        raise OSError("Name or service not known")

    attempts = [
        lambda: resolve_did_web("did:web:localhost%3A9", allow_private=True,
                                resolve=lambda host, port: ["127.0.0.1"]),
        lambda: resolve_did_web("did:web:nowhere.example", resolve=no_name),
        lambda: resolve_did_web("did:web:inside.example",
                                resolve=lambda host, port: ["10.0.0.1"]),
        lambda: resolve_did_web(web.did(), allow_private=True,
                                ssl_context=ssl.create_default_context()),
    ]
    for attempt in attempts:
        with pytest.raises(InternalError) as caught:
            attempt()
        messages.add(caught.value.message.split(" ", 1)[1])  # without the URL
    assert messages == {"could not be fetched (the name does not resolve to an allowed "
                        "address, or the connection or TLS failed)"}


def test_the_name_look_up_is_inside_the_deadline():
    """getaddrinfo has no timeout of its own: a slow name server must not hold a worker
    past the deadline."""
    release = threading.Event()

    def slow(host, port):
        release.wait(10)
        return ["93.184.215.14"]

    started = time.monotonic()
    try:
        with pytest.raises(InternalError, match="in time"):
            resolve_did_web("did:web:slow.example", timeout=0.3, resolve=slow)
        assert time.monotonic() - started < 2
    finally:
        release.set()


def test_a_huge_content_length_is_an_internal_error(web):
    def route(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000
                            + b"\r\n\r\n{}")
        handler.wfile.flush()

    web.routes["/.well-known/did.json"] = route
    with pytest.raises(InternalError, match="Content-Length"):
        resolve_did_web(web.did(), allow_private=True, ssl_context=web.client_context())


@pytest.mark.parametrize("body", [b'{"id": "%s", "x": NaN}', b'{"id": "%s", "x": -Infinity}',
                                  b'{"id": "%s", "x": 1e400}'])
def test_nan_and_infinity_are_not_json(web, body):
    did = web.did()
    web.routes["/.well-known/did.json"] = (200, {}, body.replace(b"%s", did.encode()))
    with pytest.raises(InternalError, match="not JSON"):
        resolve_did_web(did, allow_private=True, ssl_context=web.client_context())


class _ByteAtATime:
    """A socket whose answer arrives one byte per recv (what a dripping server sends)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def settimeout(self, seconds: float) -> None:
        pass

    def recv(self, size: int) -> bytes:
        chunk = self.data[self.at:self.at + 1]
        self.at += 1
        return chunk


@pytest.mark.parametrize("length", [True, False])
def test_reading_is_linear_in_the_answer(length):
    """256 KiB a byte at a time: joining all chunks after every recv copied ~34 GB."""
    from identity.did.did_web import _Deadline, _read

    body = b"x" * (256 * 1024)
    head = b"HTTP/1.1 200 OK\r\n" + (b"Content-Length: %d\r\n" % len(body) if length
                                      else b"") + b"\r\n"
    started = time.monotonic()
    data = _read(_ByteAtATime(head + body + b"trailing junk"), _Deadline(60, "u"),
                 len(head) + len(body) + 64, "u")
    assert time.monotonic() - started < 10
    assert data.startswith(head) and data[len(head):].startswith(body)
    if length:  # all of a Content-Length answer: the read stops there
        assert data == head + body


def test_through_the_resolver(web):
    did = web.did()
    web.routes["/.well-known/did.json"] = _json(_doc(did))
    resolver = Resolver().with_methods(web=WebMethod(allow_private=True,
                                                     ssl_context=web.client_context()))
    result = resolver.resolve(did)
    assert result.error is None and result.did_document == _doc(did)
    assert resolver.resolve(did + "#k").content_stream["id"] == f"{did}#k"
    assert resolver.resolve(did + "#home").content_stream["type"] == "LinkedDomains"
    assert resolver.resolve(did + "#nope").error == "notFound"
    assert resolver.resolve(did + "?versionId=1").error == "notFound"
    assert resolver.resolve("did:web:127.0.0.1").error == "invalidDid"
    web.routes.clear()
    assert resolver.resolve(did).error == "notFound"
    # Without the method: not supported; the default resolver stays pure.
    assert Resolver().resolve(did).error == "methodNotSupported"
