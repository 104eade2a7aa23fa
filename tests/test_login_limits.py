"""Sign-in throttling keys on the trusted address; per-account failure and reset limits."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants import services
from tenants.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/api/v1/auth/login/"


def _login(client, email, password, **extra):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **extra)


def test_a_forged_forwarded_for_does_not_reset_the_address_throttle(settings):
    settings.BAAS_TRUST_X_FORWARDED_FOR = False
    client = APIClient()
    codes = [_login(client, f"nobody{i}@example.test", "x",
                    HTTP_X_FORWARDED_FOR=f"10.0.{i // 250}.{i % 250}").status_code
             for i in range(25)]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_key(settings):
    settings.BAAS_TRUST_X_FORWARDED_FOR = True
    client = APIClient()
    for i in range(20):
        assert _login(client, f"n{i}@example.test", "x",
                      HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 401
    assert _login(client, "n@example.test", "x",
                  HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    # Another client behind the same proxy is not punished for the first one.
    assert _login(client, "n@example.test", "x",
                  HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 401


def test_an_account_locks_after_repeated_failures_from_any_address(settings):
    settings.BAAS_LOGIN_MAX_FAILURES = 5
    user = UserFactory()
    for i in range(5):
        # A different address each time: the per-address throttle never fires.
        response = _login(APIClient(REMOTE_ADDR=f"198.51.100.{i}"), user.email, "wrong")
        assert response.status_code == 401
    locked = _login(APIClient(REMOTE_ADDR="198.51.100.99"), user.email, PASSWORD)
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert error["code"] == "account_locked"
    assert "reset your password" in error["message"]
    assert 0 < error["details"]["retry_after"] <= settings.BAAS_LOGIN_LOCKOUT_SECONDS
    assert int(locked["Retry-After"]) == error["details"]["retry_after"]


def test_the_lock_ends_with_time(settings, monkeypatch):
    import time as real_time

    settings.BAAS_LOGIN_MAX_FAILURES = 2
    user = UserFactory()
    for _ in range(2):
        _login(APIClient(), user.email, "wrong")
    assert _login(APIClient(), user.email, PASSWORD).status_code == 429
    later = real_time.time() + settings.BAAS_LOGIN_LOCKOUT_SECONDS + 1
    monkeypatch.setattr("tenants.throttling.time.time", lambda: later)
    assert _login(APIClient(), user.email, PASSWORD).status_code == 200


def test_a_password_reset_ends_the_lock(settings):
    settings.BAAS_LOGIN_MAX_FAILURES = 2
    user = UserFactory()
    for _ in range(2):
        _login(APIClient(), user.email, "wrong")
    assert _login(APIClient(), user.email, PASSWORD).status_code == 429
    from tenants import tokens as signed

    services.password_reset_confirm(uid=signed.encode_uid(user.pk),
                                    token=signed.password_reset_tokens.make_token(user),
                                    new_password="another horse battery staple")
    assert _login(APIClient(), user.email, "another horse battery staple").status_code == 200


def test_a_success_clears_earlier_failures(settings):
    settings.BAAS_LOGIN_MAX_FAILURES = 3
    user = UserFactory()
    for _ in range(2):
        _login(APIClient(), user.email, "wrong")
    assert _login(APIClient(), user.email, PASSWORD).status_code == 200
    for _ in range(2):
        _login(APIClient(), user.email, "wrong")
    assert _login(APIClient(), user.email, PASSWORD).status_code == 200


def test_password_reset_mail_is_limited_per_account(settings, monkeypatch):
    settings.BAAS_PASSWORD_RESET_PER_HOUR = 3
    sent = []
    monkeypatch.setattr("tenants.services.enqueue_after_commit",
                        lambda task, *args: sent.append(args))
    user = UserFactory()
    for i in range(6):
        response = APIClient(REMOTE_ADDR=f"192.0.2.{i}").post(
            "/api/v1/auth/password-reset/", {"email": user.email}, format="json")
        assert response.status_code == 202  # the same answer, always
    assert sent == [(user.pk,)] * 3


def test_the_portal_sign_in_form_says_the_account_is_locked(settings, client):
    settings.BAAS_LOGIN_MAX_FAILURES = 2
    user = UserFactory()
    for _ in range(2):
        client.post("/login/", {"email": user.email, "password": "wrong"})
    page = client.post("/login/", {"email": user.email, "password": PASSWORD})
    assert page.status_code == 400
    assert "_auth_user_id" not in client.session
    assert b"reset your password" in page.content
