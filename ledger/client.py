"""Python client for a ledger network over CometBFT's RPC (JSON-RPC over HTTP, websocket).

    client = LedgerClient("http://127.0.0.1:26657", signer=Signer.generate())
    client.submit("kv", "put", ["greeting", "hello"], wait="commit")
    client.call("kv", "get", ["greeting"])

Every call has a timeout. Failures raise ``LedgerClientError`` subclasses: ``ConnectionFailed``
(node unreachable), ``RpcError`` (CometBFT refused the request), ``TxRejected`` (CheckTx or
execution returned a non-zero code), ``QueryFailed``, ``ClientTimeout`` and ``CommitTimeout``
(the node took the tx but no block held it in time: it may still commit, so look it up by
hash with ``wait_for_tx`` rather than sending it again).
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ledger.tx import Signer, build_query, build_tx, tx_hash

DEFAULT_TIMEOUT = 10.0
# broadcast_tx_commit waits for the block inside CometBFT (timeout_broadcast_tx_commit = 10s).
COMMIT_TIMEOUT = 15.0


class LedgerClientError(Exception):
    pass


class ConnectionFailed(LedgerClientError):
    pass


class ClientTimeout(LedgerClientError):
    pass


class CommitTimeout(LedgerClientError):
    """``broadcast_tx_commit`` gave up waiting for the block; the tx passed CheckTx and sits
    in the mempool, so it may still commit. Not a connection fault: sending the same bytes to
    another node would only be refused as a duplicate."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"tx {tx_hash} was accepted but not committed in time; "
                         "it may still commit")
        self.tx_hash = tx_hash


# CometBFT's message when timeout_broadcast_tx_commit passes (rpc/core/mempool.go).
_COMMIT_TIMEOUT_TEXT = "timed out waiting for tx to be included in a block"


class BadAnswer(ConnectionFailed):
    """The node answered something CometBFT's RPC never answers (not a JSON object, a
    field missing or of another type): treated as a node that failed, so a caller trying
    nodes in turn (``deploy.gateway.with_failover``) asks the next one."""


class RpcError(LedgerClientError):
    def __init__(self, code: int, message: str, data: str = "") -> None:
        super().__init__(f"RPC error {code}: {message}{': ' + data if data else ''}")
        self.code, self.message, self.data = code, message, data


class TxRejected(LedgerClientError):
    def __init__(self, stage: str, tx_hash: str, code: int, log: str, codespace: str) -> None:
        super().__init__(f"tx {tx_hash} rejected in {stage}: code {code} ({codespace}): {log}")
        self.stage, self.tx_hash, self.code, self.log, self.codespace = (
            stage, tx_hash, code, log, codespace,
        )


class QueryFailed(LedgerClientError):
    def __init__(self, path: str, code: int, log: str) -> None:
        super().__init__(f"query {path} failed: code {code}: {log}")
        self.path, self.code, self.log = path, code, log


@dataclass(frozen=True)
class BroadcastResult:
    hash: str
    code: int = 0
    log: str = ""
    codespace: str = ""
    data: bytes = b""
    height: int = 0  # 0 until committed (wait="sync")
    events: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        """The tx's return value (JSON bytes on success), decoded."""
        return json.loads(self.data) if self.data else None


@dataclass(frozen=True)
class QueryResponse:
    code: int
    log: str
    key: bytes
    value: bytes
    height: int
    codespace: str = ""
    proof: bytes = b""


def _b64(data: str | None) -> bytes:
    return base64.b64decode(data) if data else b""


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's default trust: certifi) shared by every client: building
    one loads the CA bundle, tens of milliseconds, which a client per gateway call paid."""
    global _TLS
    if _TLS is None:
        import certifi

        _TLS = ssl.create_default_context(cafile=certifi.where())
    return _TLS


def unix_socket_of(url: str) -> tuple[str, str] | None:
    """``unix:///dir/node.sock/status`` -> ``("/dir/node.sock", "/status")``; None for other
    URLs. A node's RPC socket file name ends in ``.sock``; what follows is the HTTP path."""
    if not url.startswith("unix://"):
        return None
    rest = url[len("unix://"):]
    end = rest.find(".sock")
    if end < 0 or not rest.startswith("/"):
        raise ValueError(f"unix RPC URL must name an absolute path ending in .sock: {url!r}")
    return rest[: end + len(".sock")], rest[end + len(".sock"):] or "/"


