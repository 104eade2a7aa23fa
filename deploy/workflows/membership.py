"""Consortium membership on chain: registering a member's organisation, and taking a
member out (its validators, then its organisation and keys, then the membership)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from baas.runner import Run, Superseded
from deploy import chain
from deploy.choices import NETWORK_LIVE, NetworkStatus, NodeStatus
from deploy.models import Network, NetworkIdentity, NetworkMembership, SigningKey
from deploy.workflows.validators import take_out


def org_add(run: Run, network_id: str, tenant: Any) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status != NetworkStatus.RUNNING:
        raise Superseded(reason=f"The network is {network.status}; the first validator add of the "
                         "member registers its organisation instead.")
    chain.register_org(network, tenant)
    run.succeed("org_registered", f"organisation {tenant.slug} registered on chain",
                org=tenant.slug)


def member_remove(run: Run, network_id: str, membership_id: int) -> None:
    network = Network.objects.get(pk=network_id)
    membership = NetworkMembership.objects.select_related("tenant").filter(
        pk=membership_id, network=network).first()
    if membership is None:
        run.succeed("already_removed", "already removed")
        return
    member = membership.tenant
    nodes = list(network.nodes.filter(tenant=member).exclude(status=NodeStatus.DELETED)
                 .order_by("index"))
    for node in nodes:
        take_out(run, network, node)
        run.step(75, "node_removed", f"removed {node.moniker}", node=node.moniker)
    identity = NetworkIdentity.objects.filter(network=network, tenant=member).first()
    # A member that joined a stopped network and never transacted has a key but no
    # organisation on chain yet: nothing to take off, and no chain to ask.
    if identity is not None and (membership.org_registered_at is not None
                                 or network.status in NETWORK_LIVE):
        chain.governance_tx(network, "_identity", "remove_org", {"id": identity.organisation_id},
                            already_done="does not exist")
        run.step(90, "org_removed_from_chain",
                 f"organisation {identity.organisation_id} and its keys are off the chain",
                 org=identity.organisation_id)
    with transaction.atomic():
        NetworkIdentity.objects.filter(network=network, tenant=member).delete()
        # remove_org took every key of the organisation off the chain, people's included
        SigningKey.objects.filter(network=network, tenant=member).delete()
        membership.delete()
    run.succeed("member_removed", f"{member.slug} is no longer a member", member=member.slug)
