"""One webhook request: POST a signed body to a URL, and to no address we refuse.

The address checks are deploy's (``deploy.drivers.kubeconfig``: what counts as private,
which host names resolve). Here the name is resolved once, every address it resolves to is
checked (unless ``BAAS_WEBHOOK_ALLOW_PRIVATE``), and the connection goes to the first of
them: the address checked is the address connected to, so a name that resolves to a public
address for the check and a private one a moment later (DNS rebinding) gains nothing. The
``Host`` header, TLS SNI and certificate verification still use the host name.

No redirect is followed (``http.client`` never does; a 3xx is a failed attempt), every
socket operation has the timeout and the whole request a deadline, and at most
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


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Baas-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def check_url(url: str, *, allow_private: bool,
              resolve: Callable[[str], Iterable[str]] = resolve_host) -> tuple[str, list[str]]:
    """``(host, addresses)`` for ``url``, or ``UrlRefused``: http(s) only, no user info,
    a host that resolves, and (unless ``allow_private``) only public addresses."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise UrlRefused("webhook_url_invalid", "The URL cannot be parsed.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("webhook_url_scheme", "Only http:// and https:// URLs are accepted.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("webhook_url_invalid",
                         "The URL must not carry a user name or password; the signature "
                         "authenticates the sender.")
    if not host or not _valid_host(host) or (not _is_ip(host) and not _LABELS.match(host)):
        raise UrlRefused("webhook_url_invalid", "The URL has no valid host name.")
    try:
        addresses = [host.split("%", 1)[0]] if _is_ip(host) else list(resolve(host))
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise UrlRefused("webhook_url_unresolvable", f"The host name {host} does not resolve.")
    if not allow_private and any(_address_is_private(a) for a in addresses):
        raise UrlRefused("webhook_url_private",
                         "The URL points at a loopback, private, link-local or multicast "
                         "address; webhooks go to public addresses only.")
    return host, addresses


def _connection(url: str, address: str, timeout: float) -> http.client.HTTPConnection:
    """A connection to ``url``'s host that opens its socket to ``address`` and nowhere
    else (``_create_connection`` is the one hook ``http.client`` connects through)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    port = conn.port

    def pinned(_address: object, timeout: float | None = None,
               source_address: object = None) -> socket.socket:
        return socket.create_connection((address, port), timeout=timeout)

    conn._create_connection = pinned  # type: ignore[attr-defined]
    return conn


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
    conn = _connection(url, addresses[0], timeout)
    try:
        conn.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = conn.getresponse()
        result.status_code = response.status
        chunks: list[bytes] = []
        size = 0
        while size < MAX_RESPONSE_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError("deadline")
            chunk = response.read1(min(65536, MAX_RESPONSE_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        result.excerpt = b"".join(chunks).decode("utf-8", "replace")[:EXCERPT_CHARS]
        if not 200 <= response.status < 300:
            result.error = "http_status"
            result.error_message = f"The receiver answered HTTP {response.status}."
    except TimeoutError:
        result.error, result.error_message = "timeout", \
            f"No complete answer within {timeout:g} s."
    except ssl.SSLError as exc:
        result.error, result.error_message = "tls_failed", \
            f"TLS failed ({type(exc).__name__})."
    except ConnectionRefusedError:
        result.error, result.error_message = "connection_refused", "The connection was refused."
    except (OSError, http.client.HTTPException) as exc:
        result.error, result.error_message = "connection_failed", \
            f"The connection failed ({type(exc).__name__})."
    finally:
        conn.close()
        result.duration_ms = int((time.monotonic() - started) * 1000)
    return result
