"""Platform staff read every tenant's audit log (and events of no tenant) over the API;
nobody else can."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from baas.audit import audit_record
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/staff/audit-events/"


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def events():
    a, b = MembershipFactory(role="owner"), MembershipFactory(role="owner")
    audit_record(tenant=a.tenant, actor=a.user, action="network.create", target=None)
    audit_record(tenant=b.tenant, actor=b.user, action="token.create", target=None)
    audit_record(tenant=None, actor=a.user, action="user.logout", target=None)
    return a, b


def test_staff_see_every_tenants_events_and_filter_them(events):
    a, b = events
    staff = MembershipFactory(role="viewer").user
    staff.is_staff = True
    staff.save()
    client = _session(staff)
    actions = {row["action"] for row in client.get(URL).json()["results"]}
    assert {"network.create", "token.create", "user.logout"} <= actions
    only_b = client.get(URL, {"tenant": b.tenant.slug}).json()["results"]
    assert [row["action"] for row in only_b] == ["token.create"]
    platform = client.get(URL, {"platform": "true"}).json()["results"]
    assert {row["action"] for row in platform} == {"user.logout"}
    assert all(row["tenant"] is None for row in platform)
    csv = client.get(URL + "export/", {"as": "csv", "tenant": a.tenant.slug})
    assert csv.status_code == 200 and b"network.create" in csv.content
    assert b"token.create" not in csv.content


def test_tenant_admins_cannot_read_the_platform_log(events):
    a, _b = events
    res = _session(a.user).get(URL)
    assert res.status_code == 403
    assert "token.create" not in res.content.decode()
