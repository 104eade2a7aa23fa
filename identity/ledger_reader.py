"""Reading did:baas records from the networks that hold them (the Django side of the method).

``LedgerReader`` is the *reader* ``identity.did.did_baas.BaasMethod`` takes: namespace ->
``DidRegistry`` -> network, then ``_did.resolve`` on one of its nodes with failover
(``on_a_node``: the gateway's node order and refusals, ``deploy.gateway.candidate_nodes``,
with ledger clients reused between requests; the gateway itself refuses tenants' calls to
``_*`` chaincode, so the client is called directly). With ``proof`` the version record is also
read from ``/state`` with a Merkle proof, which is checked here against the app hash in the
header of the next block (``ledger.state.verify_proof``) before it is handed on.

The public resolver (``public_only=True``) sees only registries with ``public=True``; any
other namespace is ``notFound`` exactly as one that does not exist, with the same message.

Answers are cached (Django's cache): latest-version resolutions for
``BAAS_DID_CACHE_SECONDS`` (5 s by default; a rotation shows after at most that), a given
``versionId`` for ``BAAS_DID_VERSION_CACHE_SECONDS`` once a later version exists (its
state never changes again, nor do ``nextVersionId``/``nextUpdate``); the latest version
asked by ``versionId`` is cached for the short time, as its metadata changes with the next
update.
The registry is looked up on every call, so a registry taken out of the public resolver
answers ``notFound`` at once, cache or not.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from identity.did.did_baas import PREFIX, check_proof, state_key
from identity.did.errors import InternalError, NotFound
from identity.models import DidRegistry

DEFAULT_CACHE_SECONDS = 5
DEFAULT_VERSION_CACHE_SECONDS = 3600
# How long a proof waits for the block after the one that wrote a version (its header
# carries the app hash the proof is checked against).
PROOF_WAIT_SECONDS = 10.0


def cache_seconds() -> int:
    return int(getattr(settings, "BAAS_DID_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))


def version_cache_seconds() -> int:
    return int(getattr(settings, "BAAS_DID_VERSION_CACHE_SECONDS",
                       DEFAULT_VERSION_CACHE_SECONDS))


def _not_found(namespace: str, suffix: str) -> NotFound:
    # One message for "no such namespace", "not public" and "no such DID".
    return NotFound(_("%(did)s was not found.") % {"did": f"{PREFIX}{namespace}:{suffix}"})


def registry_get(*, namespace: str, public_only: bool) -> DidRegistry | None:
    registries = DidRegistry.objects.select_related("network").filter(namespace=namespace)
    if public_only:
        registries = registries.filter(public=True)
    return registries.first()


def registry_key(namespace: str) -> str:
    return f"identity:registry:{namespace}"


def registry_entry(namespace: str) -> tuple[str, bool]:
    """(network id, public) of ``namespace``'s registry, ``("", False)`` for none; cached
    for ``BAAS_DID_CACHE_SECONDS`` like the answers themselves, and dropped at once by
    ``forget_registry`` when a registry is made or its public flag changes (so this
    process sees a switch to private at once, other processes within that time). A
    database query on every resolution was most of a cached answer's cost."""
    key = registry_key(namespace)
    entry = cache.get(key) if cache_seconds() > 0 else None
    if entry is None:
        row = DidRegistry.objects.filter(namespace=namespace).values_list(
            "network_id", "public").first()
        entry = (str(row[0]), bool(row[1])) if row else ("", False)
        if cache_seconds() > 0:
            cache.set(key, entry, cache_seconds())
    return entry


def forget_registry(namespace: str) -> None:
    cache.delete(registry_key(namespace))


class LedgerReader:
    """``reader(namespace, suffix, version_id=, version_time=, proof=)`` -> the
    ``_did.resolve`` record, with ``"proof"`` when asked."""

    def __init__(self, *, public_only: bool = True, use_cache: bool = True) -> None:
        self.public_only = public_only
        self.use_cache = use_cache

    def __call__(self, namespace: str, suffix: str, *, version_id: int | None = None,
                 version_time: int | None = None, proof: bool = False) -> dict[str, Any]:
        network_id, public = registry_entry(namespace)
        if not network_id or (self.public_only and not public):
            raise _not_found(namespace, suffix)
        if version_time is not None and version_time < 0:
            raise _not_found(namespace, suffix)
        key = (f"identity:did:{network_id}:{suffix}:{version_id}:{version_time}:"
               f"{int(proof)}")
        if self.use_cache and (cache_seconds() > 0 or version_cache_seconds() > 0):
            cached = cache.get(key)
            if cached is not None:
                if cached == "missing":
                    raise _not_found(namespace, suffix)
                return cached
        registry = registry_get(namespace=namespace, public_only=self.public_only)
        if registry is None:
            raise _not_found(namespace, suffix)
        try:
            record = read_record(registry, suffix, version_id=version_id,
                                 version_time=version_time, proof=proof)
        except NotFound:
            if self.use_cache and cache_seconds() > 0:
                cache.set(key, "missing", cache_seconds())  # never the long time-to-live
            raise _not_found(namespace, suffix) from None
        if record.get("namespace") != namespace:
            # The chain's namespace is the authority; a registry row that disagrees with it
            # must not make a DID resolvable under a name the network never took.
            raise _not_found(namespace, suffix)
        ttl = record_cache_seconds(record, version_id=version_id)
        if self.use_cache and ttl > 0:
            cache.set(key, record, ttl)
        return record


