"""Consortiums: invitations between tenants, membership visibility and its limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from baas.errors import AppError, PermissionDenied
from baas.runner import StepFailed
from deploy import chain, consortium, homes, services
from deploy.choices import NetworkStatus
from deploy.models import ConsortiumInvitation, NetworkIdentity, NetworkMembership
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def queued(monkeypatch, key_file):
    sent: list[tuple[str, tuple]] = []
    for name in ("consortium_org_add_task", "validator_add_task", "network_stop_task",
                 "network_delete_task", "consortium_member_remove_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay",
                            lambda *a, _n=name: sent.append((_n, a)))
    return sent


@pytest.fixture
def world(db):
    """Owner A with a running network, tenant B (to invite) and an unrelated tenant C."""
    a, b, c = (MembershipFactory(role="owner") for _ in range(3))
    network = NetworkFactory(tenant=a.tenant, status=NetworkStatus.RUNNING)
    node = NodeFactory(network=network)
    return a, b, c, network, node


def api(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=member.user)
    return client


def invite(a, network, b, role="validator"):
    res = api(a).post(f"/api/v1/networks/{network.pk}/invitations/",
                      {"tenant": b.tenant.slug, "role": role}, format="json")
    assert res.status_code == 201, res.content
    return res.json()


def test_invite_accept_and_read(world, queued, django_capture_on_commit_callbacks):
    a, b, c, network, node = world
    inv = invite(a, network, b)
    assert inv["status"] == "pending" and inv["network"]["owner"] == a.tenant.slug

    # Only the invited tenant sees it.
    assert [i["id"] for i in api(b).get("/api/v1/consortium-invitations/").json()["results"]] \
        == [inv["id"]]
    assert api(c).get("/api/v1/consortium-invitations/").json()["results"] == []
    assert api(c).post(f"/api/v1/consortium-invitations/{inv['id']}/accept/").status_code == 404
    # Before accepting, B cannot see the network.
    assert api(b).get(f"/api/v1/networks/{network.pk}/").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        res = api(b).post(f"/api/v1/consortium-invitations/{inv['id']}/accept/")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["invitation"]["status"] == "accepted"
    assert body["membership"] == {**body["membership"], "tenant": b.tenant.slug,
                                  "role": "validator", "organisation_registered": False}
    # The network runs, so registering B's organisation on chain is queued after commit.
    assert queued == [("consortium_org_add_task",
                       (str(network.pk), b.tenant.pk, body["operation"]["id"]))]
    identity = NetworkIdentity.objects.get(network=network, tenant=b.tenant)
    assert identity.organisation_id == b.tenant.slug

    # B now reads the network, its nodes and its members; C still sees nothing.
    listed = api(b).get("/api/v1/networks/").json()["results"]
    assert [(n["id"], n["owner"]) for n in listed] == [(str(network.pk), a.tenant.slug)]
    assert api(b).get(f"/api/v1/networks/{network.pk}/").status_code == 200
    nodes = api(b).get(f"/api/v1/networks/{network.pk}/nodes/").json()["results"]
    assert [n["id"] for n in nodes] == [str(node.pk)]
    members = api(a).get(f"/api/v1/networks/{network.pk}/members/").json()["results"]
    assert [m["tenant"] for m in members] == [b.tenant.slug]
    for url in (f"/api/v1/networks/{network.pk}/", f"/api/v1/networks/{network.pk}/nodes/",
                f"/api/v1/networks/{network.pk}/members/",
                f"/api/v1/networks/{network.pk}/gateway/blocks/",
                f"/api/v1/networks/{network.pk}/invitations/"):
        assert api(c).get(url).status_code == 404, url
    assert api(c).get("/api/v1/networks/").json()["results"] == []
    for action in ("consortium.invite", "consortium.accept"):
        assert AuditEvent.objects.filter(tenant=a.tenant, action=action).exists()
    assert AuditEvent.objects.filter(tenant=b.tenant, action="consortium.accept").exists()


def test_member_gateway_reaches_the_network_but_third_tenant_does_not(world):
    a, b, c, network, _node = world
    network.status = NetworkStatus.STOPPED
    network.save()
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    url = f"/api/v1/networks/{network.pk}/gateway/blocks/"
    # B gets through to the gateway (which answers that the network is not running).
    res = api(b).get(url)
    assert res.status_code == 409 and res.json()["error"]["code"] == "network_not_running"
    assert api(c).get(url).status_code == 404


def test_member_cannot_manage_the_owners_network(world):
    a, b, _c, network, node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    client = api(b)
    for method, url in (("post", f"/api/v1/networks/{network.pk}/stop/"),
                        ("delete", f"/api/v1/networks/{network.pk}/"),
                        ("delete", f"/api/v1/networks/{network.pk}/nodes/{node.pk}/"),
                        ("post", f"/api/v1/networks/{network.pk}/nodes/{node.pk}/restart/"),
                        ("get", f"/api/v1/networks/{network.pk}/nodes/{node.pk}/logs/"),
                        ("get", f"/api/v1/networks/{network.pk}/invitations/")):
        res = getattr(client, method)(url)
        assert res.status_code == 403, (url, res.content)
    assert network.__class__.objects.get(pk=network.pk).status == NetworkStatus.RUNNING
    # Nor invite others to it.
    with pytest.raises(PermissionDenied):
        consortium.invitation_create(tenant=b.tenant, actor=b.user, network=network,
                                     invited_slug=_c.tenant.slug)


def test_member_adds_its_own_validator_as_itself(world, queued,
                                                 django_capture_on_commit_callbacks):
    a, b, _c, network, _node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        res = api(b).post(f"/api/v1/networks/{network.pk}/validators/")
    assert res.status_code == 202, res.content
    op_id = res.json()["operation"]["id"]
    assert queued == [("validator_add_task", (str(network.pk), op_id))]
    from baas.models import Operation

    assert Operation.objects.get(pk=op_id).tenant == b.tenant  # the task runs it as B


def test_observer_cannot_add_validators(world):
    a, b, _c, network, _node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant, role="observer")
    res = api(b).post(f"/api/v1/networks/{network.pk}/validators/")
    assert res.status_code == 403 and res.json()["error"]["code"] == "consortium_role"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"tenant": "nobody-here"}, 404, "tenant_not_found"),
        ({"tenant": "SELF"}, 400, "cannot_invite_owner"),
        ({"tenant": "B", "role": "king"}, 400, "invalid_role"),
    ],
)
def test_invite_errors(world, payload, status, code):
    a, b, _c, network, _node = world
    payload = {k: {"SELF": a.tenant.slug, "B": b.tenant.slug}.get(v, v)
               for k, v in payload.items()}
    res = api(a).post(f"/api/v1/networks/{network.pk}/invitations/", payload, format="json")
    assert res.status_code == status and res.json()["error"]["code"] == code


def test_duplicate_member_and_pending(world):
    a, b, _c, network, _node = world
    invite(a, network, b)
    res = api(a).post(f"/api/v1/networks/{network.pk}/invitations/",
                      {"tenant": b.tenant.slug}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "invitation_pending"
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    res = api(a).post(f"/api/v1/networks/{network.pk}/invitations/",
                      {"tenant": b.tenant.slug}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "already_member"


def test_viewer_cannot_accept_and_decline_revoke_expire(world):
    a, b, _c, network, _node = world
    inv = invite(a, network, b)
    viewer = MembershipFactory(tenant=b.tenant, role="viewer")
    assert api(viewer).post(f"/api/v1/consortium-invitations/{inv['id']}/accept/") \
        .status_code == 403
    res = api(b).post(f"/api/v1/consortium-invitations/{inv['id']}/decline/")
    assert res.status_code == 200 and res.json()["status"] == "declined"
    again = api(b).post(f"/api/v1/consortium-invitations/{inv['id']}/accept/")
    assert again.status_code == 409
    assert not NetworkMembership.objects.exists()

    inv2 = invite(a, network, b)
    res = api(a).delete(f"/api/v1/networks/{network.pk}/invitations/{inv2['id']}/")
    assert res.status_code == 200 and res.json()["status"] == "revoked"

    inv3 = invite(a, network, b)
    ConsortiumInvitation.objects.filter(pk=inv3["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    res = api(b).post(f"/api/v1/consortium-invitations/{inv3['id']}/accept/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "invitation_expired"
    assert api(b).get("/api/v1/consortium-invitations/").json()["results"] == []
    invite(a, network, b)  # an expired invitation makes way for a new one


def test_accept_while_stopped_queues_nothing(world, queued):
    a, b, _c, network, _node = world
    network.status = NetworkStatus.STOPPED
    network.save()
    inv = ConsortiumInvitation.objects.get(pk=invite(a, network, b)["id"])
    membership, op = consortium.invitation_accept(tenant=b.tenant, actor=b.user, invitation=inv)
    assert op is None and queued == [] and membership.role == "validator"


# --- registering the member's organisation on chain -----------------------------------------


@pytest.fixture
def member(world):
    a, b, _c, network, _node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    return network, b.tenant


def _fake_submit(monkeypatch, answer):
    """Record (signing tenant, body) of the platform's governance txs (``deploy.chain``)
    and of the gateway's txs, answering ``answer``."""
    from ledger.tx import decode_tx

    calls = []

    def answer_with() -> dict:
        if isinstance(answer, Exception):
            raise answer
        return {"data": answer}

    def broadcast(*, network, raw, timeout):
        tx = decode_tx(raw)
        signer = NetworkIdentity.objects.get(network=network, public_key=tx.signer).tenant
        calls.append((signer, {"chaincode": tx.chaincode, "function": tx.function,
                               "args": tx.args}))
        return answer_with()

    def submit(*, network, body, signer=None):
        from deploy.models import SigningKey

        key = SigningKey.objects.get(network=network, public_key=signer.public_key_hex)
        calls.append((key.tenant, body))
        return answer_with()

    monkeypatch.setattr("deploy.gateway.broadcast_committed", broadcast)
    monkeypatch.setattr("deploy.gateway.submit_tx", submit)
    return calls


