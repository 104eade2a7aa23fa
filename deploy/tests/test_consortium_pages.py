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


def test_owner_removes_a_member_and_a_member_leaves_after_typing_its_identifier(
        world, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("deploy.tasks.consortium_member_remove_task.delay",
                        lambda *a: queued.append(a))
    a, b, network, _own = world
    c = MembershipFactory(role="owner")
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    NetworkMembership.objects.create(network=network, tenant=c.tenant, role="observer")
    owner, member, other = browser_for(a), browser_for(b), browser_for(c)
    url = f"/networks/{network.pk}/members/{b.tenant.slug}/remove/"

    page = owner.get(f"/networks/{network.pk}/").content.decode()
    assert url in page  # a Remove link per member
    page = member.get(f"/networks/{network.pk}/").content.decode()
    assert url in page and "Leave network" in page  # its own row only
    assert f"/members/{c.tenant.slug}/remove/" not in page
    # another member may not remove b
    assert other.get(url).status_code == 404
    assert other.post(url, {"confirm_name": b.tenant.slug}).status_code == 404

    confirm = owner.get(url)
    assert confirm.status_code == 200 and "Type the organisation" in confirm.content.decode()
    wrong = owner.post(url, {"confirm_name": "not-it"})
    assert wrong.status_code == 400 and queued == []
    with django_capture_on_commit_callbacks(execute=True):
        res = owner.post(url, {"confirm_name": b.tenant.slug})
    assert res.status_code == 302 and res["Location"] == f"/networks/{network.pk}/"
    assert len(queued) == 1

    from baas.models import Operation

    Operation.objects.filter(kind="network.member_remove").update(state="succeeded")
    leave = f"/networks/{network.pk}/members/{c.tenant.slug}/remove/"
    with django_capture_on_commit_callbacks(execute=True):
        res = other.post(leave, {"confirm_name": c.tenant.slug})
    assert res.status_code == 302 and res["Location"] == "/networks/"
    assert len(queued) == 2
    stranger = browser_for(MembershipFactory(role="owner"))
    assert stranger.get(url).status_code == 404
