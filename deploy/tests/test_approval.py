"""Platform approval of new networks: plan/policy rule, services, API and staff portal."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from baas.errors import Conflict, NotFound, ValidationFailed
from baas.models import Operation
from deploy import platform, services
from deploy.choices import NetworkStatus
from deploy.models import Network, NetworkPolicy
from deploy.services import NetworkSpec
from deploy.tests.factories import MembershipFactory, UserFactory
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    sent: list[tuple[str, tuple]] = []
    for name in ("network_provision_task", "network_delete_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay",
                            lambda *a, _n=name: sent.append((_n, a)))
    return sent


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def gated(owner):
    """The owner's tenant needs approval through a per-tenant policy."""
    NetworkPolicy.objects.create(tenant=owner.tenant, requires_approval=True)
    return owner


def create(member, name="ledger-one"):
    return services.network_create(tenant=member.tenant, actor=member.user,
                                   spec=NetworkSpec(name=name, validators=1))


def client(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user=user)
    return c


# --- the rule ------------------------------------------------------------------------------


def test_plan_rule_and_tenant_policy(owner, settings):
    settings.DEPLOY_APPROVAL_PLANS = []
    assert platform.approval_required(owner.tenant) is False
    settings.DEPLOY_APPROVAL_PLANS = [owner.tenant.plan]
    assert platform.approval_required(owner.tenant) is True
    # A per-tenant policy overrides the plan both ways.
    policy = NetworkPolicy.objects.create(tenant=owner.tenant, requires_approval=False)
    assert platform.approval_required(owner.tenant) is False
    policy.requires_approval = None
    policy.save()
    assert platform.approval_required(owner.tenant) is True


def test_plan_rule_from_environment(owner, settings, monkeypatch):
    del settings.DEPLOY_APPROVAL_PLANS
    monkeypatch.setenv("DEPLOY_APPROVAL_PLANS", f" {owner.tenant.plan} , enterprise")
    assert platform.approval_required(owner.tenant) is True


# --- services ------------------------------------------------------------------------------


