"""Minimal CometBFT RPC reads the control plane needs for health (always with a timeout).

The gateway uses ``ledger.client`` for the full client; health checks only need ``/status``
and must stay cheap, so they use the standard library directly. A ``unix:///…/x.sock`` URL
(the local driver's nodes, see docs/security.md) is spoken to over that Unix socket.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ledger.client import unix_socket_of


@dataclass(frozen=True)
class NodeStatusInfo:
    height: int
    catching_up: bool
    node_id: str


class RpcError(Exception):
    pass


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("node", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _read(url: str, timeout: float) -> bytes:
    target = unix_socket_of(url)
    if target is None:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (our nodes)
            return resp.read()
    conn = _UnixHTTPConnection(target[0], timeout)
    try:
        conn.request("GET", target[1])
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 400 and not data:
            raise OSError(f"HTTP {resp.status}")
        return data
    finally:
        conn.close()


class ResponseTooLarge(RpcError):
    pass


class _Watchdog:
    """Shuts the exchange's socket down when the deadline passes, whatever read or write is
    waiting on it: a per-operation socket timeout restarts with every byte a listener
    drips, so only this bounds the status line, the headers and chunk-size lines."""

    def __init__(self, timeout: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket to shut down (``None`` before closing one that failed to connect:
        the timer never touches a closed socket, whose number may already be reused)."""
        with self._lock:
            self._sock = sock
            if self.expired and sock is not None:  # fired before there was a socket
                self._shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._sock is not None:
                self._shutdown(self._sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected yet (its connect has its own timeout) or already closed

    def stop(self) -> None:
        """Called before the socket is closed: the timer never touches it afterwards (nor
        a descriptor number the system has handed to someone else)."""
        self._timer.cancel()
        with self._lock:
            self._done = True


class _DeadlineConnection(http.client.HTTPConnection):
    """``HTTPConnection`` whose sockets are handed to the watchdog as they are made, each
    connect attempt bounded by what is left of the deadline (not a full timeout per
    address)."""

    def __init__(self, host: str, port: int, *, watchdog: _Watchdog,
                 left: Callable[[], float]) -> None:
        super().__init__(host, port, timeout=left())
        self._watchdog = watchdog
        self._left = left

    def connect(self) -> None:
        error: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(
                self.host, self.port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            self._watchdog.watch(sock)
            try:
                sock.settimeout(self._left())
                sock.connect(address)
            except OSError as exc:
                self._watchdog.watch(None)
                sock.close()
                error = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            return
        raise error or OSError(f"{self.host}: no address")


def get_capped(url: str, *, timeout: float, limit: int) -> bytes:
    """The body of a plain HTTP GET (loopback or in-cluster, never a Unix socket), at most
    ``limit`` bytes: a longer answer raises ``ResponseTooLarge`` instead of filling memory.
    Every other failure (refused, timed out, an HTTP error status) is ``RpcError``.

    Spoken with ``http.client`` directly, not ``urllib``: the listener may be on a cluster a
    tenant registered, so a redirect is never followed (a 3xx is an ``RpcError``: the
    control plane must not fetch, and relay, whatever address a node names), no
    ``*_proxy`` variable is honoured, and ``timeout`` bounds the whole exchange (connect,
    status line, headers and body together), not each read: a watchdog shuts the socket
    down when it passes. (Name resolution is the one step it cannot cut short; the URLs
    read here name an IP address or a cluster-local name.)"""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise RpcError(f"{url}: only http:// URLs are read here")
    deadline = time.monotonic() + timeout
    watchdog = _Watchdog(timeout)

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or watchdog.expired:
            raise TimeoutError("deadline exceeded")
        return remaining

    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = None
    watchdog.start()
    try:
        # ``parts.port`` raises ValueError for a port that is not a number.
        conn = _DeadlineConnection(parts.hostname, parts.port or 80, watchdog=watchdog,
                                   left=left)
        conn.request("GET", path, headers={"Accept": "text/plain"})
        if conn.sock is not None:
            conn.sock.settimeout(left())
        resp = conn.getresponse()
        left()
        if 300 <= resp.status < 400:
            raise RpcError(f"{url}: HTTP {resp.status} (redirects are not followed)")
        if resp.status >= 400:
            raise RpcError(f"{url}: HTTP {resp.status}")
        body = bytearray()
        while len(body) <= limit:
            if conn.sock is not None:
                conn.sock.settimeout(left())
            # read1: what has arrived (one recv at most), so the deadline is checked
            # between reads; read(n) would wait for n bytes, one timeout per recv.
            chunk = resp.read1(min(65536, limit + 1 - len(body)))
            if not chunk:
                break
            body += chunk
            left()
        # A socket the watchdog shut down reads as the end of the body: a short one.
        left()
    except RpcError:
        raise
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if watchdog.expired or isinstance(exc, TimeoutError):
            raise RpcError(f"{url}: timed out (no whole answer within {timeout:g} s)") \
                from exc
        raise RpcError(f"{url}: {exc}") from exc
    finally:
        watchdog.stop()
        if conn is not None:
            conn.close()
    if len(body) > limit:
        raise ResponseTooLarge(f"{url}: more than {limit} bytes")
    return bytes(body)


def get_json(url: str, *, timeout: float = 2.0) -> dict:
    try:
        body = json.loads(_read(url, timeout))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise RpcError(f"{url}: {exc}") from exc
    if isinstance(body, dict) and body.get("error"):
        raise RpcError(f"{url}: {body['error']}")
    return body.get("result", body) if isinstance(body, dict) else {}


def status(rpc_url: str, *, timeout: float = 2.0) -> NodeStatusInfo:
    result = get_json(rpc_url.rstrip("/") + "/status", timeout=timeout)
    try:
        sync = result["sync_info"]
        return NodeStatusInfo(
            height=int(sync["latest_block_height"]),
            catching_up=bool(sync.get("catching_up", False)),
            node_id=str(result.get("node_info", {}).get("id", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RpcError(f"{rpc_url}: unexpected /status answer") from exc


def voting_power(rpc_url: str, *, timeout: float = 2.0) -> tuple[int, bool]:
    """(this node's voting power, whether it is still catching up)."""
    result = get_json(rpc_url.rstrip("/") + "/status", timeout=timeout)
    try:
        return (int(result["validator_info"]["voting_power"]),
                bool(result["sync_info"]["catching_up"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RpcError(f"{rpc_url}: unexpected /status answer") from exc


def validator_keys(rpc_url: str, *, timeout: float = 2.0) -> set[str]:
    """Base64 ed25519 public keys of the current validator set, as one node sees it (the
    format of ``priv_validator_key.json``'s ``pub_key.value``). Our networks stay far below
    CometBFT's 100-per-page limit."""
    result = get_json(rpc_url.rstrip("/") + "/validators?per_page=100", timeout=timeout)
    try:
        return {str(v["pub_key"]["value"]) for v in result["validators"]}
    except (KeyError, TypeError) as exc:
        raise RpcError(f"{rpc_url}: unexpected /validators answer") from exc


def app_hash(rpc_url: str, height: int, *, timeout: float = 2.0) -> str:
    """The app hash in the header of block ``height`` as this node's own store has it (the
    state after block ``height - 1``), upper-case hex."""
    result = get_json(rpc_url.rstrip("/") + f"/block?height={int(height)}", timeout=timeout)
    try:
        return str(result["block"]["header"]["app_hash"]).upper()
    except (KeyError, TypeError) as exc:
        raise RpcError(f"{rpc_url}: unexpected /block answer") from exc

