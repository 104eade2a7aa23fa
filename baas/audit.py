"""The audit log: ``audit_record`` appends a hash-chained event, ``audit_verify`` checks it.

Chains are per tenant; events without a tenant (sign-in failures, staff actions on no
tenant) form one global chain. An event's hash is SHA-256 over a canonical JSON of its
fields plus the previous event's hash in the same chain (64 zeros for the first). Appends
lock the chain's ``AuditChainHead`` row, so concurrent writers cannot fork a chain.
Editing any hashed field, or deleting or reordering events, makes ``audit_verify`` report the
first event whose stored hash or link no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from baas.context import current_request_id, current_source_ip

GENESIS = "0" * 64


def _chain_name(tenant_id: int | None) -> str:
    return f"tenant:{tenant_id}" if tenant_id else "global"


def audit_hash(event: Any, prev_hash: str) -> str:
    payload = {
        "tenant": event.tenant_id,
        "actor": event.actor_id,
        "actor_email": event.actor_email,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "metadata": event.metadata,
        "created_at": event.created_at.isoformat(),
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    kind, ident = target
    return str(kind), str(ident)


def audit_record(
    *,
    tenant: Any,
    actor: Any,
    action: str,
    target: Any = None,
    request: Any = None,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Append one event. ``target`` is a model instance, ``(type, id)`` or ``None``.

    Source IP and request id come from ``request`` if given, else from the request context
    set by ``baas.middleware.RequestContextMiddleware``.
    """
    from tenants.models import AuditChainHead, AuditEvent

    target_type, target_id = _target(target)
    actor_obj = actor if getattr(actor, "pk", None) else None
    source_ip = getattr(request, "source_ip", None) if request else current_source_ip()
    request_id = getattr(request, "request_id", "") if request else current_request_id()
    event = AuditEvent(
        tenant=tenant,
        actor=actor_obj,
        actor_email=getattr(actor_obj, "email", "") or "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        source_ip=source_ip,
        request_id=request_id or "",
        # Round-trip through JSON so the stored value hashes the same when read back.
        metadata=json.loads(json.dumps(metadata or {}, default=str)),
        created_at=timezone.now(),
    )
    with transaction.atomic():
        chain = _chain_name(getattr(tenant, "pk", None))
        AuditChainHead.objects.get_or_create(chain=chain, defaults={"last_hash": GENESIS})
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        event.prev_hash = head.last_hash
        event.hash = audit_hash(event, head.last_hash)
        event.save()
        head.last_hash = event.hash
        head.save(update_fields=["last_hash"])
    return event


def audit_verify(*, tenant: Any = None) -> tuple[bool, int | None]:
    """Walk one tenant's chain (or every chain when ``tenant`` is None) in id order.

    Returns ``(True, None)`` or ``(False, id_of_first_bad_event)``. A chain whose head row
    does not match its last event (events deleted from the end) reports the last event.
    """
    from tenants.models import AuditChainHead, AuditEvent

    events = AuditEvent.objects.order_by("id")
    if tenant is not None:
        events = events.filter(tenant=tenant)
    prev_by_chain: dict[str, str] = {}
    last_by_chain: dict[str, int] = {}
    for event in events.iterator(chunk_size=1000):
        chain = _chain_name(event.tenant_id)
        prev = prev_by_chain.get(chain, GENESIS)
        if event.prev_hash != prev or audit_hash(event, prev) != event.hash:
            return False, event.id
        prev_by_chain[chain] = event.hash
        last_by_chain[chain] = event.id
    heads = AuditChainHead.objects.all()
    if tenant is not None:
        heads = heads.filter(chain=_chain_name(tenant.pk))
    for head in heads:
        if head.last_hash != prev_by_chain.get(head.chain, GENESIS):
            return False, last_by_chain.get(head.chain)
    return True, None