def test_gated_create_waits_and_queues_nothing(gated, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        network, op = create(gated)
    assert network.status == NetworkStatus.PENDING_APPROVAL
    assert queued == []
    assert op.state == "queued" and op.deadline is None
    assert op.steps[-1]["message"] == "waiting for platform approval"
    event = AuditEvent.objects.get(tenant=gated.tenant, action="network.create")
    assert event.metadata["pending_approval"] is True


def test_ungated_create_is_unchanged(owner, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        network, op = create(owner)
    assert network.status == NetworkStatus.REQUESTED
    assert queued == [("network_provision_task", (str(network.pk), op.pk))]


def test_approve_queues_provisioning_after_commit(
    gated, staff, queued, django_capture_on_commit_callbacks
):
    network, op = create(gated)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approved, op2 = services.network_approve(actor=staff, network_id=network.pk)
    assert queued == []  # not before commit
    for callback in callbacks:
        callback()
    assert queued == [("network_provision_task", (str(network.pk), op.pk))]
    assert op2.pk == op.pk and approved.status == NetworkStatus.REQUESTED
    op.refresh_from_db()
    assert op.deadline is not None and op.steps[-1]["message"] == f"approved by {staff.email}"
    event = AuditEvent.objects.get(action="network.approve")
    assert event.tenant == gated.tenant and event.actor == staff


def test_reject_needs_a_reason_and_starts_nothing(
    gated, staff, queued, django_capture_on_commit_callbacks
):
    network, op = create(gated)
    with pytest.raises(ValidationFailed) as exc:
        services.network_reject(actor=staff, network_id=network.pk, reason="  ")
    assert exc.value.code == "reason_required"
    with django_capture_on_commit_callbacks(execute=True):
        rejected = services.network_reject(actor=staff, network_id=network.pk,
                                           reason="No capacity this month.")
    assert queued == []
    assert rejected.status == NetworkStatus.REJECTED
    assert (rejected.error_code, rejected.error_message) == (
        "network_rejected", "No capacity this month.")
    assert not rejected.nodes.exists()
    op.refresh_from_db()
    assert op.state == "failed" and op.error_code == "network_rejected"
    event = AuditEvent.objects.get(action="network.reject")
    assert event.metadata == {"reason": "No capacity this month."}
    # Decided once: a second decision is a conflict.
    with pytest.raises(Conflict):
        services.network_approve(actor=staff, network_id=network.pk)


def test_rejected_network_frees_quota_and_can_be_deleted(gated, staff, queued):
    gated.tenant.max_networks = 1
    gated.tenant.save()
    network, _ = create(gated)
    services.network_reject(actor=staff, network_id=network.pk, reason="no")
    create(gated, name="second")  # the rejected one no longer counts
    services.network_delete(tenant=gated.tenant, actor=gated.user,
                            network=Network.objects.get(pk=network.pk))
    assert Network.objects.get(pk=network.pk).status == NetworkStatus.DELETING


def test_withdrawing_a_pending_request_cancels_its_operation(gated, queued):
    network, op = create(gated)
    services.network_delete(tenant=gated.tenant, actor=gated.user, network=network)
    op.refresh_from_db()
    assert op.state == "cancelled"


def test_non_staff_cannot_decide(gated):
    network, _ = create(gated)
    for actor in (gated.user, UserFactory(is_staff=True, is_active=False)):
        with pytest.raises(NotFound):
            services.network_approve(actor=actor, network_id=network.pk)
        with pytest.raises(NotFound):
            services.network_reject(actor=actor, network_id=network.pk, reason="x")
    assert Network.objects.get(pk=network.pk).status == NetworkStatus.PENDING_APPROVAL


def test_staff_create_on_behalf_skips_approval(gated, staff, queued,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        network, op = services.network_create(
            tenant=gated.tenant, actor=staff, on_behalf=True,
            spec=NetworkSpec(name="by-staff", validators=1))
    assert network.status == NetworkStatus.REQUESTED and network.tenant == gated.tenant
    assert queued == [("network_provision_task", (str(network.pk), op.pk))]
    assert AuditEvent.objects.get(action="network.create").metadata["on_behalf"] is True
    with pytest.raises(NotFound):  # a tenant member is not staff
        services.network_create(tenant=gated.tenant, actor=gated.user, on_behalf=True,
                                spec=NetworkSpec(name="sneaky", validators=1))


# --- API -----------------------------------------------------------------------------------


def test_api_flow_list_approve(gated, staff, queued, django_capture_on_commit_callbacks):
    res = client(gated.user).post("/api/v1/networks/", {"name": "gated", "validators": 1},
                                  format="json")
    assert res.status_code == 202
    assert res.json()["network"]["status"] == "pending_approval"
    network_id = res.json()["network"]["id"]

    pending = client(staff).get("/api/v1/staff/networks/pending/")
    assert pending.status_code == 200
    [row] = pending.json()["results"]
    assert (row["id"], row["tenant"], row["requested_by"]) == (
        network_id, gated.tenant.slug, gated.user.email)

    with django_capture_on_commit_callbacks(execute=True):
        res = client(staff).post(f"/api/v1/networks/{network_id}/approve/")
    assert res.status_code == 202, res.content
    assert res.json()["network"]["status"] == "requested"
    assert queued == [("network_provision_task", (network_id, res.json()["operation"]["id"]))]
    assert client(staff).get("/api/v1/staff/networks/pending/").json()["results"] == []


def test_api_reject_and_errors(gated, staff, queued):
    network, _ = create(gated)
    url = f"/api/v1/networks/{network.pk}/reject/"
    res = client(staff).post(url, {}, format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "reason_required"
    res = client(staff).post(url, {"reason": "x" * 501}, format="json")
    assert res.status_code == 400
    res = client(staff).post(url, {"reason": "Duplicate of ledger-x."}, format="json")
    assert res.status_code == 200 and res.json()["network"]["status"] == "rejected"
    assert res.json()["network"]["error"] == {"code": "network_rejected",
                                              "message": "Duplicate of ledger-x."}
    again = client(staff).post(f"/api/v1/networks/{network.pk}/approve/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    # The owner sees the rejection on its own network.
    own = client(gated.user).get(f"/api/v1/networks/{network.pk}/")
    assert own.json()["status"] == "rejected"
    assert queued == []


def test_api_non_staff_get_404_everywhere(gated, staff):
    network, _ = create(gated)
    outsider = MembershipFactory(role="owner").user
    for user in (gated.user, outsider):
        c = client(user)
        for method, url in (
            ("post", f"/api/v1/networks/{network.pk}/approve/"),
            ("post", f"/api/v1/networks/{network.pk}/reject/"),
            ("get", "/api/v1/staff/networks/pending/"),
            ("post", "/api/v1/staff/networks/"),
        ):
            res = getattr(c, method)(url, {"reason": "x"}, format="json")
            assert res.status_code == 404, (user, url, res.content)
            assert res.json()["error"]["code"] == "not_found"
    assert Network.objects.get(pk=network.pk).status == NetworkStatus.PENDING_APPROVAL
    assert client(staff).post("/api/v1/networks/00000000-0000-0000-0000-000000000000/approve/"
                              ).status_code == 404


def test_api_staff_create_on_behalf(gated, staff, queued):
    res = client(staff).post("/api/v1/staff/networks/",
                             {"tenant": gated.tenant.slug, "name": "ops", "validators": 1},
                             format="json")
    assert res.status_code == 202, res.content
    assert res.json()["network"]["status"] == "requested"
    assert Network.objects.get(pk=res.json()["network"]["id"]).tenant == gated.tenant
    res = client(staff).post("/api/v1/staff/networks/",
                             {"tenant": "no-such-org", "name": "ops", "validators": 1},
                             format="json")
    assert res.status_code == 404 and res.json()["error"]["code"] == "tenant_not_found"


# --- portal --------------------------------------------------------------------------------


def test_staff_page_lists_and_decides(gated, staff, queued, client):
    network, _ = create(gated)
    other, _ = create(gated, name="ledger-two")
    client.force_login(staff)
    page = client.get("/staff/networks/")
    assert page.status_code == 200
    assert network.name.encode() in page.content and other.name.encode() in page.content
    res = client.post("/staff/networks/", {"network": str(network.pk), "decision": "approve"})
    assert res.status_code == 302
    res = client.post("/staff/networks/", {"network": str(other.pk), "decision": "reject",
                                           "reason": "Not now."})
    assert res.status_code == 302
    assert Network.objects.get(pk=network.pk).status == NetworkStatus.REQUESTED
    assert Network.objects.get(pk=other.pk).error_message == "Not now."
    assert Operation.objects.filter(target_id=str(network.pk), state="queued").exists()


def test_staff_page_is_404_for_members(gated, client):
    network, _ = create(gated)
    client.force_login(gated.user)
    assert client.get("/staff/networks/").status_code == 404
    assert client.post("/staff/networks/", {"network": str(network.pk),
                                            "decision": "approve"}).status_code == 404
    assert Network.objects.get(pk=network.pk).status == NetworkStatus.PENDING_APPROVAL
