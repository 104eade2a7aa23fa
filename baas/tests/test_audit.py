"""Hash-chained audit log: records, verification, tamper detection, API."""

from __future__ import annotations

import csv
import io

import pytest

from baas.audit import audit_record, audit_verify
from baas.testing import api_client_for
from tenants.models import AuditEvent
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _chain(m, n=3):
    return [audit_record(tenant=m.tenant, actor=m.user, action=f"test.{i}", target=m.tenant,
                         metadata={"i": i, "nested": {"b": 1, "a": [1, 2]}}) for i in range(n)]


def test_chain_links_each_record_to_the_previous():
    m = MembershipFactory()
    events = _chain(m)
    assert events[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert audit_verify(tenant=m.tenant) == (True, None)
    assert audit_verify() == (True, None)


def test_modified_record_is_detected_at_that_record():
    m, other = MembershipFactory(), MembershipFactory()
    events = _chain(m)
    _chain(other)
    AuditEvent.objects.filter(pk=events[1].pk).update(action="test.innocent")
    assert audit_verify(tenant=m.tenant) == (False, events[1].pk)
    assert audit_verify(tenant=other.tenant) == (True, None)  # chains are per tenant
    assert audit_verify() == (False, events[1].pk)


def test_modified_metadata_and_deleted_records_are_detected():
    tampered = MembershipFactory()
    events = _chain(tampered, 4)
    row = AuditEvent.objects.filter(pk=events[1].pk)
    assert row.get().metadata == {"i": 1, "nested": {"b": 1, "a": [1, 2]}}
    # The same metadata with its keys in another order is not a change (canonical JSON).
    row.update(metadata={"nested": {"a": [1, 2], "b": 1}, "i": 1})
    assert audit_verify(tenant=tampered.tenant) == (True, None)
    # One value deep inside the metadata changed: the chain breaks at that record.
    row.update(metadata={"i": 1, "nested": {"b": 1, "a": [2, 1]}})
    assert row.get().action == events[1].action and row.get().hash == events[1].hash
    assert audit_verify(tenant=tampered.tenant) == (False, events[1].pk)
    assert audit_verify() == (False, events[1].pk)
    row.update(metadata={"i": 1, "nested": {"b": 1, "a": [1, 2]}, "extra": True})  # a key added
    assert audit_verify(tenant=tampered.tenant) == (False, events[1].pk)

    m = MembershipFactory()
    events = _chain(m, 4)
    AuditEvent.objects.filter(pk=events[2].pk).delete()
    assert audit_verify(tenant=m.tenant) == (False, events[3].pk)
    m2 = MembershipFactory()
    tail = _chain(m2, 2)
    AuditEvent.objects.filter(pk=tail[1].pk).delete()  # truncating the end
    assert audit_verify(tenant=m2.tenant) == (False, tail[0].pk)


def test_request_context_is_recorded(client):
    m = MembershipFactory(role="admin")
    api = api_client_for(m.user)
    api.post("/api/v1/tokens/", {"name": "ci", "scopes": ["read"]}, format="json",
             HTTP_X_REQUEST_ID="req-42", REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.get(action="token.created")
    assert (event.request_id, event.source_ip, event.actor_email) == ("req-42", "10.1.2.3",
                                                                      m.user.email)


def test_api_list_filter_export_verify():
    m = MembershipFactory(role="admin")
    _chain(m)
    api = api_client_for(m.user)
    listed = api.get("/api/v1/audit-events/?action=test.1").json()
    assert [r["action"] for r in listed["results"]] == ["test.1"]
    exported = api.get("/api/v1/audit-events/export/?as=csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["action"] for r in rows] == ["test.0", "test.1", "test.2"]
    as_json = api.get("/api/v1/audit-events/export/?as=json").json()
    assert len(as_json) == 3
    assert api.get("/api/v1/audit-events/verify/").json() == {"ok": True, "first_bad_id": None}
    bad = api.get("/api/v1/audit-events/export/?as=xml")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_format"


def test_developers_cannot_read_the_audit_log():
    m = MembershipFactory(role="developer")
    response = api_client_for(m.user).get("/api/v1/audit-events/")
    assert response.status_code == 403
