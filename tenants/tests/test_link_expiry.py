"""Email links expire: an old verification or password-reset link answers
``400 token_invalid`` (docs/api.md) and changes nothing.

Time moves by shifting the token generators' clock, so the links are the real ones the emails
carry and the limit is the real ``PASSWORD_RESET_TIMEOUT``. Each test also uses the same link
just before it expires, so the refusal is the expiry and not a broken link.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tenants import links
from tenants import tokens as signed
from tenants.models import AuditEvent
from tenants.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _uid_token(link: str, path: str) -> dict[str, str]:
    match = re.search(rf"{path}/([^/]+)/([^/]+)/$", link)
    assert match, link
    return {"uid": match.group(1), "token": match.group(2)}


@pytest.fixture
def clock(monkeypatch):
    """``clock(seconds)``: the token generators now see the time ``seconds`` from now."""

    def shift(seconds: int) -> None:
        later = datetime.now() + timedelta(seconds=seconds)
        for generator in (signed.email_verification_tokens, signed.password_reset_tokens):
            monkeypatch.setattr(generator, "_now", lambda _t=later: _t)

    return shift


def test_expired_verification_link_is_refused_and_verifies_nothing(clock):
    user = UserFactory(email_verified_at=None)
    body = _uid_token(links.email_verification_link(user=user), "/verify-email")
    api = APIClient()

    clock(settings.PASSWORD_RESET_TIMEOUT + 5)
    res = api.post("/api/v1/auth/verify-email/", body, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.email_verified_at is None
    assert not AuditEvent.objects.filter(action="user.email_verified").exists()

    clock(settings.PASSWORD_RESET_TIMEOUT - 60)  # the same link, still in time
    res = api.post("/api/v1/auth/verify-email/", body, format="json")
    assert res.status_code == 200, res.content
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_expired_password_reset_link_is_refused_and_keeps_the_password(clock):
    user = UserFactory()
    old_hash = user.password
    body = {**_uid_token(links.password_reset_link(user=user), "/reset-password"),
            "new_password": "a brand new passphrase"}
    api = APIClient()

    clock(settings.PASSWORD_RESET_TIMEOUT + 5)
    res = api.post("/api/v1/auth/password-reset/confirm/", body, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.password == old_hash and user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_reset").exists()

    clock(settings.PASSWORD_RESET_TIMEOUT - 60)
    res = api.post("/api/v1/auth/password-reset/confirm/", body, format="json")
    assert res.status_code == 204, res.content
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase")


def test_a_shorter_timeout_setting_expires_links_sooner(clock, settings):
    """``BAAS_PASSWORD_RESET_TIMEOUT`` (``PASSWORD_RESET_TIMEOUT``) is what links obey."""
    settings.PASSWORD_RESET_TIMEOUT = 600
    user = UserFactory(email_verified_at=None)
    body = _uid_token(links.email_verification_link(user=user), "/verify-email")
    clock(606)
    res = APIClient().post("/api/v1/auth/verify-email/", body, format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.email_verified_at is None
