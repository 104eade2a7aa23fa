"""One webhook request: POST a signed body to a URL, and to no address we refuse.

The address checks are deploy's (``deploy.drivers.kubeconfig``: what counts as private,
which host names resolve). Here the name is resolved once, every address it resolves to is
checked (unless ``BAAS_WEBHOOK_ALLOW_PRIVATE``), and the connection goes to the first of
them: the address checked is the address connected to, so a name that resolves to a public
address for the check and a private one a moment later (DNS rebinding) gains nothing. The
``Host`` header, TLS SNI and certificate verification still use the host name.

No redirect is followed (``http.client`` never does; a 3xx is a failed attempt), every
socket wait is bounded by the time left before one wall-clock deadline for the whole exchange
(connect, TLS handshake, status line and headers, body), and a watchdog shuts the socket down
at that deadline, so a receiver trickling bytes cannot hold a worker longer; at most
``MAX_RESPONSE_BYTES`` of the answer are read. Nothing here imports Django: the caller
passes the settings in.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from deploy.drivers.kubeconfig import (
    _address_is_private,
    _is_ip,
    _valid_host,
    resolve_host,
)

MAX_RESPONSE_BYTES = 64 * 1024
# Letters (any script: IDNA encodes them), digits, hyphens and underscores between dots;
# the resolver takes spaces and other punctuation that no real host name has.
_LABELS = re.compile(r"^[\w-]+(\.[\w-]+)*\.?$")
# Spaces and control characters (``urlsplit`` drops tabs and newlines without a word, and
# ``http.client`` refuses the rest only at send time): a URL carries them percent-encoded.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f]")
EXCERPT_CHARS = 1000
USER_AGENT = "baas-webhooks/1"


class UrlRefused(Exception):
    """A URL we do not send to: ``code`` is stable (``webhook_url_*``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass
class Result:
    status_code: int | None = None
    duration_ms: int = 0
    error: str = ""  # "" on a 2xx answer
    error_message: str = ""
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


# PostgreSQL ``text`` takes no NUL character, and no lone surrogate can be encoded in UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without the characters a PostgreSQL ``text`` column refuses (NUL, lone
    surrogates): what a receiver answers is stored, whatever it answers."""
    return _UNSTORABLE.sub("\ufffd", text)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Baas-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def check_url(url: str, *, allow_private: bool,
              resolve: Callable[[str], Iterable[str]] = resolve_host) -> tuple[str, list[str]]:
    """``(host, addresses)`` for ``url``, or ``UrlRefused``: http(s) only, no user info,
    a host that resolves, and (unless ``allow_private``) only public addresses."""
    if _UNSAFE_IN_URL.search(url):
        raise UrlRefused("webhook_url_invalid",
                         "The URL contains spaces or control characters; percent-encode them.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        raise UrlRefused("webhook_url_invalid", "The URL cannot be parsed.") from None
    if port == 0:
        raise UrlRefused("webhook_url_invalid", "The URL's port must be 1 to 65535.")
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("webhook_url_scheme", "Only http:// and https:// URLs are accepted.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("webhook_url_invalid",
                         "The URL must not carry a user name or password; the signature "
                         "authenticates the sender.")
    if not host or not _valid_host(host) or (not _is_ip(host) and not _LABELS.match(host)):
        raise UrlRefused("webhook_url_invalid", "The URL has no valid host name.")
    if _is_ip(host):
        addresses = [host.split("%", 1)[0]]
        if not allow_private and _address_is_private(addresses[0]):
            raise UrlRefused("webhook_url_private",
                             "The URL points at a loopback, private, link-local or multicast "
                             "address; webhooks go to public addresses only.")
        return host, addresses
    try:
        addresses = list(resolve(host))
    except (OSError, UnicodeError):
        addresses = []
    # A name that does not resolve and one that resolves to an address we refuse get the
    # same answer: different answers would tell a tenant which internal names exist (the
    # control plane's resolver may see a private zone). An address typed as such is the
    # caller's own knowledge: it gets ``webhook_url_private``.
    if not addresses or (not allow_private and any(_address_is_private(a) for a in addresses)):
        raise UrlRefused("webhook_url_unresolvable",
                         f"The host name {host} does not resolve to a public address.")
    return host, addresses


class _Connection:
    """A connection to ``url``'s host that opens its socket to ``address`` and nowhere
    else (``_create_connection`` is the one hook ``http.client`` connects through), and a
    watchdog that shuts that socket down at ``deadline`` whatever step is blocked on it
    (connect, TLS handshake, the status line and headers, the body)."""

    def __init__(self, url: str, address: str, deadline: float) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        self.deadline = deadline
        self.expired = False
        self._raw: socket.socket | None = None  # a dup of the socket, for the watchdog
        self._lock = threading.Lock()
        timeout = self.remaining()
        self.conn: http.client.HTTPConnection
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            self.conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
        port = self.conn.port

        def pinned(_address: object, timeout: float | None = None,
                   source_address: object = None) -> socket.socket:
            sock = socket.create_connection((address, port), timeout=self.remaining())
            with self._lock:
                self._raw = sock.dup()  # stays valid when TLS wraps (detaches) ``sock``
                if self.expired:
                    self._shutdown()
            return sock

        self.conn._create_connection = pinned  # type: ignore[attr-defined]
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline")
        return left

    def step(self) -> None:
        """Before each blocking step: no socket wait longer than the time left."""
        left = self.remaining()
        if self.conn.sock is not None:
            self.conn.sock.settimeout(left)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._raw is not None:
            try:
                self._raw.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv/send/handshake
            except OSError:
                pass

    def close(self) -> None:
        self._timer.cancel()
        self.conn.close()
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         allow_private: bool,
         resolve: Callable[[str], Iterable[str]] = resolve_host) -> Result:
    """Send once. Never raises for what the receiver (or the network) does: the outcome,
    good or bad, is in the ``Result``."""
    started = time.monotonic()
    deadline = started + timeout
    result = Result()
    try:
        _host, addresses = check_url(url, allow_private=allow_private, resolve=resolve)
    except UrlRefused as exc:
        result.error, result.error_message = exc.code, exc.message
        return result
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    exchange: _Connection | None = None
    try:
        exchange = _Connection(url, addresses[0], deadline)
        conn = exchange.conn
        conn.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        exchange.step()
        response = conn.getresponse()
        result.status_code = response.status
        chunks: list[bytes] = []
        size = 0
        while size < MAX_RESPONSE_BYTES:
            exchange.step()
            chunk = response.read1(min(65536, MAX_RESPONSE_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if exchange.expired:
            raise TimeoutError("deadline")  # the watchdog cut the answer short
        result.excerpt = clean_text(b"".join(chunks).decode("utf-8", "replace"))[:EXCERPT_CHARS]
        if not 200 <= response.status < 300:
            result.error = "http_status"
            result.error_message = f"The receiver answered HTTP {response.status}."
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError) or (exchange is not None and exchange.expired):
            result.status_code = None
            result.excerpt = ""
            result.error, result.error_message = "timeout", \
                f"No complete answer within {timeout:g} s."
        elif isinstance(exc, ssl.SSLError):
            result.error, result.error_message = "tls_failed", \
                f"TLS failed ({type(exc).__name__})."
        elif isinstance(exc, ConnectionRefusedError):
            result.error, result.error_message = "connection_refused", \
                "The connection was refused."
        else:
            result.error, result.error_message = "connection_failed", \
                f"The connection failed ({type(exc).__name__})."
    finally:
        if exchange is not None:
            exchange.close()
        result.duration_ms = int((time.monotonic() - started) * 1000)
    return result
