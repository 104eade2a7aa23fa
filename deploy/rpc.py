"""Minimal CometBFT RPC reads the control plane needs for health (always with a timeout).

The gateway uses ``ledger.client`` for the full client; health checks only need ``/status``
and must stay cheap, so they use the standard library directly. A ``unix:///…/x.sock`` URL
(the local driver's nodes, see docs/security.md) is spoken to over that Unix socket.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

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


def get_capped(url: str, *, timeout: float, limit: int) -> bytes:
    """The body of a plain HTTP GET (loopback or in-cluster, never a Unix socket), at most
    ``limit`` bytes: a longer answer raises ``ResponseTooLarge`` instead of filling memory.
    Every other failure (refused, timed out, an HTTP error status) is ``RpcError``."""
    if not url.startswith("http://"):
        raise RpcError(f"{url}: only http:// URLs are read here")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (our nodes)
            body = resp.read(limit + 1)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise RpcError(f"{url}: {exc}") from exc
    if len(body) > limit:
        raise ResponseTooLarge(f"{url}: more than {limit} bytes")
    return body


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

