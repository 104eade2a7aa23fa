"""Reads of a running network's chain for the explorer, all through ``deploy.gateway``
(node choice, failover and error codes are the gateway's). Nothing here writes.

The caller has already resolved the network with ``deploy.selectors.network_get`` for the
acting tenant, so the owner and consortium members see the same chain, as they do through
the gateway's own block and tx endpoints.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from django.conf import settings
from django.urls import reverse

from baas.errors import NotFound, ValidationFailed
from deploy import gateway
from deploy.choices import NodeStatus
from deploy.models import Network, NetworkIdentity, SigningKey
from explorer.models import IndexCursor, IndexedTx
from ledger import light
from ledger.client import ConnectionFailed

CHAINCODE_RE = re.compile(r"^_?[a-z][a-z0-9_]{0,63}$")
PUBLIC_KEY_RE = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_KEY_CHARS = 256  # a state key or prefix typed into a search box
MAX_SEARCH_CHARS = 128
SEARCH_KINDS = ("hash", "height", "signer", "chaincode")
SEARCH_LIMIT = 50
# The fields of a signer or chaincode search row (what the tx index holds).
SUMMARY_FIELDS = ("hash", "height", "index", "chaincode", "function", "signer", "code",
                  "gas_used")
# Blocks above the tx index a signer or chaincode search reads from the chain itself (the
# indexer runs every BAAS_EXPLORER_INDEX_SECONDS); an index further behind is not used.
MAX_FRESH_BLOCKS = 100
# How far back "last signed block" looks: enough for a validator that is merely slow, and
# a bound on the RPC calls one page makes.
SIGNATURE_LOOKBACK = 20


# -- helpers ------------------------------------------------------------------------------

def _decode_value(raw: bytes) -> Any:
    """A stored value as JSON when it is JSON (chaincode values are canonical JSON)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _pub_key_bytes(text: str) -> bytes:
    """A validator public key as the platform stores it (base64 or hex) -> raw bytes."""
    if not text:
        return b""
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _node_names(network: Network) -> dict[str, str]:
    """Validator address -> node moniker, for the nodes the platform knows."""
    names = {}
    for node in network.nodes.all():
        raw = _pub_key_bytes(node.validator_pub_key)
        if raw:
            names[light.address_of(raw)] = node.moniker
    return names


def _validator_keys(network: Network) -> dict[str, bytes]:
    """Validator address -> ed25519 key of the network's live nodes, as the platform
    recorded them when it made each node's keys: what a header's signatures are checked
    against, never a node's own list."""
    keys = {}
    for node in network.nodes.exclude(status=NodeStatus.DELETED):
        raw = _pub_key_bytes(node.validator_pub_key)
        if raw:
            keys[light.address_of(raw)] = raw
    return keys


