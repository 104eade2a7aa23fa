"""Sign-up -> verify -> login -> invite -> accept -> the new member works, over the API.

Emails are produced by the real Celery tasks (run in-process here; ``test_worker.py`` proves
the same path on a real worker) and the links are read from the outbox like a person would.
"""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from baas.audit import audit_verify
from tenants.models import Tenant

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def eager_celery():
    from baas.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_signup_to_colleague_joining(eager_celery, mailoutbox, django_capture_on_commit_callbacks):
    founder = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        assert founder.post("/api/v1/auth/signup/", {
            "email": "founder@acme.test", "password": PASSWORD, "organisation_name": "Acme",
        }, format="json").status_code == 201
    uid, token = re.search(r"/verify-email/([^/]+)/([^/]+)/", mailoutbox[-1].body).groups()
    verified = founder.post("/api/v1/auth/verify-email/", {"uid": uid, "token": token},
                            format="json")
    assert verified.json()["email_verified"] is True
    assert founder.post("/api/v1/auth/login/", {"email": "founder@acme.test",
                                                "password": PASSWORD},
                        format="json").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        invited = founder.post("/api/v1/invitations/", {"email": "dev@acme.test",
                                                        "role": "developer"}, format="json")
    assert invited.status_code == 201
    op = founder.get(f"/api/v1/operations/{invited.json()['operation']['id']}/").json()
    assert op["state"] == "succeeded" and op["kind"] == "invitation.send"

    link_token = re.search(r"/invitations/([^/\s]+)/", mailoutbox[-1].body).group(1)
    colleague = APIClient()
    joined = colleague.post("/api/v1/invitations/accept/", {
        "token": link_token, "password": "another long passphrase", "full_name": "Dev",
    }, format="json")
    assert joined.status_code == 201 and joined.json()["tenant"]["slug"] == "acme"
    assert colleague.post("/api/v1/auth/login/", {"email": "dev@acme.test",
                                                  "password": "another long passphrase"},
                          format="json").status_code == 200
    created = colleague.post("/api/v1/tokens/", {"name": "ci", "scopes": ["read"]},
                             format="json")
    assert created.status_code == 201
    members = founder.get("/api/v1/members/").json()
    assert {m["email"]: m["role"] for m in members["results"]} == {
        "founder@acme.test": "owner", "dev@acme.test": "developer"}

    actions = [e["action"] for e in founder.get("/api/v1/audit-events/").json()["results"]]
    assert {"tenant.signup", "invitation.created", "invitation.accepted",
            "token.created"} <= set(actions)
    assert audit_verify(tenant=Tenant.objects.get(slug="acme")) == (True, None)


def test_bad_filter_value_is_a_validation_error():
    from baas.testing import api_client_for
    from tenants.tests.factories import MembershipFactory

    client = api_client_for(MembershipFactory().user)
    response = client.get("/api/v1/operations/?state=exploded")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
