"""Portal pages for consortiums: invite and revoke on the network page, accept and decline
on the networks list, and what a member may and may not see or do there."""

from __future__ import annotations

import pytest
from django.test import Client

from deploy.choices import InvitationStatus, NetworkStatus
from deploy.models import ConsortiumInvitation, NetworkMembership
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch, key_file):
    monkeypatch.setattr("deploy.tasks.consortium_org_add_task.delay", lambda *a: None)


def browser_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def world():
    a, b = MembershipFactory(role="owner"), MembershipFactory(role="owner")
    network = NetworkFactory(tenant=a.tenant, status=NetworkStatus.RUNNING, validator_count=2)
    own = NodeFactory(network=network)
    return a, b, network, own


def test_owner_invites_member_accepts_and_sees_the_network(world):
    a, b, network, own = world
    owner, member = browser_for(a), browser_for(b)
    page = owner.get(f"/networks/{network.pk}/")
    assert b"Invite an organisation" in page.content

    res = owner.post(f"/networks/{network.pk}/invite/", {"tenant": b.tenant.slug,
                                                         "role": "validator"})
    assert res.status_code == 302
    invitation = ConsortiumInvitation.objects.get(network=network)
    assert b.tenant.slug.encode() in owner.get(f"/networks/{network.pk}/").content

    listing = member.get("/networks/")
    assert b"Invitations to join networks" in listing.content
    assert network.name.encode() in listing.content
    res = member.post(f"/consortium-invitations/{invitation.pk}/accept/")
    assert res.status_code == 302 and res["Location"] == f"/networks/{network.pk}/"
    assert NetworkMembership.objects.filter(network=network, tenant=b.tenant).exists()

    # The member sees the network but none of the owner's controls or node logs.
    member_node = NodeFactory(network=network, tenant=b.tenant)
    page = member.get(f"/networks/{network.pk}/").content.decode()
    assert "your organisation is a member" in page
    for control in (f"/networks/{network.pk}/stop/", f"/networks/{network.pk}/delete/",
                    "Invite an organisation", f"/nodes/{own.pk}/logs/"):
        assert control not in page, control
    assert f"/nodes/{member_node.pk}/logs/" in page
    assert member.get(f"/networks/{network.pk}/nodes/{own.pk}/logs/").status_code == 404
    assert member.get(f"/networks/{network.pk}/stop/").status_code == 404
    assert member.post(f"/networks/{network.pk}/delete/",
                       {"confirm_name": network.name}).status_code == 404
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    assert member.post(f"/networks/{network.pk}/invite/",
                       {"tenant": a.tenant.slug, "role": "observer"}).status_code == 400


def test_invite_errors_show_next_to_the_field(world):
    a, b, network, _own = world
    res = browser_for(a).post(f"/networks/{network.pk}/invite/", {"tenant": "no-such-org",
                                                                  "role": "validator"})
    assert res.status_code == 400 and b"no-such-org" in res.content
    assert not ConsortiumInvitation.objects.exists()


def test_revoke_and_decline(world):
    a, b, network, _own = world
    owner, member = browser_for(a), browser_for(b)
    owner.post(f"/networks/{network.pk}/invite/", {"tenant": b.tenant.slug, "role": "observer"})
    inv = ConsortiumInvitation.objects.get()
    assert owner.post(f"/networks/{network.pk}/invitations/{inv.pk}/revoke/").status_code == 302
    inv.refresh_from_db()
    assert inv.status == InvitationStatus.REVOKED
    revoke_url = f"/invitations/{inv.pk}/revoke/"
    assert revoke_url not in owner.get(f"/networks/{network.pk}/").content.decode()
    assert b"Invitations to join networks" not in member.get("/networks/").content

    owner.post(f"/networks/{network.pk}/invite/", {"tenant": b.tenant.slug, "role": "observer"})
    inv = ConsortiumInvitation.objects.get(status=InvitationStatus.PENDING)
    # A third tenant cannot answer it, nor revoke it.
    c = browser_for(MembershipFactory(role="owner"))
    assert c.post(f"/consortium-invitations/{inv.pk}/accept/").status_code == 404
    assert c.post(f"/networks/{network.pk}/invitations/{inv.pk}/revoke/").status_code == 404
    assert member.post(f"/consortium-invitations/{inv.pk}/decline/").status_code == 302
    inv.refresh_from_db()
    assert inv.status == InvitationStatus.DECLINED
    assert not NetworkMembership.objects.exists()
    assert member.get(f"/networks/{network.pk}/").status_code == 404
