"""An unknown /api/... URL answers the project's JSON error shape, also with DEBUG on
(Django's technical 404 page lists every URL pattern of the project)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def assert_json_404(response) -> dict:
    assert response.status_code == 404, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == "not_found"
    return error


@pytest.mark.parametrize("url", ["/api/v1/no-such-thing/", "/api/nothing", "/api/v2/networks/",
                                 "/api/v1/operations/1/no-such-action/"])
@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_url_is_json_with_debug_on_or_off(url, debug):
    with override_settings(DEBUG=debug):
        response = APIClient().get(url)
    error = assert_json_404(response)
    assert b"URLconf" not in response.content and b"api/docs" not in response.content
    assert error["message"] == "No such API endpoint."


@override_settings(DEBUG=True)
def test_a_missing_slash_still_redirects_a_get_and_explains_itself_otherwise():
    response = APIClient().get("/api/v1/operations?x=1")
    assert response.status_code == 301 and response["Location"] == "/api/v1/operations/?x=1"
    error = assert_json_404(APIClient().post("/api/v1/auth/login", {}, format="json"))
    assert "trailing slash" in error["message"]


@override_settings(DEBUG=True)
def test_the_message_follows_the_request_language():
    error = assert_json_404(APIClient().get("/api/v1/nope/", HTTP_ACCEPT_LANGUAGE="ko"))
    assert error["message"] != "No such API endpoint."


def test_portal_404_is_still_a_page():
    with override_settings(DEBUG=False):
        response = APIClient().get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith(
        "application/json")
