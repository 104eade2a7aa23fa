"""did:web (W3C CCG did:web method): a DID document served over HTTPS at a domain.

    did:web:example.com                  -> https://example.com/.well-known/did.json
    did:web:example.com%3A8443           -> https://example.com:8443/.well-known/did.json
    did:web:example.com:user:alice       -> https://example.com/user/alice/did.json

Resolving one makes this process open a connection to an address somebody else chose, so
the fetch is fenced like the cluster check (``deploy.drivers.kubeconfig``):

- HTTPS only, the certificate verified (``ssl_context``: the system's trust store unless a
  test passes its own), the host name sent as SNI and ``Host``;
- the name is resolved once, every address is checked (no loopback, private, link-local,
  shared, reserved or other special-purpose address unless ``allow_private``) and the
  connection goes to the address checked, so a name cannot resolve to a public address for
  the check and to an internal one for the connection (DNS rebinding);
- one request, no redirect followed, no retry, one total deadline (``timeout``, 5 s by
  default) over the name look-up, connecting, TLS, sending and reading (a watchdog closes
  the socket when it passes, so a server that drips its answer cannot hold a worker), and
  a body cap (``max_bytes``, 256 KiB);
- the document must be a JSON object (strict JSON: no ``NaN`` or ``Infinity``) whose
  ``id`` is the DID.

Errors: ``invalidDid`` (not a did:web, an IP address or a bad host or port), ``notFound``
(the server answered 404 or 410), ``internalError`` (everything else: unreachable, TLS,
timeout, another status, too large, not JSON, the wrong ``id``, an address refused).
Failures below HTTP (the name does not resolve, resolves to a refused address, the
connection or TLS fails) share one message: the resolver is public, and distinct texts
(``Connection refused`` against ``No route to host``) would make it a scanner of whatever
it can reach.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from identity.did.errors import InternalError, InvalidDid, NotFound
from identity.did.syntax import DidUrl, parse_did

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_BYTES = 256 * 1024
MAX_HEAD_BYTES = 16 * 1024
LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
SEGMENT_RE = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")
ACCEPT = "application/did+json, application/did+ld+json;q=0.9, application/json;q=0.8"
# A Content-Length of more digits cannot be honest under any body cap here, and int() of
# more than 4,300 digits raises (CPython's limit on str -> int conversion).
CONTENT_LENGTH_RE = re.compile(r"[0-9]{1,12}")
# Special-purpose ranges (IANA IPv4/IPv6 Special-Purpose Address Registries) that
# Python 3.11's ``ipaddress`` counts as global: a did:web must not reach them either.
SPECIAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24",     # IETF protocol assignments (3.11 knows only parts of it)
    "192.88.99.0/24",   # 6to4 relay anycast (deprecated): forwards into 6to4
    "2002::/16",        # 6to4: embeds any IPv4 address, private ones included
    "64:ff9b::/96",     # NAT64 well-known prefix: embeds an IPv4 address
    "64:ff9b:1::/48",   # local-use NAT64
    "fec0::/10",        # site-local (deprecated, still routed inside some sites)
    "3fff::/20",        # documentation (2024)
    "5f00::/16",        # SRv6 SIDs
))


@dataclass(frozen=True)
class WebTarget:
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        port = "" if self.port == 443 else f":{self.port}"
        return f"https://{self.host}{port}{self.path}"


def did_web_target(did: str) -> WebTarget:
    """Where the document of ``did`` is (``InvalidDid`` when it is not a did:web)."""
    parsed = parse_did(did)
    if parsed.method != "web":
        raise InvalidDid(f"not a did:web: method {parsed.method!r}")
    domain, *segments = parsed.method_specific_id.split(":")
    host, port = domain, 443
    lowered = domain.lower()
    if "%3a" in lowered:
        at = lowered.index("%3a")
        host, port_text = domain[:at], domain[at + 3:]
        if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
            raise InvalidDid(f"did:web port {port_text[:8]!r} is not a port number")
        port = int(port_text)
    if "%" in host:
        raise InvalidDid("a did:web domain has no percent-encoding but the port's %3A")
    if _is_ip(host):
        raise InvalidDid("a did:web names a domain, not an IP address")
    labels = host.rstrip(".").split(".") if host else []
    if not labels or len(host) > 253 or not all(LABEL_RE.fullmatch(lb) for lb in labels):
        raise InvalidDid(f"{host[:80]!r} is not a domain name")
    for segment in segments:
        if not SEGMENT_RE.fullmatch(segment) or unquote(segment) in (".", ".."):
            raise InvalidDid(f"did:web path segment {segment[:40]!r} is not allowed")
    path = "/" + "/".join(segments) + "/did.json" if segments else "/.well-known/did.json"
    return WebTarget(host=host.lower(), port=port, path=path)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def address_is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip.is_multicast or ip.is_unspecified):
        return True
    return any(ip in network for network in SPECIAL_NETWORKS if network.version == ip.version)


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order of preference, each once."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def unreachable(url: str) -> InternalError:
    """The one message of every failure below HTTP (see the module's docstring)."""
    return InternalError(f"{url} could not be fetched (the name does not resolve to an "
                         "allowed address, or the connection or TLS failed)")


MAX_LOOKUPS = 32
_LOOKUPS = threading.BoundedSemaphore(MAX_LOOKUPS)


def _resolve_within(resolve: Callable[[str, int], Iterable[str]], target: WebTarget,
                    seconds: float) -> list[str]:
    """``resolve`` bounded by ``seconds``: ``getaddrinfo`` takes no timeout and a slow
    name server would otherwise hold the worker past the deadline. The look-up runs in a
    daemon thread that is abandoned (it ends with the system resolver's own timeout)."""
    outcome: list[Any] = []
    # Abandoned look-ups still hold a thread: past this many at once, refuse rather than
    # let a flood of slow names pile threads up.
    if not _LOOKUPS.acquire(blocking=False):
        raise InternalError(f"{target.url}: too many did:web look-ups at once; try again")

    def run() -> None:
        try:
            outcome.append(list(resolve(target.host, target.port)))
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)
        finally:
            _LOOKUPS.release()

    thread = threading.Thread(target=run, name="did-web-resolve", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if not outcome:
        raise InternalError(f"{target.url} did not answer in time")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def checked_addresses(target: WebTarget, *, allow_private: bool,
                      resolve: Callable[[str, int], Iterable[str]] = resolve_host,
                      timeout: float | None = None) -> list[str]:
    """The addresses of ``target``, all of them allowed; within ``timeout`` if given."""
    try:
        if timeout is None:
            addresses = list(resolve(target.host, target.port))
        else:
            addresses = _resolve_within(resolve, target, timeout)
    except (OSError, UnicodeError):
        raise unreachable(target.url) from None
    if not addresses:
        raise unreachable(target.url)
    if not allow_private and any(address_is_private(a) for a in addresses):
        raise unreachable(target.url)
    return addresses


class _Deadline:
    def __init__(self, seconds: float, url: str) -> None:
        self.end = time.monotonic() + seconds
        self.url = url

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise InternalError(f"{self.url} did not answer in time")
        return left


def fetch(target: WebTarget, *, address: str, timeout: float = DEFAULT_TIMEOUT,
          max_bytes: int = DEFAULT_MAX_BYTES,
          ssl_context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTPS GET of ``target`` at ``address``: (status, headers, body)."""
    deadline = _Deadline(timeout, target.url)
    context = ssl_context or ssl.create_default_context()
    raw = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                        socket.SOCK_STREAM)
    expired = threading.Event()
    current: list[socket.socket] = [raw]  # wrap_socket detaches raw: shut what is live

    def watchdog() -> None:  # the deadline holds whatever the server drips
        expired.set()
        try:
            current[0].shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    try:
        raw.settimeout(deadline.remaining())
        raw.connect((address, target.port))
        with context.wrap_socket(raw, server_hostname=target.host) as tls:
            current[0] = tls
            host = target.host if target.port == 443 else f"{target.host}:{target.port}"
            request = (f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\nAccept: {ACCEPT}\r\n"
                       "Accept-Encoding: identity\r\nConnection: close\r\n"
                       "User-Agent: baas-did-resolver\r\n\r\n")
            tls.settimeout(deadline.remaining())
            tls.sendall(request.encode("ascii"))
            data = _read(tls, deadline, max_bytes + MAX_HEAD_BYTES, target.url)
        if expired.is_set():  # the watchdog's shutdown reads as an end of the answer
            raise InternalError(f"{target.url} did not answer in time")
    except (OSError, ssl.SSLError):  # SSLCertVerificationError included
        if expired.is_set():
            raise InternalError(f"{target.url} did not answer in time") from None
        raise unreachable(target.url) from None
    finally:
        timer.cancel()
        raw.close()
    return _parse(data, max_bytes, target.url)


def _read(sock: Any, deadline: _Deadline, cap: int, url: str) -> bytes:
    # Linear in the answer whatever its chunking: the buffer grows in place, the end of the
    # head is looked for only in what arrived since the last look, and Content-Length is
    # read once. (Joining every chunk again after each recv was quadratic: a server sending
    # 256 KiB a byte at a time made the worker copy gigabytes.)
    data = bytearray()
    body_at: int | None = None  # where the body starts, once the head is complete
    length: int | None = None  # the Content-Length, if the head has a usable one
    while True:
        sock.settimeout(deadline.remaining())
        try:
            chunk = sock.recv(65536)
        except ssl.SSLZeroReturnError:
            break
        except TimeoutError:
            raise InternalError(f"{url} did not answer in time") from None
        if not chunk:
            break
        if len(data) + len(chunk) > cap:
            raise InternalError(f"{url}: the answer is larger than allowed")
        searched = max(len(data) - 3, 0)  # "\r\n\r\n" may straddle two chunks
        data += chunk
        if body_at is None:
            end = data.find(b"\r\n\r\n", searched)
            if end < 0:
                continue
            body_at = end + 4
            length = _content_length(bytes(data[:end]))
        if length is not None and len(data) - body_at >= length:
            break  # all of a Content-Length answer: no need to wait for the close
    return bytes(data)


def _content_length(head: bytes) -> int | None:
    match = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)[ \t]*\r?$", head)
    if match is None or not CONTENT_LENGTH_RE.fullmatch(match.group(1).decode()):
        return None  # read to the close; _parse refuses a bad length
    return int(match.group(1))


def _parse(data: bytes, max_bytes: int, url: str) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or len(head) > MAX_HEAD_BYTES:
        raise InternalError(f"{url}: not an HTTP answer")
    lines = head.decode("iso-8859-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] ([0-9]{3})(?: .*)?", lines[0])
    if not match:
        raise InternalError(f"{url}: not an HTTP/1.1 answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body, url)
    elif "content-length" in headers:
        if not CONTENT_LENGTH_RE.fullmatch(headers["content-length"]):
            raise InternalError(f"{url}: bad Content-Length")
        length = int(headers["content-length"])
        if len(body) < length:
            raise InternalError(f"{url}: the answer ended early")
        body = body[:length]
    if len(body) > max_bytes:
        raise InternalError(f"{url}: the document is larger than {max_bytes} bytes")
    return int(match.group(1)), headers, body


def _dechunk(data: bytes, url: str) -> bytes:
    out = bytearray()
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            raise InternalError(f"{url}: broken chunked encoding")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise InternalError(f"{url}: broken chunked encoding") from None
        if size == 0:
            return bytes(out)
        if len(rest) < size + 2:
            raise InternalError(f"{url}: the answer ended early")
        out += rest[:size]
        data = rest[size + 2:]


def resolve_did_web(did: str, *, timeout: float = DEFAULT_TIMEOUT,
                    max_bytes: int = DEFAULT_MAX_BYTES, allow_private: bool = False,
                    ssl_context: ssl.SSLContext | None = None,
                    resolve: Callable[[str, int], Iterable[str]] = resolve_host
                    ) -> dict[str, Any]:
    """The DID document of ``did``, fetched and checked, all within ``timeout``."""
    target = did_web_target(did)
    deadline = _Deadline(timeout, target.url)
    address = checked_addresses(target, allow_private=allow_private, resolve=resolve,
                                timeout=deadline.remaining())[0]
    status, _headers, body = fetch(target, address=address, timeout=deadline.remaining(),
                                   max_bytes=max_bytes, ssl_context=ssl_context)
    if status in (404, 410):
        raise NotFound(f"{target.url} answered {status}: no DID document there")
    if 300 <= status < 400:
        raise InternalError(f"{target.url} answered a redirect ({status}); "
                            "did:web resolution follows none")
    if status != 200:
        raise InternalError(f"{target.url} answered HTTP {status}")
    try:
        # NaN and Infinity are not JSON (RFC 8259); Python reads them by default and would
        # relay them, unquoted, in a 200 answer no strict client can parse.
        # (1e400 too: it reads as inf.)
        document = json.loads(body.decode("utf-8"), parse_constant=_not_json,
                              parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InternalError(f"{target.url}: the answer is not JSON") from None
    if not isinstance(document, dict):
        raise InternalError(f"{target.url}: a DID document is a JSON object")
    if document.get("id") != did:
        shown = str(document.get("id"))[:120]
        raise InternalError(f"{target.url}: the document is of {shown!r}, not of {did}")
    return document


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


class WebMethod:
    """did:web for ``identity.did.resolver``; the fence's settings are fixed when made."""

    name = "web"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = DEFAULT_MAX_BYTES, allow_private: bool = False,
                 ssl_context: ssl.SSLContext | None = None,
                 resolve: Callable[[str, int], Iterable[str]] = resolve_host) -> None:
        self.timeout, self.max_bytes = timeout, max_bytes
        self.allow_private, self.ssl_context, self.resolve_host = (
            allow_private, ssl_context, resolve)

    def resolve(self, parsed: DidUrl, options: dict[str, Any]) -> dict[str, Any]:
        did_web_target(parsed.did)  # invalidDid before anything else
        if parsed.path or parsed.query_string is not None:
            raise NotFound("did:web has no versions, services or paths to select here")
        document = resolve_did_web(
            parsed.did, timeout=self.timeout, max_bytes=self.max_bytes,
            allow_private=self.allow_private, ssl_context=self.ssl_context,
            resolve=self.resolve_host)
        return {"document": document, "metadata": {}}
