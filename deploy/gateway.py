"""The gateway: a tenant's REST door to its running ledger network.

Each call picks a node (healthy first, then the highest block) and fails over to the next
one when a node cannot be reached. Transactions are either pre-signed by the caller
(``{"tx": "<base64>"}``) or built from ``{"chaincode","function","args"}`` and signed with
the tenant's managed identity for this network (registered in genesis, key sealed at rest).
Ledger-side refusals become 4xx ``AppError``s with stable codes; an unreachable network
becomes 503 ``gateway_unavailable``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from baas.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from deploy import conf, crypto
from deploy.choices import NETWORK_LIVE, NodeHealth, NodeStatus
from deploy.models import Network, NetworkIdentity, Node

T = TypeVar("T")
HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_BLOCK_PAGE = 20


class GatewayUnavailable(AppError):
    code = "gateway_unavailable"
    status = 503


def _timeout() -> float:
    return conf.setting("DEPLOY_GATEWAY_TIMEOUT_S")


def candidate_nodes(network: Network) -> list[Node]:
    if network.status not in NETWORK_LIVE:
        raise Conflict(
            "network_not_running",
            f"The network is {network.status}; the gateway needs it running.",
            details={"status": network.status},
        )
    nodes = [
        n for n in network.nodes.exclude(status=NodeStatus.DELETED) if n.rpc_url
    ]
    # Healthy nodes first, most advanced first: the freshest answer and the least failover.
    nodes.sort(key=lambda n: (n.health != NodeHealth.HEALTHY, -n.height, n.index))
    if not nodes:
        raise GatewayUnavailable(message="No node of this network has an RPC address yet.")
    return nodes


def with_failover(network: Network, call: Callable[[Any], T], *, signer: Any = None) -> T:
    """Run ``call(client)`` against the best node, then the next on connection trouble."""
    from ledger.client import ClientTimeout, ConnectionFailed, LedgerClient

    tried: list[str] = []
    for node in candidate_nodes(network):
        client = LedgerClient(
            node.rpc_url, signer=signer, chain_id=network.chain_id, timeout=_timeout()
        )
        try:
            return call(client)
        except (ConnectionFailed, ClientTimeout) as exc:
            tried.append(f"{node.moniker}: {exc}")
        finally:
            client.close()
    raise GatewayUnavailable(
        message="No node of this network answered.", details={"tried": tried}
    )


def _ledger_errors(fn: Callable[[], T]) -> T:
    """Translate ledger client refusals into stable API errors."""
    from ledger.client import CommitTimeout, QueryFailed, RpcError, TxRejected

    try:
        return fn()
    except CommitTimeout as exc:
        raise AppError(
            "commit_timeout",
            "The node accepted the transaction but no block held it in time. It may still "
            "commit: look it up by its hash rather than sending it again.",
            status=504, details={"hash": exc.tx_hash},
        ) from None
    except TxRejected as exc:
        raise AppError(
            "tx_rejected", f"The ledger rejected the transaction at {exc.stage}: {exc.log}",
            status=422,
            details={"stage": exc.stage, "hash": exc.tx_hash, "code": exc.code,
                     "codespace": exc.codespace, "log": exc.log},
        ) from None
    except QueryFailed as exc:
        raise AppError(
            "query_failed", f"The query failed: {exc.log}", status=422,
            details={"path": exc.path, "code": exc.code, "log": exc.log},
        ) from None
    except RpcError as exc:
        raise AppError(
            "ledger_error", f"The node refused the request: {exc.message} {exc.data}".strip(),
            status=422, details={"rpc_code": exc.code},
        ) from None


def tenant_signer(network: Network, tenant: Any) -> Any:
    """The tenant's managed identity on ``network`` as a ``ledger.tx.Signer``."""
    from ledger.tx import Signer

    identity = NetworkIdentity.objects.filter(network=network, tenant=tenant).first()
    if identity is None:
        raise Conflict(
            "no_managed_identity",
            "Your organisation has no managed identity on this network; submit signed txs.",
        )
    return Signer.from_private_bytes(crypto.unseal(identity.sealed_private_key))


def _result_json(result: Any) -> dict[str, Any]:
    data: Any = None
    if result.data:
        try:
            data = json.loads(result.data)
        except ValueError:
            data = base64.b64encode(result.data).decode()
    return {"hash": result.hash, "code": result.code, "log": result.log,
            "height": result.height, "data": data}


