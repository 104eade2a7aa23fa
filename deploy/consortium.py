"""Consortiums: the owner tenant of a network invites other tenants, who accept and then
read the network and (with the ``validator`` role) run validators of their own.

On chain, a member tenant is its own organisation (id = its slug) with its own managed
identity as admin, registered through ``_identity.add_org``. That call is governed by the
network's approval policy (``upgrade_policy.min_organisations``). The platform proposes it
with the owner's managed identity, which is enough when the policy needs one organisation
(the default of every network the platform creates). With a policy of N > 1, the add stays
``pending`` until admins of N-1 more organisations send the same call; the platform does
not hold their keys, so it reports ``org_approval_pending`` and does not pretend.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from baas.models import Operation
from baas.operations import enqueue_after_commit, operation_create
from baas.runner import StepFailed
from deploy import chain, homes, platform, tasks
from deploy.choices import (
    NETWORK_LIVE,
    ConsortiumRole,
    InvitationStatus,
    NetworkStatus,
    NodeStatus,
    OperationKind,
)
from deploy.guards import no_active_validator_change, require_owner
from deploy.models import ConsortiumInvitation, Network, NetworkMembership

INVITATION_DAYS = 7
# A network that was never started or is gone cannot take members.
_CLOSED = frozenset({NetworkStatus.DELETING, NetworkStatus.DELETED, NetworkStatus.REJECTED})


def membership_of(network: Network, tenant: Any) -> NetworkMembership | None:
    return NetworkMembership.objects.filter(network=network, tenant=tenant).first()


def may_write(network: Network, tenant: Any) -> bool:
    """The owner, or a member with the validator role: may send transactions and run
    validators. An observer only reads."""
    if network.tenant_id == getattr(tenant, "pk", None):
        return True
    m = membership_of(network, tenant)
    return m is not None and m.role == ConsortiumRole.VALIDATOR


def require_writer(network: Network, tenant: Any) -> None:
    if not may_write(network, tenant):
        raise PermissionDenied(
            "consortium_role", _("Your organisation joined this network as an observer; it "
                                 "reads the network but cannot transact or run validators."))


# --- invitations ---------------------------------------------------------------------------


def invitation_create(
    *, tenant: Any, actor: Any, network: Network, invited_slug: str,
    role: str = ConsortiumRole.VALIDATOR, request: Any = None,
) -> ConsortiumInvitation:
    from tenants.models import Tenant

    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    if role not in ConsortiumRole.values:
        raise ValidationFailed(
            "invalid_role",
            _("role is one of: %(roles)s.") % {"roles": ", ".join(ConsortiumRole.values)},
            details={"role": role},
        )
    if network.status in _CLOSED:
        raise Conflict("invalid_transition",
                       _("A network that is %(status)s cannot take members.")
                       % {"status": network.status},
                       details={"status": network.status})
    invited = Tenant.objects.filter(slug=invited_slug or "").first()
    if invited is None:
        raise NotFound("tenant_not_found",
                       _("There is no organisation '%(slug)s'.") % {"slug": invited_slug})
    if invited.pk == network.tenant_id:
        raise ValidationFailed("cannot_invite_owner", _("The owner is already in the network."))
    if membership_of(network, invited) is not None:
        raise Conflict("already_member",
                       _("%(slug)s is already a member of this network.") % {"slug": invited.slug})
    now = timezone.now()
    # An expired pending invitation makes way for a new one.
    ConsortiumInvitation.objects.filter(
        network=network, invited_tenant=invited, status=InvitationStatus.PENDING,
        expires_at__lte=now,
    ).update(status=InvitationStatus.REVOKED, decided_at=now)
    try:
        with transaction.atomic():
            invitation = ConsortiumInvitation.objects.create(
                network=network, invited_tenant=invited, role=role,
                invited_by=actor if getattr(actor, "pk", None) else None,
                expires_at=now + timedelta(days=INVITATION_DAYS),
            )
            platform.audit(tenant=tenant, actor=actor, action="consortium.invite",
                           target=invitation, request=request,
                           metadata={"network": str(network.pk), "invited": invited.slug,
                                     "role": role})
    except IntegrityError:
        raise Conflict("invitation_pending",
                       _("%(slug)s already has a pending invitation to this network.")
                       % {"slug": invited.slug},
                       ) from None
    return invitation


def _pending(invitation: ConsortiumInvitation) -> ConsortiumInvitation:
    locked = ConsortiumInvitation.objects.select_for_update().get(pk=invitation.pk)
    status = locked.effective_status
    if status != InvitationStatus.PENDING:
        raise Conflict(
            "invitation_expired" if status == InvitationStatus.EXPIRED else "invalid_transition",
            _("This invitation is %(status)s.") % {"status": status}, details={"status": status},
        )
    return locked


def _decide(invitation: ConsortiumInvitation, actor: Any, status: str) -> None:
    invitation.status = status
    invitation.decided_at = timezone.now()
    invitation.decided_by = actor if getattr(actor, "pk", None) else None
    invitation.save(update_fields=["status", "decided_at", "decided_by"])


def invitation_revoke(
    *, tenant: Any, actor: Any, invitation: ConsortiumInvitation, request: Any = None
) -> ConsortiumInvitation:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, invitation.network)
    with transaction.atomic():
        locked = _pending(invitation)
        _decide(locked, actor, InvitationStatus.REVOKED)
        platform.audit(tenant=tenant, actor=actor, action="consortium.revoke", target=locked,
                       request=request)
    return locked


def _invited_only(tenant: Any, invitation: ConsortiumInvitation) -> None:
    if invitation.invited_tenant_id != getattr(tenant, "pk", None):
        raise NotFound("not_found", _("Invitation not found."))


def invitation_decline(
    *, tenant: Any, actor: Any, invitation: ConsortiumInvitation, request: Any = None
) -> ConsortiumInvitation:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    _invited_only(tenant, invitation)
    with transaction.atomic():
        locked = _pending(invitation)
        _decide(locked, actor, InvitationStatus.DECLINED)
        for t in (tenant, locked.network.tenant):  # both sides see it in their audit log
            platform.audit(tenant=t, actor=actor, action="consortium.decline", target=locked,
                           request=request)
    return locked


def invitation_accept(
    *, tenant: Any, actor: Any, invitation: ConsortiumInvitation, request: Any = None
) -> tuple[NetworkMembership, Operation | None]:
    """Join the network. For the validator role, registering the member's organisation on
    chain is queued at once (an operation) if the network runs; otherwise the member's
    first transaction or validator add does it (``ensure_registered``)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    _invited_only(tenant, invitation)
    with transaction.atomic():
        locked = _pending(invitation)
        network = Network.objects.select_for_update().get(pk=locked.network_id)
        if network.status in _CLOSED:
            raise Conflict("invalid_transition",
                           _("A network that is %(status)s cannot take members.")
                           % {"status": network.status})
        _decide(locked, actor, InvitationStatus.ACCEPTED)
        membership = NetworkMembership.objects.create(
            network=network, tenant=tenant, role=locked.role, invitation=locked
        )
        writer = locked.role == ConsortiumRole.VALIDATOR
        if writer:  # an observer gets no key and no organisation on chain: it only reads
            homes.managed_identity(network, tenant)
        for t in (tenant, network.tenant):
            platform.audit(tenant=t, actor=actor, action="consortium.accept", target=locked,
                           request=request, metadata={"network": str(network.pk),
                                                      "member": tenant.slug,
                                                      "role": locked.role})
        op = None
        if writer and network.status == NetworkStatus.RUNNING:
            op = org_register_queue(network=network, tenant=tenant, actor=actor)
    return membership, op