def record_cache_seconds(record: dict[str, Any], *, version_id: int | None) -> int:
    """How long ``record`` may be cached: long only for a version that has a successor,
    whose whole answer (state and metadata) is final; the latest version's metadata gains
    ``nextVersionId``/``nextUpdate`` at the next update."""
    try:
        superseded = int(record["version"]) < int(record["versions"])
    except (KeyError, TypeError, ValueError):
        superseded = False
    return version_cache_seconds() if version_id is not None and superseded else \
        cache_seconds()


def read_record(registry: DidRegistry, suffix: str, *, version_id: int | None = None,
                version_time: int | None = None, proof: bool = False) -> dict[str, Any]:
    """``_did.resolve`` on the registry's network (failover between its nodes)."""
    from ledger.client import QueryFailed, RpcError
    from ledger.errors import Code

    args: dict[str, Any] = {"did": suffix}
    if version_id is not None:
        args["version_id"] = version_id
    if version_time is not None:
        args["version_time"] = version_time

    def call(client: Any) -> dict[str, Any]:
        try:
            record = client.call("_did", "resolve", args)
        except QueryFailed as exc:
            if exc.code == Code.NOT_FOUND:
                raise NotFound(exc.log) from None
            raise InternalError(f"the network refused the look-up: {exc.log}") from None
        except RpcError as exc:
            raise InternalError(f"the node refused the look-up: {exc.message}") from None
        if not isinstance(record, dict):
            raise InternalError("the network answered something other than a DID record")
        if proof:
            record = {**record, "proof": prove(client, record)}
        return record

    return on_a_node(registry.network, call)


# One client per node address per process, reused: making an ``httpx.Client`` costs about
# 30 ms (it builds an SSL context even for http:// and unix:// nodes), which made every
# uncached resolution ten times slower through ``deploy.gateway.with_failover`` (a client
# per call). The order of nodes and the refusals are the gateway's (``candidate_nodes``).
_CLIENTS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
MAX_CLIENTS = 64


def _client(url: str, chain_id: str) -> Any:
    from deploy import conf
    from ledger.client import LedgerClient

    key = (url, chain_id)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            _CLIENTS.move_to_end(key)
            return client
        client = LedgerClient(url, chain_id=chain_id,
                              timeout=float(conf.setting("DEPLOY_GATEWAY_TIMEOUT_S")))
        _CLIENTS[key] = client
        while len(_CLIENTS) > MAX_CLIENTS:
            _CLIENTS.popitem(last=False)[1].close()
        return client


def on_a_node(network: Any, call: Any) -> Any:
    """``call(client)`` on the network's best node, then the next one when a node cannot
    be reached (as ``deploy.gateway.with_failover``, with reused clients)."""
    from baas.errors import AppError
    from deploy.gateway import candidate_nodes
    from ledger.client import ClientTimeout, ConnectionFailed

    try:
        nodes = candidate_nodes(network)
    except AppError as exc:  # network not running, no node with an address
        raise InternalError(
            _("The network that holds this DID cannot be reached: %(reason)s")
            % {"reason": exc.message}) from None
    for node in nodes:
        try:
            return call(_client(node.rpc_url, network.chain_id))
        except (ConnectionFailed, ClientTimeout):
            continue
    raise InternalError(_("The network that holds this DID cannot be reached: no node "
                          "answered."))


def prove(client: Any, record: dict[str, Any]) -> dict[str, Any]:
    """A state proof of ``record``'s version, checked against the app hash in a block
    header; raises ``InternalError`` when the node's answer does not hold or the node
    refuses a step (``ConnectionFailed``/``ClientTimeout`` pass, so the caller fails over
    to another node)."""
    from ledger.client import QueryFailed, RpcError

    try:
        return _prove(client, record)
    except QueryFailed as exc:  # a pruned height, a refused /state query
        raise InternalError(f"the node refused the proof query: {exc.log}") from None
    except RpcError as exc:
        raise InternalError(f"the node refused a step of the proof: {exc.message}") from None


def _prove(client: Any, record: dict[str, Any]) -> dict[str, Any]:
    from deploy import rpc
    from ledger import canonical

    key = state_key(record)
    written = int(record["height"])
    latest = client.height()
    deadline = time.monotonic() + PROOF_WAIT_SECONDS
    while latest <= written:  # the block after the write carries the app hash we need
        if time.monotonic() > deadline:
            raise InternalError("no block after the one that wrote this version yet")
        time.sleep(0.2)
        latest = client.height()
    height = latest - 1  # any height from ``written`` on holds the record, unchanged
    answer = client.query("/state", key, height=height, prove=True)
    try:
        proof = json.loads(answer.proof)
        app_hash = bytes.fromhex(rpc.app_hash(client.url, height + 1))
        value = canonical.decode(answer.value, max_depth=64)
    except (ValueError, TypeError, rpc.RpcError) as exc:
        raise InternalError(f"the node's proof could not be read: {exc}") from None
    if not check_proof(key=key, value=answer.value, proof=proof, app_hash=app_hash):
        raise InternalError("the node's state proof does not match the block's app hash")
    same = (value.get("version") == record["version"]
            and value.get("state") == record["state"]
            and value.get("deactivated") == record["deactivated"]
            and value.get("updated") == record["updated"])
    if not same:
        raise InternalError("the proven version record differs from the node's answer")
    return {
        "type": "BaasStateProof",
        "key": key.decode(),
        "value": answer.value.decode("utf-8"),
        "height": height,
        "appHash": app_hash.hex(),
        "appHashBlock": height + 1,
        "merkleProof": proof,
        # What was checked, said exactly: the Merkle proof against the app hash of one
        # node's header of block appHashBlock. Not the validators' commit signatures over
        # that header, so the proof is as good as that node; a client that needs more
        # checks appHash against a commit it verifies itself.
        "checked": "merkleProof against appHash of the node's header of appHashBlock",
        "commitChecked": False,
    }