def _height_reached(network: Network) -> int:
    """A height more than a third of the network's nodes reached at the monitor's last
    pass (each node's own word, recorded): the (⌊n/3⌋+1)-th highest. Fewer than a third
    of the nodes, all of them lying about their height, cannot raise it above an honest
    node's, so none can make the honest nodes' proofs look stale."""
    heights = sorted(network.nodes.exclude(status=NodeStatus.DELETED)
                     .values_list("height", flat=True), reverse=True)
    return heights[len(heights) // 3] if heights else 0


class UntrustedNode(ConnectionFailed):
    """A node's header is not the block its own commit signs, its answer is malformed,
    too few of the validators the platform knows signed its header, or its newest block is
    far below the height the platform last saw: the gateway tries the next node."""


# How far below the height more than a third of a network's nodes reached (the monitor's
# last pass, ``_height_reached``) a node's newest block may be before its proofs count as
# stale: a node could otherwise prove an old state (a key since changed) with a header
# that was genuinely signed, long ago.
STALE_BLOCKS = 100


def check_chaincode(name: str) -> str:
    if not isinstance(name, str) or not CHAINCODE_RE.match(name):
        raise ValidationFailed("invalid_chaincode",
                               "A chaincode name is lower-case letters, digits and _.")
    return name


def check_key(value: str, field: str) -> str:
    if len(value) > MAX_KEY_CHARS or "\x00" in value:
        raise ValidationFailed(f"invalid_{field}",
                               f"{field} is at most {MAX_KEY_CHARS} characters, without NUL.")
    return value


# -- who signed ---------------------------------------------------------------------------

class Signers:
    """Maps signer public keys to the person and organisation behind them, once per key
    per request: the platform's own records first (``SigningKey``: a person or token of an
    organisation; ``NetworkIdentity``: an organisation's managed identity), then the chain's
    ``_identity`` member record for keys made outside the platform.

    A person's name is shown only to their own organisation; other organisations of the
    consortium see the organisation and the on-chain member id, as the chain shows them.
    """

    def __init__(self, network: Network, tenant: Any, client: Any = None) -> None:
        self.network = network
        self.tenant = tenant
        # The client of the request's other reads, when there is one: a new client per
        # lookup costs tens of milliseconds (its HTTP pool's TLS set-up).
        self.client = client
        self._cache: dict[str, dict[str, Any]] = {}

    def __call__(self, public_key: str) -> dict[str, Any]:
        if not public_key:
            return {}
        key = public_key.lower()
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        return self._cache[key]

    def _lookup(self, key: str) -> dict[str, Any]:
        info: dict[str, Any] = {"public_key": key, "person": None, "organisation": None,
                                "member": None, "org_id": None, "kind": "unknown"}
        signing = (SigningKey.objects.filter(network=self.network, public_key=key)
                   .select_related("tenant", "user", "token").first())
        if signing is not None:
            info.update(kind="token" if signing.token_id else "person",
                        organisation=signing.tenant.name, member=signing.member_id)
            if signing.tenant_id == getattr(self.tenant, "pk", None):
                if signing.user is not None:
                    info["person"] = signing.user.full_name or signing.user.email
                elif signing.token is not None:
                    info["person"] = signing.token.name
        else:
            managed = (NetworkIdentity.objects.filter(network=self.network, public_key=key)
                       .select_related("tenant").first())
            if managed is not None:
                info.update(kind="organisation", organisation=managed.tenant.name,
                            member=managed.member_id, org_id=managed.organisation_id)
        record = self._member_record(key)
        if record:
            info["org_id"] = record.get("org")
            info["member"] = info["member"] or record.get("member")
            info["roles"] = record.get("roles", [])
            if info["kind"] == "unknown":
                info["kind"] = "member"
        return info

    def _member_record(self, key: str) -> dict[str, Any] | None:
        from ledger.client import QueryFailed

        def call(client: Any) -> dict[str, Any] | None:
            try:
                res = client.query("/identity", key)
            except QueryFailed:
                return None  # not (or no longer) a member: open access, or removed
            return _decode_value(res.value)

        if self.client is not None:
            return call(self.client)
        return gateway.with_failover(self.network, call)


# -- overview and connection --------------------------------------------------------------

def connection(network: Network) -> dict[str, Any]:
    """How to reach this network from outside: the gateway's URLs and a copyable example of
    sending a transaction signed by the caller's own key."""
    base = settings.BAAS_PUBLIC_URL.rstrip("/")
    tx_url = base + reverse("gateway-tx", kwargs={"network_pk": network.pk})
    gateway_url = tx_url.removesuffix("tx/")
    example = (
        "from ledger.tx import Signer, build_tx\n"
        "import base64, httpx\n\n"
        "signer = Signer.from_private_bytes(open('my.key', 'rb').read())  # your own key\n"
        f"raw = build_tx(signer=signer, chain_id={network.chain_id!r},\n"
        "               chaincode='kv', function='put', args=['greeting', 'hello'])\n"
        f"httpx.post({tx_url!r},\n"
        "           headers={'Authorization': 'Bearer <API token>'},\n"
        "           json={'tx': base64.b64encode(raw).decode()})\n"
    )
    curl = (f"curl -X POST {tx_url} \\\n  -H 'Authorization: Bearer <API token>' \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            "  -d '{\"tx\": \"<base64 of the signed tx>\"}'")
    return {"chain_id": network.chain_id, "gateway_url": gateway_url, "tx_url": tx_url,
            "query_url": gateway_url + "query/", "events_url": gateway_url + "events/",
            "python_example": example, "curl_example": curl}


def block_list(*, network: Network, before: int | None = None,
               limit: int = 10) -> dict[str, Any]:
    """Newest blocks first: height, time, proposer (with the node's name), tx count."""
    page = gateway.blocks(network=network, before=before, limit=limit)
    names = _node_names(network)
    blocks = sorted(page["blocks"], key=lambda b: -b["height"])
    for blk in blocks:
        blk["proposer_name"] = names.get(str(blk.get("proposer") or "").upper())
    return {"latest_height": page["latest_height"], "blocks": blocks,
            "next_before": blocks[-1]["height"] if blocks and blocks[-1]["height"] > 1 else None}


# -- transactions -------------------------------------------------------------------------

def _attributes(event: dict[str, Any]) -> dict[str, str]:
    attrs = event.get("attributes")
    if isinstance(attrs, dict):
        return attrs
    return {a.get("key", ""): a.get("value", "") for a in attrs or []}


def _events(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": e.get("type", ""), "attributes": _attributes(e)} for e in raw or []]


def _decoded_tx(raw_b64: str) -> dict[str, Any] | None:
    from ledger.tx import decode_tx

    try:
        tx = decode_tx(base64.b64decode(raw_b64), verify=False)
    except Exception:  # noqa: BLE001 -- a foreign tx format is shown, undecoded
        return None
    return {"chaincode": tx.chaincode, "function": tx.function, "args": tx.args,
            "signer": tx.signer, "nonce": tx.nonce, "time_ms": tx.time_ms}


def _tx_row(*, tx_hash: str, height: int, index: int, raw_b64: str, result: dict[str, Any],
            signers: Signers) -> dict[str, Any]:
    decoded = _decoded_tx(raw_b64)
    data: Any = None
    if result.get("data"):
        data = _decode_value(base64.b64decode(result["data"]))
    return {
        "hash": tx_hash.lower(), "height": height, "index": index,
        "code": int(result.get("code", 0)), "codespace": result.get("codespace", ""),
        "log": result.get("log", ""), "gas_used": int(result.get("gas_used", 0) or 0),
        "data": data, "events": _events(result.get("events", [])),
        "chaincode": decoded["chaincode"] if decoded else None,
        "function": decoded["function"] if decoded else None,
        "args": decoded["args"] if decoded else None,
        "nonce": decoded["nonce"] if decoded else None,
        "signer": signers(decoded["signer"]) if decoded else {},
    }


def tx_detail(*, network: Network, tenant: Any, tx_hash: str) -> dict[str, Any]:
    from ledger.client import RpcError

    if not gateway.HASH_RE.match(tx_hash or ""):
        raise ValidationFailed("invalid_hash", "A transaction hash is 64 hex characters.")

    def call(client: Any) -> dict[str, Any]:
        try:
            res = client.tx(tx_hash)
        except RpcError:
            raise NotFound("tx_not_found", f"No transaction {tx_hash.lower()}.") from None
        return _tx_row(tx_hash=str(res.get("hash", tx_hash)), height=int(res.get("height", 0)),
                       index=int(res.get("index", 0)), raw_b64=res.get("tx", ""),
                       result=res.get("tx_result", {}),
                       signers=Signers(network, tenant, client))

    return gateway.with_failover(network, call)


def block_detail(*, network: Network, tenant: Any, height: int) -> dict[str, Any]:
    """One block with its transactions decoded (results, events and gas from
    ``block_results``)."""
    from ledger.client import RpcError
    from ledger.tx import tx_hash as hash_of

    def call(client: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        try:
            blk, results = client.block(height), client.block_results(height)
        except RpcError:
            raise NotFound("block_not_found", f"No block at height {height}.") from None
        signers = Signers(network, tenant, client)
        raw_txs = blk["block"].get("data", {}).get("txs") or []
        tx_results = results.get("txs_results") or []
        return blk, [_tx_row(tx_hash=hash_of(base64.b64decode(raw)), height=height, index=i,
                             raw_b64=raw, result=tx_results[i] if i < len(tx_results) else {},
                             signers=signers)
                     for i, raw in enumerate(raw_txs)]

    blk, txs = gateway.with_failover(network, call)
    header = blk["block"]["header"]
    proposer = header.get("proposer_address", "")
    return {"height": int(header["height"]), "time": header["time"],
            "hash": blk["block_id"]["hash"], "app_hash": header["app_hash"],
            "proposer": proposer, "proposer_name": _node_names(network).get(proposer.upper()),
            "num_txs": len(txs), "txs": txs}


# -- search ---------------------------------------------------------------------------------

def _guess_kind(q: str) -> str:
    if q.isascii() and q.isdigit():
        return "height"
    if gateway.HASH_RE.match(q):
        return "hash"
    if CHAINCODE_RE.match(q):
        return "chaincode"
    raise ValidationFailed("invalid_search", "Search for a transaction hash, a block height, "
                           "a signer's public key or a chaincode name.")


def search(*, network: Network, tenant: Any, q: str, kind: str = "") -> dict[str, Any]:
    """Find transactions (or a block) by tx hash, height, signer key or chaincode, with
    CometBFT's ``tx_search`` over the attributes the ledger emits on its ``tx`` event
    (``tx.chaincode``, ``tx.signer``; ``tx.hash`` and ``tx.height`` are CometBFT's own).

    Without ``kind``, a 64-hex string is a tx hash and, when no tx has that hash, a signer
    key (both are 64 hex characters)."""
    q = (q or "").strip()
    if not q or len(q) > MAX_SEARCH_CHARS:
        raise ValidationFailed("invalid_search",
                               f"q is 1 to {MAX_SEARCH_CHARS} characters.")
    if kind and kind not in SEARCH_KINDS:
        raise ValidationFailed("invalid_kind", f"kind is one of {', '.join(SEARCH_KINDS)}.")
    guessed = not kind
    kind = kind or _guess_kind(q)
    if kind == "height":
        if not (q.isascii() and q.isdigit()) or not 1 <= int(q) < 2**63:
            raise ValidationFailed("invalid_height", "A height is a whole number from 1.")
        query_text = f"tx.height={int(q)}"
    elif kind == "hash":
        if not gateway.HASH_RE.match(q):
            raise ValidationFailed("invalid_hash", "A transaction hash is 64 hex characters.")
        try:
            return {"kind": "hash", "q": q, "results": [
                tx_detail(network=network, tenant=tenant, tx_hash=q)]}
        except NotFound:
            if not guessed:
                return {"kind": "hash", "q": q, "results": []}
            return {"kind": "signer", "q": q,
                    **_indexed_search(network, tenant, "signer", q.lower())}
    elif kind == "signer":
        if not PUBLIC_KEY_RE.match(q):
            raise ValidationFailed("invalid_signer",
                                   "A signer is a public key of 64 hex characters.")
        return {"kind": kind, "q": q, **_indexed_search(network, tenant, "signer", q.lower())}
    else:
        check_chaincode(q)
        return {"kind": kind, "q": q, **_indexed_search(network, tenant, "chaincode", q)}
    return {"kind": kind, "q": q, "results": _tx_search(network, tenant, query_text)}


def _summary(row: dict[str, Any], signers: Signers) -> dict[str, Any]:
    """A search row of the signer and chaincode kinds: what the index holds."""
    return {"hash": row["hash"], "height": row["height"], "index": row["index"],
            "chaincode": row["chaincode"] or None, "function": row["function"] or None,
            "signer": signers(row["signer"]) if row["signer"] else {},
            "code": row["code"], "gas_used": row["gas_used"]}


def _indexed_search(network: Network, tenant: Any, field: str,
                    value: str) -> dict[str, Any]:
    """The newest ``SEARCH_LIMIT`` txs whose ``field`` (``signer`` or ``chaincode``) is
    ``value``: from the platform's index (``explorer.models.IndexedTx``) up to its cursor,
    and from the chain's own blocks above it (the few seconds of blocks the indexer has
    not reached yet), so an answer is never older than the chain.

    A network whose index is missing or lags by more than ``MAX_FRESH_BLOCKS`` (just
    created, the indexer stopped), or whose chain went back below the index (a restore
    not yet re-indexed), is searched with CometBFT's ``tx_search`` instead: slower, never
    stale. ``source`` says which answered; ``indexed_height`` how far the index goes."""
    from explorer.indexer import decode_block, read_metas

    indexed = (IndexCursor.objects.filter(network=network)
               .values_list("height", flat=True).first()) or 0

    def call(client: Any) -> dict[str, Any] | None:
        latest = client.height()
        if latest < indexed or latest - indexed > MAX_FRESH_BLOCKS:
            return None
        rows: list[dict[str, Any]] = []
        if latest > indexed:
            for meta in reversed(read_metas(client, indexed + 1, latest)):  # newest first
                if len(rows) >= SEARCH_LIMIT:
                    break
                if int(meta.get("num_txs", 0) or 0):
                    block = decode_block(client, int(meta["header"]["height"]))
                    rows += [r for r in reversed(block) if r[field] == value]
        rows = rows[:SEARCH_LIMIT]
        if len(rows) < SEARCH_LIMIT:
            rows += list(IndexedTx.objects
                         .filter(network=network, height__lte=indexed, **{field: value})
                         .order_by("-height", "-index")
                         .values("hash", "height", "index", "chaincode", "function",
                                 "signer", "code", "gas_used")[:SEARCH_LIMIT - len(rows)])
        signers = Signers(network, tenant, client)
        return {"results": [_summary(row, signers) for row in rows],
                "indexed_height": indexed, "source": "index"}

    found = gateway.with_failover(network, call)
    if found is not None:
        return found
    quoted = f"tx.{field}='{value}'"  # value checked above: hex, or a chaincode name
    return {"results": [{key: row[key] for key in SUMMARY_FIELDS}
                        for row in _tx_search(network, tenant, quoted)],
            "indexed_height": indexed, "source": "chain"}


def _tx_search(network: Network, tenant: Any, query_text: str) -> list[dict[str, Any]]:
    """The newest ``SEARCH_LIMIT`` txs matching a CometBFT query, as ``tx_detail`` rows."""
    from ledger.client import RpcError

    def call(client: Any) -> list[dict[str, Any]]:
        try:
            res = client.rpc("tx_search", {"query": query_text, "order_by": "desc",
                                           "page": "1", "per_page": str(SEARCH_LIMIT)})
        except RpcError as exc:
            raise ValidationFailed("invalid_search", f"The node refused the search: {exc.data}",
                                   details={"rpc_code": exc.code}) from None
        signers = Signers(network, tenant, client)
        return [_tx_row(tx_hash=str(item.get("hash", "")), height=int(item.get("height", 0)),
                        index=int(item.get("index", 0)), raw_b64=item.get("tx", ""),
                        result=item.get("tx_result", {}), signers=signers)
                for item in (res or {}).get("txs", [])]

    return gateway.with_failover(network, call)


# -- state ------------------------------------------------------------------------------------

def state_keys(*, network: Network, chaincode: str, prefix: str = "", after: str = "",
               limit: int = 50) -> dict[str, Any]:
    """Keys of ``chaincode``'s state starting with ``prefix`` (after ``after``), with their
    values, at the latest committed height."""
    check_chaincode(chaincode)
    check_key(prefix, "prefix")
    check_key(after, "after")
    space = f"{chaincode}/".encode()
    request = {"prefix": (space + prefix.encode()).hex(),
               "after": (space + after.encode()).hex() if after else "",
               "limit": max(1, min(int(limit), 100))}

    def call(client: Any) -> dict[str, Any]:
        res = gateway._ledger_errors(lambda: client.query("/keys", json.dumps(request)))
        return {"height": res.height, **json.loads(res.value)}

    page = gateway.with_failover(network, call)
    items = []
    for key_hex, value_hex in page["items"]:
        key = bytes.fromhex(key_hex)[len(space):]
        value = bytes.fromhex(value_hex)
        items.append({"key": key.decode("utf-8", "replace"), "value": _decode_value(value),
                      "size": len(value)})
    return {"chaincode": chaincode, "prefix": prefix, "height": page["height"],
            "keys": items, "more": page["more"],
            "next_after": items[-1]["key"] if page["more"] and items else None}


def state_proof(*, network: Network, chaincode: str, key: str) -> dict[str, Any]:
    """A key's value (or absence) with the Merkle proof the browser checks.

    The app hash after block H is in the header of block H+1, so the proof is taken at the
    height below the newest block and ``app_hash`` is read from the newest block's header,
    the value signed by the validators, never from the node's proof itself. That header is
    checked against its commit (``ledger.light``): its hash is the block the commit signs,
    and ``signed`` says how many of the validators the platform recorded signed it
    (``trusted``: more than two thirds), so one node cannot show an app hash of its own."""
    check_chaincode(chaincode)
    check_key(key, "key")
    if not key:
        raise ValidationFailed("invalid_key", "key must not be empty.")
    full_key = f"{chaincode}/{key}".encode()
    known = _validator_keys(network)
    reached = _height_reached(network)
    unsigned: list[dict[str, Any]] = []  # answers whose header too few validators signed
    unproven: list[str] = []  # nodes whose chain has no proven state yet

    def call(client: Any) -> dict[str, Any]:
        top = client.height()
        if top < reached - STALE_BLOCKS:
            raise UntrustedNode(f"{client.url}: at height {top}, the network was at "
                                f"{reached}")
        if top < 2:
            unproven.append(client.url)
            raise UntrustedNode(f"{client.url}: no proven state yet at height {top}")
        commit = gateway._ledger_errors(lambda: client.rpc("commit", {"height": str(top)}))
        try:
            signed = light.check_signed_header(
                (commit or {}).get("signed_header") if isinstance(commit, dict) else None,
                chain_id=network.chain_id, validators=known)
        except light.LightError as exc:
            raise UntrustedNode(f"{client.url}: its block {top} does not check: {exc}") \
                from None
        res = gateway._ledger_errors(lambda: client.query(
            "/state", full_key, height=top - 1, prove=True, check=False))
        try:
            proof = json.loads(res.proof) if res.proof else None
            shown = {"bucket": proof["bucket"], "entries": proof["entries"],
                     "siblings": proof["siblings"]} if proof is not None else None
        except (ValueError, TypeError, KeyError):
            raise UntrustedNode(f"{client.url}: its proof is malformed") from None
        if shown is None:
            raise UntrustedNode(f"{client.url}: it returned no proof")
        answer = {"height": top - 1, "header_height": top, "app_hash": signed.app_hash,
                  "signed": {"validators": len(signed.signed), "of": signed.known,
                             "trusted": signed.trusted},
                  "value_hex": res.value.hex() if res.code == 0 else None,
                  "value": _decode_value(res.value) if res.code == 0 else None,
                  "proof": shown}
        if not signed.trusted:
            unsigned.append(answer)
            raise UntrustedNode(f"{client.url}: {len(signed.signed)} of the {signed.known} "
                                "known validators signed its header")
        return answer

    try:
        found = gateway.with_failover(network, call)
    except gateway.GatewayUnavailable as exc:
        if not unsigned:
            if unproven and len(unproven) == len((exc.details or {}).get("tried", [])):
                raise gateway.GatewayUnavailable(
                    message="The chain has no proven state yet.") from None
            raise
        # No node showed a header two thirds of the known validators signed (a change of
        # validators under way, say): the answer says so (``trusted`` false) beside the
        # proof, rather than showing nothing.
        found = unsigned[0]
    return {"chaincode": chaincode, "key": key, "key_hex": full_key.hex(), **found}


# -- chaincode and validators -----------------------------------------------------------------

def chaincodes(*, network: Network) -> dict[str, Any]:
    """Deployed chaincode: the active version of each with the organisations that approved
    it, and versions proposed but not yet approved by enough organisations."""

    def call(client: Any) -> dict[str, Any]:
        active = gateway._ledger_errors(lambda: client.call("_lifecycle", "list")) or []
        listed = []
        for record in active:
            info = gateway._ledger_errors(
                lambda r=record: client.call("_lifecycle", "inspect", [r["name"]]))
            listed.append({"name": record["name"], "version": record["version"],
                           "approvals": _approvals(client, record["name"], record["version"]),
                           "code_hash": record["code_hash"], "sequence": record.get("sequence"),
                           "height": record.get("height"),
                           "functions": sorted(record.get("exports", {})),
                           "pending": [{"version": p["version"], "code_hash": p["code_hash"],
                                        "approvals": p["approvals"]}
                                       for p in info.get("pending", [])],
                           "required_approvals": info.get("policy", {}).get(
                               "min_organisations")})
        return {"chaincodes": listed}

    return gateway.with_failover(network, call)


def _approvals(client: Any, name: str, version: str) -> list[str]:
    """The organisations whose approval activated ``name`` ``version``: the chain keeps
    only pending proposals, so they are read back from the ``chaincode_approved`` events
    (none for chaincode installed in genesis)."""
    if not CHAINCODE_RE.match(name) or not re.fullmatch(r"[0-9A-Za-z.+_-]{1,32}", version):
        return []  # nothing a query could be built from safely
    res = gateway._ledger_errors(lambda: client.rpc("tx_search", {
        "query": f"chaincode_approved.name='{name}' AND chaincode_approved.version='{version}'",
        "page": "1", "per_page": "100"}))
    orgs: list[str] = []
    for item in (res or {}).get("txs", []):
        if int(item.get("tx_result", {}).get("code", 0)):
            continue
        for event in _events(item.get("tx_result", {}).get("events", [])):
            org = event["attributes"].get("org")
            if event["type"] == "chaincode_approved" and org and org not in orgs:
                orgs.append(org)
    return orgs


def validators(*, network: Network) -> dict[str, Any]:
    """The validator set with voting power, the node's name when the platform runs it and
    the newest block each one signed within the last ``SIGNATURE_LOOKBACK`` blocks."""

    def call(client: Any) -> dict[str, Any]:
        top = client.height()
        res = gateway._ledger_errors(lambda: client.rpc("validators", {
            "height": str(top), "per_page": "100"}))
        vals = res.get("validators", [])
        last: dict[str, int] = {}
        wanted = {v["address"].upper() for v in vals}
        for h in range(top, max(0, top - SIGNATURE_LOOKBACK), -1):
            commit = gateway._ledger_errors(lambda h=h: client.rpc("commit",
                                                                   {"height": str(h)}))
            for sig in commit["signed_header"]["commit"].get("signatures", []):
                addr = str(sig.get("validator_address") or "").upper()
                # 2 = BLOCK_ID_FLAG_COMMIT: it signed this block (1 absent, 3 nil).
                if addr and int(sig.get("block_id_flag", 0)) == 2 and addr not in last:
                    last[addr] = h
            if wanted <= set(last):
                break
        return {"height": top, "vals": vals, "last": last}

    found = gateway.with_failover(network, call)
    names = _node_names(network)
    total = sum(int(v.get("voting_power", 0)) for v in found["vals"]) or 1
    rows = [{"address": v["address"].upper(),
             "pub_key": (v.get("pub_key") or {}).get("value", ""),
             "voting_power": int(v.get("voting_power", 0)),
             "share": round(100 * int(v.get("voting_power", 0)) / total, 1),
             "name": names.get(v["address"].upper()),
             "last_signed": found["last"].get(v["address"].upper())}
            for v in found["vals"]]
    return {"height": found["height"], "lookback": SIGNATURE_LOOKBACK, "validators": rows}
