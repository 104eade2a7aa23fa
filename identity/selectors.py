"""Reads of the identity app: the platform's rows (``Did``, ``DidRegistry``) and the chain's
record of a DID (``_did.resolve`` on a node of its network).

Rows are an index; documents and their history are always read from the network.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from baas.errors import AppError, Conflict, NotFound
from deploy import gateway
from deploy.models import Network
from identity.models import Did, DidRegistry

# The newest versions a DID's page and API answer list (each is one query of a node).
MAX_VERSIONS_LISTED = 20


def did_list(*, tenant: Any) -> QuerySet[Did]:
    return Did.objects.for_tenant(tenant).select_related("network", "user") \
        .order_by("-created_at")


def did_get(*, tenant: Any, did_id: Any) -> Did:
    """One DID of ``tenant``; anything else (another tenant's, a bad id) is 404."""
    try:
        uuid.UUID(str(did_id))
    except ValueError:
        raise NotFound("not_found", "DID not found.") from None
    did = did_list(tenant=tenant).filter(pk=did_id).first()
    if did is None:
        raise NotFound("not_found", "DID not found.")
    return did


def organisation_did(*, tenant: Any) -> Did | None:
    """The organisation's live DID (at most one, by constraint), for its profile."""
    return Did.objects.for_tenant(tenant).filter(
        subject="organisation", status__in=["pending", "active"]) \
        .select_related("network").first()


def registry_of(network: Network) -> DidRegistry | None:
    return DidRegistry.objects.filter(network=network).first()


def registry_list(*, tenant: Any) -> QuerySet[DidRegistry]:
    """Registries of the networks ``tenant`` owns."""
    return DidRegistry.objects.for_tenant(tenant).select_related("network") \
        .order_by("namespace")


def did_networks(*, tenant: Any) -> QuerySet[Network]:
    """Networks ``tenant`` may read that hold a DID registry and run: where it may create
    DIDs."""
    from deploy.choices import NETWORK_LIVE

    return Network.objects.reachable_by(tenant).filter(
        did_registry__isnull=False, status__in=NETWORK_LIVE).select_related("did_registry") \
        .order_by("name")


def owned_networks(*, tenant: Any) -> QuerySet[Network]:
    """Networks ``tenant`` owns (only their owner sets up a registry), with their registry."""
    from deploy.choices import NetworkStatus

    return Network.objects.filter(tenant=tenant).exclude(status=NetworkStatus.DELETED) \
        .select_related("did_registry").order_by("name")


def namespace_taken(namespace: str) -> bool:
    return DidRegistry.objects.filter(namespace=namespace).exists()


def suffix_of(did: str) -> str:
    return did.rsplit(":", 1)[-1]


# -- the chain -------------------------------------------------------------------------------
def _chain_call(network: Network, function: str, args: Any) -> Any:
    """A read of the ``_did`` system chaincode; ``None`` for ``NOT_FOUND``. The gateway
    refuses tenant calls to ``_*`` chaincode, so the client is called directly here, after
    the service or view checked who asks."""
    from ledger.client import QueryFailed, RpcError
    from ledger.errors import Code

    def call(client: Any) -> Any:
        try:
            return client.call("_did", function, args)
        except QueryFailed as exc:
            if exc.code == Code.NOT_FOUND:
                return None
            if exc.code in (Code.UNKNOWN_CHAINCODE, Code.UNKNOWN_FUNCTION):
                raise Conflict(
                    "did_upgrade_needed",
                    "This network's ledger version has no DID registry (_did); upgrade the "
                    "network's ledger version first.") from None
            raise AppError("query_failed", f"The query failed: {exc.log}", status=422,
                           details={"code": exc.code, "log": exc.log}) from None
        except RpcError as exc:
            raise AppError("ledger_error", f"The node refused the request: {exc.message}",
                           status=422) from None

    return gateway.with_failover(network, call)


def chain_config(network: Network) -> dict[str, Any]:
    """``_did.config()``: ``{"namespace", "dids"}``; 409 ``did_upgrade_needed`` on a ledger
    version without ``_did``."""
    config = _chain_call(network, "config", [])
    return config if isinstance(config, dict) else {"namespace": None, "dids": 0}


def chain_record(network: Network, suffix: str, *, version_id: int | None = None) -> \
        dict[str, Any] | None:
    """``_did.resolve``: the record of the latest (or one) version, or None."""
    args: dict[str, Any] = {"did": suffix}
    if version_id is not None:
        args["version_id"] = version_id
    record = _chain_call(network, "resolve", args)
    return record if isinstance(record, dict) else None


def chain_versions(network: Network, suffix: str, latest: dict[str, Any]) -> \
        list[dict[str, Any]]:
    """The newest ``MAX_VERSIONS_LISTED`` version records, newest first."""
    count = int(latest.get("versions") or latest.get("version") or 0)
    out: list[dict[str, Any]] = []
    for version in range(count, max(0, count - MAX_VERSIONS_LISTED), -1):
        record = latest if version == latest.get("version") else \
            chain_record(network, suffix, version_id=version)
        if record is not None:
            out.append(record)
    return out


def _rfc3339(ns: Any) -> str | None:
    from identity.did.did_baas import rfc3339

    return rfc3339(ns) if isinstance(ns, int) else None


def render(did: str, record: dict[str, Any]) -> dict[str, Any]:
    """``{"document", "metadata"}`` of one ``_did.resolve`` record, by the method's rules
    (``identity.did.did_baas``; no document once deactivated)."""
    from identity.did.did_baas import render as render_record

    document, metadata = render_record(did, record)
    return {"document": document, "metadata": metadata}


def did_chain(did: Did) -> dict[str, Any]:
    """What the network says of ``did``: ``document``, ``metadata`` and ``versions``
    (newest first, each ``{"version", "updated", "deactivated", "tx", "height"}``), or an
    ``error`` (``{"code", "message"}``) when no node answers; never raises for the chain."""
    try:
        record = chain_record(did.network, suffix_of(did.did))
        if record is None:
            return {"document": None, "metadata": None, "versions": [],
                    "error": {"code": "not_on_chain",
                              "message": "The network does not know this DID."}}
        versions = chain_versions(did.network, suffix_of(did.did), record)
    except AppError as exc:
        return {"document": None, "metadata": None, "versions": [],
                "error": {"code": exc.code, "message": exc.message}}
    return {**render(did.did, record), "record": record, "versions": [
        {"version": v.get("version"), "updated": _rfc3339(v.get("updated")),
         "deactivated": bool(v.get("deactivated")), "tx": v.get("tx"),
         "height": v.get("height")} for v in versions]}