def test_register_org_signed_by_owner_with_member_admin(member, monkeypatch):
    network, tenant = member
    calls = _fake_submit(monkeypatch, {"status": "approved", "approvals": ["a"],
                                       "required": 1})
    chain.register_org(network, tenant)
    [(signer, body)] = calls
    identity = NetworkIdentity.objects.get(network=network, tenant=tenant)
    assert signer == network.tenant  # the owner's managed identity proposes/approves
    from ledger.tx import verify_membership_proof

    proof = body["args"].pop("admin_proof")
    assert body["function"] == "add_org" and body["args"] == {
        "id": tenant.slug, "name": tenant.name, "admin_public_key": identity.public_key}
    assert verify_membership_proof(network.chain_id, tenant.slug, identity.public_key, proof)
    assert NetworkMembership.objects.get(tenant=tenant).org_registered_at is not None
    chain.register_org(network, tenant)  # done once: no second tx
    assert len(calls) == 1


def test_register_org_pending_policy_is_reported(member, monkeypatch):
    network, tenant = member
    _fake_submit(monkeypatch, {"status": "pending", "approvals": ["a"], "required": 2})
    with pytest.raises(StepFailed, match=r"\(1 of 2\)") as raised:
        chain.register_org(network, tenant)
    assert raised.value.code == "org_approval_pending"
    assert NetworkMembership.objects.get(tenant=tenant).org_registered_at is None