def org_register_queue(*, network: Network, tenant: Any, actor: Any) -> Operation:
    op = operation_create(
        tenant=tenant, actor=actor, kind=OperationKind.ORG_ADD,
        target=("deploy.network", network.pk), deadline=timedelta(minutes=5),
    )
    enqueue_after_commit(tasks.consortium_org_add_task, str(network.pk), tenant.pk, op.pk)
    return op


# --- leaving ---------------------------------------------------------------------------------


def member_remove(
    *, tenant: Any, actor: Any, network: Network, member_slug: str, request: Any = None
) -> Operation:
    """The owner removes a member, or a member leaves. Queued: the member's validators
    leave the set and are deleted, then its organisation and keys leave the chain, then
    the membership goes (``deploy.tasks.consortium_member_remove_task``)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    membership = members(network=network).filter(tenant__slug=member_slug).first()
    if membership is None:
        raise NotFound("not_found", _("No member %(slug)s on this network.")
                       % {"slug": member_slug})
    leaving = membership.tenant_id == tenant.pk
    if not leaving:
        require_owner(tenant, network)
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        nodes = locked.nodes.filter(tenant=membership.tenant).exclude(status=NodeStatus.DELETED)
        on_chain = nodes.exists() or membership.org_registered_at is not None
        if on_chain and locked.status not in NETWORK_LIVE:
            raise Conflict(
                "network_not_running",
                _("The network is %(status)s; it must run to take the member's validators "
                  "and organisation off the chain.") % {"status": locked.status},
                details={"status": locked.status},
            )
        # Nodes the chain may count (not planned, given up on or gone), down ones included.
        validators = nodes.exclude(status__in=[NodeStatus.PENDING, NodeStatus.FAILED]).count()
        if validators and locked.validator_count - validators < 1:
            raise Conflict("last_validator",
                           _("The member runs every validator of this network; add another "
                             "validator first."))
        no_active_validator_change(locked)
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.MEMBER_REMOVE,
            target=("deploy.network", locked.pk),
            deadline=timedelta(minutes=5 + 5 * nodes.count()),
            params={"membership_id": membership.pk},
        )
        for t in {tenant.pk: tenant, locked.tenant_id: locked.tenant,
                  membership.tenant_id: membership.tenant}.values():
            platform.audit(tenant=t, actor=actor, action="consortium.member_remove",
                           target=locked, request=request,
                           metadata={"member": member_slug, "leaving": leaving})
        enqueue_after_commit(tasks.consortium_member_remove_task, str(locked.pk), membership.pk,
                             op.pk)
    return op


# --- on chain --------------------------------------------------------------------------------


def ensure_registered(network: Network, tenant: Any) -> None:
    """Before a member's first transaction: its organisation must exist on chain (a
    network that was stopped when the member joined has not registered it yet)."""
    if network.tenant_id == getattr(tenant, "pk", None):
        return
    try:
        chain.register_org(network, tenant)
    except StepFailed as exc:
        raise Conflict(exc.code, exc.message, details=exc.params) from None
    except AppError as exc:
        if exc.code != "commit_timeout":
            raise
        # Not the caller's tx that timed out: theirs was never sent, and may be sent again.
        raise AppError(
            "org_registration_pending",
            _("Registering your organisation on the chain is taking longer than usual; your "
              "transaction was not sent. Send it again in a few seconds."),
            status=503, details={"registration_hash": exc.details.get("hash")},
        ) from None


# --- reads -----------------------------------------------------------------------------------


def invitations_sent(*, tenant: Any, network: Network):
    require_owner(tenant, network)
    return ConsortiumInvitation.objects.filter(network=network).select_related(
        "invited_tenant", "network", "network__tenant")


def invitations_received(*, tenant: Any):
    """Invitations addressed to ``tenant`` that still wait for an answer."""
    return (
        ConsortiumInvitation.objects.filter(
            invited_tenant=tenant, status=InvitationStatus.PENDING,
            expires_at__gt=timezone.now(),
        ).select_related("network", "network__tenant", "invited_tenant")
    )


def invitation_get_received(*, tenant: Any, invitation_id: Any) -> ConsortiumInvitation:
    import uuid

    try:
        uuid.UUID(str(invitation_id))
    except ValueError:
        raise NotFound("not_found", _("Invitation not found.")) from None
    inv = ConsortiumInvitation.objects.select_related("network").filter(
        pk=invitation_id, invited_tenant=tenant).first()
    if inv is None:
        raise NotFound("not_found", _("Invitation not found."))
    return inv


def members(*, network: Network):
    return NetworkMembership.objects.filter(network=network).select_related("tenant")
