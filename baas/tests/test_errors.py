"""Every API error leaves in one JSON shape with a stable code."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from baas.testing import api_client_for
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_malformed_json_is_a_400_with_code():
    response = APIClient().post("/api/v1/auth/login/", data="{not json",
                                content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_oversized_body_is_a_413_and_reads_nothing(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = APIClient().post("/api/v1/auth/signup/", data='{"x": "' + "a" * 2000 + '"}',
                                content_type="application/json")
    error = assert_error(response, 413, "payload_too_large")
    assert "1000" in error["message"]


def test_nonsense_content_length_is_a_400():
    response = APIClient().post("/api/v1/auth/login/", data="{}",
                                content_type="application/json", CONTENT_LENGTH="lots")
    assert_error(response, 400, "bad_request")


def test_validation_errors_carry_field_details():
    response = APIClient().post("/api/v1/auth/login/", {"email": "nope"}, format="json")
    error = assert_error(response, 400, "validation_failed")
    assert "email" in error["details"] and "password" in error["details"]


def test_unauthenticated_is_401():
    assert_error(APIClient().get("/api/v1/operations/"), 401, "not_authenticated")


def test_unknown_api_url_is_json_404():
    assert_error(APIClient().get("/api/v1/no-such-thing/"), 404, "not_found")


def test_another_tenants_id_is_404():
    mine, theirs = MembershipFactory(), MembershipFactory()
    client = api_client_for(mine.user)
    assert_error(client.get(f"/api/v1/members/{theirs.pk}/"), 404, "not_found")


def test_wrong_method_is_405():
    client = api_client_for(MembershipFactory().user)
    assert_error(client.put("/api/v1/me/", {}, format="json"), 405, "method_not_allowed")


def test_unsupported_media_type_is_415():
    response = APIClient().post("/api/v1/auth/login/", data="email=a", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_throttled_login_is_429(settings):
    from rest_framework.throttling import ScopedRateThrottle

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"auth": "2/minute"}}
    # DRF caches the rates on the class at import time.
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {"auth": "2/minute"}
    try:
        client = APIClient()
        body = {"email": "x@example.test", "password": "wrong-password"}
        for _ in range(2):
            assert client.post("/api/v1/auth/login/", body, format="json").status_code == 401
        error = assert_error(client.post("/api/v1/auth/login/", body, format="json"), 429,
                             "throttled")
        assert error["details"]["wait_seconds"] > 0
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original


def test_unexpected_exception_is_500_without_trace(monkeypatch, caplog):
    from tenants.api import views

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(views.services, "password_reset_request", boom)
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/v1/auth/password-reset/", {"email": "a@example.test"},
                           format="json")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert error["request_id"]
    # Operators find the trace by the id the caller quotes.
    logged = [r for r in caplog.records if error["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info


def test_incoming_request_id_is_echoed():
    response = APIClient().get("/api/v1/me/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    assert response.json()["error"]["request_id"] == "abc-123"