def test_register_org_already_existing_counts_as_done(member, monkeypatch):
    network, tenant = member
    _fake_submit(monkeypatch, AppError("tx_rejected", "refused", 422,
                                       details={"log": "organisation 'x' already exists"}))
    chain.register_org(network, tenant)
    assert NetworkMembership.objects.get(tenant=tenant).org_registered_at is not None


def test_member_lifecycle_guard_in_services(member):
    network, tenant = member
    with pytest.raises(PermissionDenied):
        services.network_stop(tenant=tenant, actor=None, network=network)


def test_observer_only_reads_no_key_no_org_no_transactions(world, queued,
                                                          django_capture_on_commit_callbacks):
    a, b, _c, network, _node = world
    inv = invite(a, network, b, role="observer")
    with django_capture_on_commit_callbacks(execute=True):
        res = api(b).post(f"/api/v1/consortium-invitations/{inv['id']}/accept/")
    assert res.status_code == 200 and res.json()["operation"] is None
    assert queued == []  # nothing to register on chain
    assert not NetworkIdentity.objects.filter(network=network, tenant=b.tenant).exists()
    assert api(b).get(f"/api/v1/networks/{network.pk}/").status_code == 200
    res = api(b).post(f"/api/v1/networks/{network.pk}/gateway/tx/",
                      {"chaincode": "kv", "function": "put", "args": ["k", 1]}, format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "consortium_role"


def test_a_members_first_transaction_registers_its_organisation(member, monkeypatch):
    """Joined while the network was stopped: the first tx registers the org, then sends."""
    network, tenant = member
    services_calls = _fake_submit(monkeypatch, {"status": "approved"})
    homes.managed_identity(network, tenant)
    client = APIClient()
    client.force_authenticate(user=tenant.memberships.get().user)
    res = client.post(f"/api/v1/networks/{network.pk}/gateway/tx/",
                      {"chaincode": "kv", "function": "put", "args": ["k", 1]}, format="json")
    assert res.status_code in (200, 202), res.content
    # the owner registers the organisation; the member's admin registers the person's own
    # key; the person's key signs the transaction
    assert [body["function"] for _signer, body in services_calls] == \
        ["add_org", "add_member", "put"]
    assert [signer for signer, _body in services_calls] == [network.tenant, tenant, tenant]
    assert NetworkMembership.objects.get(tenant=tenant).org_registered_at is not None


def test_a_members_node_carries_the_members_ownership_label(member, monkeypatch):
    network, tenant = member
    node = NodeFactory(network=network, tenant=tenant)
    monkeypatch.setattr("deploy.homes.config_files", lambda n: {})
    monkeypatch.setattr("deploy.homes.secret_files", lambda n: {})
    from deploy.homes import node_spec

    assert node_spec(node).tenant_id == str(tenant.pk)
    owners = NodeFactory(network=network)
    assert node_spec(owners).tenant_id == str(network.tenant_id)


def _remove(client, network, slug):
    return client.delete(f"/api/v1/networks/{network.pk}/members/{slug}/")


def test_the_owner_removes_a_member_and_a_member_may_leave(world, queued,
                                                          django_capture_on_commit_callbacks):
    from baas.models import Operation

    a, b, c, network, _node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    NetworkMembership.objects.create(network=network, tenant=c.tenant)
    stranger = MembershipFactory(role="owner")
    viewer = MembershipFactory(tenant=b.tenant, role="developer")

    refusals = [
        (api(c), b.tenant.slug, 403, "network_owner_only"),  # a member cannot remove another
        (api(viewer), b.tenant.slug, 403, "permission_denied"),  # admins only
        (api(stranger), b.tenant.slug, 404, "not_found"),  # nor see the network at all
        (api(a), "nobody-here", 404, "not_found"),
        (api(a), a.tenant.slug, 404, "not_found"),  # the owner is not a member to remove
    ]
    for client, slug, status, code in refusals:
        res = _remove(client, network, slug)
        assert (res.status_code, res.json()["error"]["code"]) == (status, code), res.content
    assert queued == [] and not Operation.objects.filter(kind="network.member_remove").exists()

    with django_capture_on_commit_callbacks(execute=True):
        res = _remove(api(a), network, b.tenant.slug)
    assert res.status_code == 202, res.content
    op = res.json()["operation"]
    assert (op["kind"], op["state"]) == ("network.member_remove", "queued")
    membership = NetworkMembership.objects.get(network=network, tenant=b.tenant)
    assert queued == [("consortium_member_remove_task", (str(network.pk), membership.pk,
                                                         op["id"]))]
    # one membership change at a time, and the member cannot add validators meanwhile
    res = _remove(api(c), network, c.tenant.slug)
    assert (res.status_code, res.json()["error"]["code"]) == (409, "operation_in_progress")
    res = api(b).post(f"/api/v1/networks/{network.pk}/validators/")
    assert (res.status_code, res.json()["error"]["code"]) == (409, "operation_in_progress")
    # the owner, the member removed and the actor's tenant all have it in their audit log
    for tenant in (a.tenant, b.tenant):
        assert AuditEvent.objects.filter(tenant=tenant, action="consortium.member_remove",
                                         metadata__member=b.tenant.slug).exists()

    Operation.objects.filter(pk=op["id"]).update(state="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        res = _remove(api(c), network, c.tenant.slug)  # leaving needs no owner
    assert res.status_code == 202, res.content
    assert AuditEvent.objects.filter(tenant=c.tenant, action="consortium.member_remove",
                                     metadata__leaving=True).exists()


def test_a_member_on_chain_leaves_only_while_the_network_runs(world, queued):
    a, b, c, network, node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    NetworkMembership.objects.create(network=network, tenant=c.tenant, role="observer")
    d = MembershipFactory(role="owner")  # joined while stopped: a key, nothing on chain
    NetworkMembership.objects.create(network=network, tenant=d.tenant)
    homes.managed_identity(network, d.tenant)
    homes.managed_identity(network, b.tenant)
    NetworkMembership.objects.filter(tenant=b.tenant).update(org_registered_at=timezone.now())
    network.__class__.objects.filter(pk=network.pk).update(status=NetworkStatus.STOPPED)
    res = _remove(api(a), network, b.tenant.slug)
    assert (res.status_code, res.json()["error"]["code"]) == (409, "network_not_running")
    assert _remove(api(a), network, d.tenant.slug).status_code == 202
    from baas.models import Operation

    Operation.objects.filter(kind="network.member_remove").update(state="succeeded")
    # an observer has nothing on chain: it can go while the network is stopped
    assert _remove(api(a), network, c.tenant.slug).status_code == 202


def test_a_member_that_runs_every_validator_cannot_be_removed(world, queued):
    a, b, _c, network, node = world
    NetworkMembership.objects.create(network=network, tenant=b.tenant)
    network.__class__.objects.filter(pk=network.pk).update(validator_count=1)
    node.__class__.objects.filter(pk=node.pk).update(tenant=b.tenant)
    res = _remove(api(a), network, b.tenant.slug)
    assert (res.status_code, res.json()["error"]["code"]) == (409, "last_validator")