def refuse_system_chaincode(chaincode: str) -> None:
    """Governance (``_identity``, ``_lifecycle`` and every other ``_*`` system chaincode)
    goes through services with roles, the ``deploy`` scope, an operation and an audit
    record (``deploy.chain``), never through the gateway, whoever signed the call."""
    if chaincode.startswith("_"):
        raise PermissionDenied(
            "system_chaincode_refused",
            f"The gateway does not relay calls to the system chaincode {chaincode!r}. "
            "Installs, upgrades and organisation or validator changes are API operations "
            "(for example POST /api/v1/networks/{id}/chaincodes/); queries are allowed.",
            details={"chaincode": chaincode},
        )


def check_tx_body(body: dict[str, Any]) -> bytes | None:
    """Refuse a malformed tx body before anything else happens (no key is made, nothing
    is sent). Returns the pre-signed bytes of ``{"tx"}``, or None for a call to sign."""
    from ledger.errors import LedgerError
    from ledger.tx import decode_tx

    if body.get("wait", "commit") not in ("commit", "sync"):
        raise ValidationFailed("invalid_wait", "wait is 'commit' or 'sync'.")
    if "tx" in body:
        try:
            raw = base64.b64decode(str(body["tx"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("invalid_tx", "tx must be base64 of an encoded tx.") from None
        if not raw:
            raise ValidationFailed("invalid_tx", "tx is empty.")
        try:
            decoded = decode_tx(raw, verify=False)
        except (LedgerError, ValueError, TypeError, KeyError):
            raise ValidationFailed("invalid_tx", "tx is not an encoded ledger transaction.") \
                from None
        refuse_system_chaincode(decoded.chaincode)
        return raw
    chaincode, function = body.get("chaincode"), body.get("function")
    if not isinstance(chaincode, str) or not isinstance(function, str) or not chaincode \
            or not function:
        raise ValidationFailed(
            "invalid_tx",
            'Send {"tx": "<base64>"} or {"chaincode": "...", "function": "...", '
            '"args": [...]}.',
        )
    refuse_system_chaincode(chaincode)
    if not isinstance(body.get("args", []), list | dict):
        raise ValidationFailed("invalid_tx", "args must be a JSON list or object.")
    return None


def submit_tx(*, network: Network, body: dict[str, Any], signer: Any = None) -> dict[str, Any]:
    """Broadcast a transaction; ``wait`` is ``commit`` (default) or ``sync``.

    A pre-signed ``{"tx"}`` is relayed as it is. ``{"chaincode","function","args"}`` is
    signed with ``signer``, the acting person's or token's own key
    (``deploy.services.keys``); the organisation's admin key never signs here."""
    from ledger.tx import build_tx

    wait = body.get("wait", "commit")
    raw = check_tx_body(body)
    if raw is None:
        if signer is None:
            raise ValidationFailed("invalid_tx", "Only a signed tx can be relayed here.")
        # Signed once, before failover: a node that took the tx and then timed out must
        # not make the next node run it again under a fresh nonce. The same bytes sent
        # twice are refused as a replay by the ledger.
        from ledger.errors import LedgerError

        try:
            raw = build_tx(signer=signer, chain_id=network.chain_id,
                           chaincode=body["chaincode"], function=body["function"],
                           args=body.get("args", []))
        except LedgerError as exc:  # too large, too deep, a name the envelope refuses
            raise ValidationFailed("invalid_tx", f"The ledger cannot carry this call: "
                                   f"{exc.message}", details={"reason": exc.code.name}) \
                from None

    def call(client: Any) -> dict[str, Any]:
        return _result_json(_ledger_errors(lambda: client.broadcast(raw, wait=wait)))

    return with_failover(network, call)


def broadcast_committed(*, network: Network, raw: bytes, timeout: float) -> dict[str, Any]:
    """Broadcast signed bytes and wait for their block, for the platform's own transactions
    (``deploy.chain``), which must know how they ended: a tx still in the mempool when
    CometBFT stops waiting (a chain that just lost and regained a validator can take a few
    rounds) is waited for by hash, never sent again."""

    def call(client: Any) -> dict[str, Any]:
        return _result_json(_ledger_errors(lambda: client.broadcast(raw, wait="commit")))

    try:
        return with_failover(network, call)
    except AppError as exc:
        if exc.code != "commit_timeout":
            raise
        return wait_committed(network=network, tx_hash=exc.details["hash"], timeout=timeout)


def wait_committed(*, network: Network, tx_hash: str, timeout: float) -> dict[str, Any]:
    """The committed result of a tx the gateway already broadcast (after ``commit_timeout``),
    in ``submit_tx``'s shape; ``tx_rejected`` when it ran with a non-zero code."""

    def call(client: Any) -> dict[str, Any]:
        return _result_json(_ledger_errors(lambda: client.wait_for_tx(tx_hash, timeout=timeout)))

    return with_failover(network, call)


def query(*, network: Network, body: dict[str, Any], signer: Any = None) -> dict[str, Any]:
    """A read. A chaincode call is signed with ``signer`` (the person's or token's own key)
    when there is one, so the function sees who asks; the node ignores any caller an
    unsigned query claims."""
    height = body.get("height", 0) or 0
    if not isinstance(height, int) or height < 0:
        raise ValidationFailed("invalid_height", "height is a non-negative integer.")
    if "chaincode" in body:
        chaincode, function = body.get("chaincode"), body.get("function")
        if not isinstance(chaincode, str) or not isinstance(function, str):
            raise ValidationFailed("invalid_query", "chaincode and function are strings.")
        args = body.get("args", [])

        def call(client: Any) -> dict[str, Any]:
            if signer is not None:
                result = _ledger_errors(lambda: client.call_signed(
                    chaincode, function, args, signer=signer, height=height))
            else:
                result = _ledger_errors(
                    lambda: client.call(chaincode, function, args, height=height))
            return {"result": result}

        return with_failover(network, call)
    path = body.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValidationFailed(
            "invalid_query",
            'Send {"chaincode","function","args"} or {"path": "/state", "data": "..."}.',
        )
    data = body.get("data", "")
    if not isinstance(data, str):
        raise ValidationFailed("invalid_query", "data is a string.")

    def raw_call(client: Any) -> dict[str, Any]:
        res = _ledger_errors(lambda: client.query(path, data, height=height))
        value: Any
        try:
            value = json.loads(res.value) if res.value else None
        except ValueError:
            value = base64.b64encode(res.value).decode()
        return {"height": res.height, "value": value, "log": res.log}

    return with_failover(network, raw_call)


def _block_summary(meta: dict[str, Any]) -> dict[str, Any]:
    header = meta.get("header", {})
    return {
        "height": int(header.get("height", 0)),
        "time": header.get("time"),
        "hash": (meta.get("block_id") or {}).get("hash"),
        "app_hash": header.get("app_hash"),
        "num_txs": int(meta.get("num_txs", 0)),
        "proposer": header.get("proposer_address"),
    }


def blocks(*, network: Network, before: int | None = None, limit: int = 10) -> dict[str, Any]:
    limit = max(1, min(MAX_BLOCK_PAGE, limit))

    def call(client: Any) -> dict[str, Any]:
        top = client.height()
        max_h = min(top, before - 1) if before else top
        min_h = max(1, max_h - limit + 1)
        if max_h < 1:
            return {"latest_height": top, "blocks": []}
        res = _ledger_errors(
            lambda: client.rpc("blockchain", {"minHeight": str(min_h), "maxHeight": str(max_h)})
        )
        return {"latest_height": top,
                "blocks": [_block_summary(m) for m in res.get("block_metas", [])]}

    return with_failover(network, call)


def block(*, network: Network, height: int) -> dict[str, Any]:
    from ledger.client import RpcError

    def call(client: Any) -> dict[str, Any]:
        try:
            res = client.block(height)
        except RpcError as exc:
            raise NotFound("block_not_found", f"No block at height {height}: {exc.data}") from None
        blk = res["block"]
        txs = [base64.b64decode(t) for t in (blk.get("data", {}).get("txs") or [])]
        from ledger.tx import tx_hash

        return {
            "height": int(blk["header"]["height"]),
            "time": blk["header"]["time"],
            "hash": res["block_id"]["hash"],
            "app_hash": blk["header"]["app_hash"],
            "proposer": blk["header"]["proposer_address"],
            "txs": [tx_hash(t) for t in txs],
        }

    return with_failover(network, call)


def transaction(*, network: Network, tx_hash: str) -> dict[str, Any]:
    from ledger.client import RpcError

    if not HASH_RE.match(tx_hash):
        raise ValidationFailed("invalid_hash", "A transaction hash is 64 hex characters.")

    def call(client: Any) -> dict[str, Any]:
        try:
            res = client.tx(tx_hash)
        except RpcError as exc:
            raise NotFound("tx_not_found", f"No transaction {tx_hash}: {exc.data}") from None
        result = res.get("tx_result", {})
        decoded: Any = None
        try:
            from ledger.tx import decode_tx

            tx = decode_tx(base64.b64decode(res["tx"]), verify=False)
            decoded = {"chaincode": tx.chaincode, "function": tx.function, "args": tx.args,
                       "signer": tx.signer, "nonce": tx.nonce}
        except Exception:  # noqa: BLE001 -- a foreign tx format is still shown, undecoded
            decoded = None
        data: Any = None
        if result.get("data"):
            raw = base64.b64decode(result["data"])
            try:
                data = json.loads(raw)
            except ValueError:
                data = result["data"]
        return {
            "hash": res.get("hash", tx_hash).lower(),
            "height": int(res.get("height", 0)),
            "index": int(res.get("index", 0)),
            "code": int(result.get("code", 0)),
            "log": result.get("log", ""),
            "data": data,
            "events": result.get("events", []),
            "tx": decoded,
        }

    return with_failover(network, call)


def _event_item(node: Node, event: dict[str, Any]) -> dict[str, Any]:
    if not event:  # the node confirmed the subscription
        return {"subscribed": node.moniker}
    return {"query": event.get("query"), "data": event.get("data"), "events": event.get("events")}


def events(*, network: Network, node: Node, query_text: str,
           timeout: float) -> Iterator[dict[str, Any]]:
    """Yield events from ``node``'s websocket subscription (no failover mid-stream); the
    first item is ``{"subscribed": node moniker}`` once the node confirmed it. The caller
    picks the node (``candidate_nodes``) before streaming, so a down network is refused
    with its error code rather than inside an open stream."""
    from ledger.client import ClientTimeout, LedgerClient, LedgerClientError

    client = LedgerClient(node.rpc_url, chain_id=network.chain_id, timeout=_timeout())
    try:
        for event in client.subscribe(query_text, timeout=timeout, confirm=True):
            yield _event_item(node, event)
    except ClientTimeout:
        return
    except LedgerClientError as exc:
        yield {"error": str(exc)}
    finally:
        client.close()


async def aevents(*, network: Network, node: Node, query_text: str,
                  timeout: float) -> AsyncIterator[dict[str, Any]]:
    """``events`` for an event loop (the ASGI server): the same items, and the websocket is
    read by the loop, so an open stream holds no thread. Touches no database."""
    import asyncio

    from ledger.client import ClientTimeout, LedgerClient, LedgerClientError

    # Building a client loads TLS certificates for its HTTP pool (about 20 ms here): done in
    # a thread so that many streams opening at once do not stall every other request.
    client = await asyncio.to_thread(LedgerClient, node.rpc_url, chain_id=network.chain_id,
                                     timeout=_timeout())
    try:
        async for event in client.asubscribe(query_text, timeout=timeout, confirm=True):
            yield _event_item(node, event)
    except ClientTimeout:
        return
    except LedgerClientError as exc:
        yield {"error": str(exc)}
    finally:
        # Only the websocket was used; the client's HTTP pool holds no connection, so
        # closing it does not block the loop.
        client.close()


def tx_search(*, network: Network, query_text: str, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` (at most 100) committed transactions matching a CometBFT event
    query, decoded: ``{"hash", "height", "code", "function", "args", "signer", "events"}``
    with events as ``[{"type", "attributes": {key: value}}]``."""
    from ledger.client import RpcError
    from ledger.tx import decode_tx

    per_page = max(1, min(int(limit), 100))

    def call(client: Any) -> list[dict[str, Any]]:
        try:
            res = client.rpc("tx_search", {"query": query_text, "order_by": "desc",
                                           "page": "1", "per_page": str(per_page)})
        except RpcError as exc:
            raise ValidationFailed("invalid_query", f"The node refused the search: {exc.data}",
                                   details={"rpc_code": exc.code}) from None
        found = []
        for item in (res or {}).get("txs", []):
            result = item.get("tx_result", {})
            try:
                tx = decode_tx(base64.b64decode(item["tx"]), verify=False)
                function, args, signer = tx.function, tx.args, tx.signer
            except Exception:  # noqa: BLE001 -- not one of ours: listed, undecoded
                function, args, signer = "", None, ""
            events = [{"type": e.get("type", ""),
                       "attributes": {a.get("key", ""): a.get("value", "")
                                      for a in e.get("attributes", [])}}
                      for e in result.get("events", [])]
            found.append({"hash": str(item.get("hash", "")).lower(),
                          "height": int(item.get("height", 0)),
                          "code": int(result.get("code", 0)), "function": function,
                          "args": args, "signer": signer, "events": events})
        return found

    return with_failover(network, call)