class LedgerClient:
    def __init__(
        self, url: str = "http://127.0.0.1:26657", *, signer: Signer | None = None,
        chain_id: str | None = None, timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        socket = unix_socket_of(url)
        if socket is None and not url.startswith(("http://", "https://")):
            raise ValueError(
                f"node URL must start with http://, https:// or unix://, got {url!r}")
        self.url = url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self._chain_id = chain_id
        self._ids = itertools.count(1)
        # A node on a Unix socket (the local driver) is spoken to as http://node/ over it.
        self._socket = socket[0] if socket else None
        self._endpoint = "http://node/" if socket else self.url
        tls = _tls_context()
        self._http = httpx.Client(
            timeout=timeout, verify=tls,
            transport=httpx.HTTPTransport(uds=self._socket, verify=tls) if self._socket
            else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- JSON-RPC ------------------------------------------------------------------------
    def rpc(self, method: str, params: dict[str, Any] | None = None,
            *, timeout: float | None = None) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                "params": params or {}}
        try:
            resp = self._http.post(self._endpoint, json=body, timeout=timeout or self.timeout)
        except httpx.TimeoutException as exc:
            raise ClientTimeout(f"{method} on {self.url} timed out") from exc
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"cannot reach {self.url}: {exc}") from exc
        try:
            payload = resp.json()
        except ValueError:
            raise RpcError(resp.status_code, f"non-JSON answer to {method}") from None
        if not isinstance(payload, dict):
            raise BadAnswer(f"{self.url} answered {method} with JSON that is not an object")
        if payload.get("error"):
            err = payload["error"]
            if not isinstance(err, dict) or isinstance(err.get("code", 0), bool) \
                    or not isinstance(err.get("code", 0), int):
                raise BadAnswer(f"{self.url} answered {method} with a malformed error")
            raise RpcError(err.get("code", 0), str(err.get("message", "")),
                           str(err.get("data", "")))
        return payload.get("result")

    # --- chain info ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return self.rpc("status")

    def chain_id(self) -> str:
        if self._chain_id is None:
            try:
                self._chain_id = str(self.status()["node_info"]["network"])
            except (KeyError, TypeError):
                raise BadAnswer(f"{self.url}: /status has no chain id") from None
        return self._chain_id

    def height(self) -> int:
        try:
            return int(self.status()["sync_info"]["latest_block_height"])
        except (KeyError, TypeError, ValueError):
            raise BadAnswer(f"{self.url}: /status has no block height") from None

    def block(self, height: int | None = None) -> dict[str, Any]:
        return self.rpc("block", {"height": str(height)} if height else {})

    def block_results(self, height: int | None = None) -> dict[str, Any]:
        return self.rpc("block_results", {"height": str(height)} if height else {})

    def app_hash_at(self, height: int) -> str:
        """App hash after executing block ``height`` (stored in the header of height+1)."""
        return self.block(height + 1)["block"]["header"]["app_hash"]

    def tx(self, hash_hex: str) -> dict[str, Any]:
        return self.rpc("tx", {"hash": base64.b64encode(bytes.fromhex(hash_hex)).decode()})

    # --- transactions --------------------------------------------------------------------
    def build(self, chaincode: str, function: str, args: Any = None) -> bytes:
        if self.signer is None:
            raise LedgerClientError("this client has no signer: pass signer=Signer(...)")
        return build_tx(signer=self.signer, chain_id=self.chain_id(), chaincode=chaincode,
                        function=function, args=args)

    def broadcast(self, tx: bytes, *, wait: Literal["async", "sync", "commit"] = "sync",
                  check: bool = True) -> BroadcastResult:
        """Send an encoded tx. ``wait="commit"`` returns after the block that holds it.

        With ``check`` a non-zero code raises ``TxRejected``.
        """
        if wait not in ("async", "sync", "commit"):
            raise ValueError(f"wait must be 'async', 'sync' or 'commit', not {wait!r}")
        params = {"tx": base64.b64encode(tx).decode()}
        digest = tx_hash(tx)
        if wait == "commit":
            try:
                res = self.rpc("broadcast_tx_commit", params, timeout=COMMIT_TIMEOUT)
            except RpcError as exc:
                if _COMMIT_TIMEOUT_TEXT in exc.data:
                    raise CommitTimeout(digest) from None
                raise
            checked, executed = res["check_tx"], res["tx_result"]
            if int(checked.get("code", 0)):
                return self._result("CheckTx", digest, checked, 0, check)
            return self._result("FinalizeBlock", digest, executed, int(res["height"]), check)
        res = self.rpc(f"broadcast_tx_{wait}", params)
        return self._result("CheckTx", digest, res, 0, check)

    @staticmethod
    def _result(stage: str, digest: str, res: dict[str, Any], height: int,
                check: bool) -> BroadcastResult:
        result = BroadcastResult(
            hash=digest, code=int(res.get("code", 0)), log=res.get("log", ""),
            codespace=res.get("codespace", ""), data=_b64(res.get("data")), height=height,
            events=res.get("events") or [],
        )
        if check and result.code:
            raise TxRejected(stage, digest, result.code, result.log, result.codespace)
        return result

    def wait_for_tx(self, hash_hex: str, *, timeout: float, check: bool = True,
                    poll: float = 0.5) -> BroadcastResult:
        """The committed result of the tx ``hash_hex``, polling until it is in a block;
        ``CommitTimeout`` when it is not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                res = self.tx(hash_hex)
            except RpcError as exc:
                if "not found" not in exc.data:
                    raise
            else:
                return self._result("FinalizeBlock", hash_hex, res.get("tx_result", {}),
                                    int(res.get("height", 0)), check)
            if time.monotonic() >= deadline:
                raise CommitTimeout(hash_hex)
            time.sleep(poll)

    def submit(self, chaincode: str, function: str, args: Any = None, *,
               wait: Literal["async", "sync", "commit"] = "commit") -> BroadcastResult:
        """Build, sign and broadcast one chaincode call."""
        return self.broadcast(self.build(chaincode, function, args), wait=wait)

    # --- queries -------------------------------------------------------------------------
    def query(self, path: str, data: bytes | str = b"", *, height: int = 0,
              prove: bool = False, check: bool = True) -> QueryResponse:
        raw = data.encode() if isinstance(data, str) else data
        params: dict[str, Any] = {"path": path, "data": raw.hex(), "prove": prove}
        if height:
            params["height"] = str(height)
        r = self.rpc("abci_query", params)["response"]
        ops = (r.get("proofOps") or r.get("proof_ops") or {}).get("ops") or []
        out = QueryResponse(
            code=int(r.get("code", 0)), log=r.get("log", ""), key=_b64(r.get("key")),
            value=_b64(r.get("value")), height=int(r.get("height", 0)),
            codespace=r.get("codespace", ""), proof=_b64(ops[0].get("data")) if ops else b"",
        )
        if check and out.code:
            raise QueryFailed(path, out.code, out.log)
        return out

    def call(self, chaincode: str, function: str, args: Any = None, *, height: int = 0) -> Any:
        """Run a read-only chaincode function; returns its decoded JSON result."""
        data = json.dumps({"chaincode": chaincode, "function": function,
                           "args": [] if args is None else args}).encode()
        value = self.query("/call", data, height=height).value
        return json.loads(value) if value else None

    def call_signed(self, chaincode: str, function: str, args: Any = None, *,
                    signer: Signer | None = None, height: int = 0) -> Any:
        """``call`` as ``signer`` (default: this client's signer): the query carries its
        signature (``ledger.tx.build_query``), so the function sees that key as
        ``ctx.caller`` with its registered roles. An unsigned ``call`` has no caller."""
        signer = signer or self.signer
        if signer is None:
            raise LedgerClientError("call_signed needs a signer: pass signer=Signer(...)")
        data = build_query(signer=signer, chain_id=self.chain_id(), chaincode=chaincode,
                           function=function, args=args)
        value = self.query("/call", data, height=height).value
        return json.loads(value) if value else None

    # --- events --------------------------------------------------------------------------
    # Two forms of one subscription: ``subscribe`` for threads, ``asubscribe`` for an event
    # loop (the control plane's ASGI server, where a stream must not hold a thread). They
    # share the address, the request and the reading of each message.
    def _ws_target(self) -> tuple[str, str | None]:
        """(URL to connect to or show in errors, unix socket path or None)."""
        if self._socket:
            return f"unix://{self._socket} (websocket)", self._socket
        return "ws" + self.url[len("http"):] + "/websocket", None

    @staticmethod
    def _subscribe_request(query: str) -> str:
        return json.dumps({"jsonrpc": "2.0", "id": 0, "method": "subscribe",
                           "params": {"query": query}})

    @staticmethod
    def _subscription_item(raw: str | bytes, awaiting_confirm: bool) -> dict[str, Any] | None:
        """What one websocket message gives the subscriber: an event, ``{}`` for the
        node's confirmation while ``awaiting_confirm``, or None (nothing to pass on)."""
        message = json.loads(raw)
        if message.get("error"):
            err = message["error"]
            raise RpcError(int(err.get("code", 0)), str(err.get("message", "")),
                           str(err.get("data", "")))
        result = message.get("result") or {}
        if result.get("data"):
            return result
        if awaiting_confirm:  # the answer to the subscribe request itself
            return {}
        return None

    def subscribe(self, query: str, *, timeout: float | None = None,
                  confirm: bool = False) -> Iterator[dict[str, Any]]:
        """Yield events matching a CometBFT query (e.g. ``tm.event='Tx'``) as they happen.

        ``timeout`` bounds the wait for each event (``ClientTimeout`` when it passes). With
        ``confirm`` the first item is ``{}``, yielded once the node confirmed the
        subscription: every event committed after it is seen.
        """
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect, unix_connect

        ws_url, socket = self._ws_target()
        try:
            if socket:
                ws = unix_connect(socket, "ws://node/websocket",
                                  open_timeout=self.timeout, max_size=2**24)
            else:
                ws = connect(ws_url, open_timeout=self.timeout, max_size=2**24)
        except (OSError, WebSocketException) as exc:
            raise ConnectionFailed(f"cannot open {ws_url}: {exc}") from exc
        with ws:
            ws.send(self._subscribe_request(query))
            while True:
                try:
                    raw = ws.recv(timeout=timeout or self.timeout * 6)
                except TimeoutError:
                    raise ClientTimeout(f"no event for {query!r}") from None
                except WebSocketException as exc:
                    raise ConnectionFailed(f"subscription to {ws_url} lost: {exc}") from exc
                item = self._subscription_item(raw, confirm)
                if item is not None:
                    confirm = confirm and bool(item)
                    yield item

    async def asubscribe(self, query: str, *, timeout: float | None = None,
                         confirm: bool = False) -> AsyncIterator[dict[str, Any]]:
        """``subscribe`` for an asyncio event loop: the same items, errors and timeouts,
        waiting on the loop instead of in a thread."""
        import asyncio

        from websockets.asyncio.client import connect, unix_connect
        from websockets.exceptions import WebSocketException

        ws_url, socket = self._ws_target()
        try:
            if socket:
                ws = await unix_connect(socket, "ws://node/websocket",
                                        open_timeout=self.timeout, max_size=2**24)
            else:
                ws = await connect(ws_url, open_timeout=self.timeout, max_size=2**24)
        except (OSError, WebSocketException) as exc:
            raise ConnectionFailed(f"cannot open {ws_url}: {exc}") from exc
        async with ws:
            await ws.send(self._subscribe_request(query))
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout or self.timeout * 6)
                except TimeoutError:
                    raise ClientTimeout(f"no event for {query!r}") from None
                except WebSocketException as exc:
                    raise ConnectionFailed(f"subscription to {ws_url} lost: {exc}") from exc
                item = self._subscription_item(raw, confirm)
                if item is not None:
                    confirm = confirm and bool(item)
                    yield item
