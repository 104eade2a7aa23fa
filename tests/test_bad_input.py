"""Bad input is a clear 400 with a stable code, never a 500, and changes nothing (issue 8)."""

from __future__ import annotations

import json

import pytest

from baas.testing import api_client_for
from deploy.tests.factories import NetworkFactory
from tenants.models import User
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000


def _post_raw(client, url, text):
    return client.generic("POST", url, text.encode("utf-8", "surrogatepass"),
                          content_type="application/json")


@pytest.mark.parametrize("url", ["/api/v1/auth/signup/", "/api/v1/auth/login/",
                                 "/api/v1/auth/password-reset/", "/api/v1/invitations/accept/"])
def test_deeply_nested_json_is_400_for_anonymous_endpoints(client, url):
    response = _post_raw(client, url, DEEP)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "json_too_deep"


def test_deeply_nested_json_is_400_for_signed_in_endpoints():
    owner = MembershipFactory(role="owner")
    api = api_client_for(owner.user, owner.tenant)
    for method, url in [("POST", "/api/v1/networks/"), ("PATCH", "/api/v1/tenant/"),
                        ("POST", "/api/v1/invitations/"), ("POST", "/api/v1/tokens/")]:
        body = '{"name": ' + DEEP + "}"
        response = api.generic(method, url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.content)
        assert response.json()["error"]["code"] == "json_too_deep"


def test_moderate_nesting_inside_strings_is_not_counted(client):
    body = json.dumps({"email": "[" * 500 + "@example.test", "password": "x"})
    response = _post_raw(client, "/api/v1/auth/login/", body)
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] != "json_too_deep"


def test_lone_surrogate_in_a_body_is_400_and_creates_nothing(client):
    body = ('{"email": "a@example.test", "password": "correct horse battery staple", '
            '"organisation_name": "\\ud800 Org"}')
    response = _post_raw(client, "/api/v1/auth/signup/", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_unicode"
    assert not User.objects.filter(email="a@example.test").exists()


def test_not_json_is_malformed_request(client):
    response = _post_raw(client, "/api/v1/auth/login/", '{"email": NaN}')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.fixture
def gateway_client():
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant)
    return api_client_for(owner.user, owner.tenant), network


@pytest.mark.parametrize("path", ["tx", "query"])
@pytest.mark.parametrize("args,needle", [
    ("[1.5]", "float"),
    ("[9223372036854775808]", "64-bit"),
    ("[-9223372036854775809]", "64-bit"),
    ('["\\udc00"]', "UTF-8"),
    ("[" * 20 + "]" * 20, "deeper"),
])
def test_gateway_arguments_the_ledger_cannot_encode_are_400(gateway_client, path, args, needle):
    api, network = gateway_client
    body = '{"chaincode": "kv", "function": "put", "args": ' + args + "}"
    response = api.generic("POST", f"/api/v1/networks/{network.pk}/gateway/{path}/", body,
                           content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in ("invalid_args", "invalid_unicode"), error
    if error["code"] == "invalid_args":
        assert needle in error["message"], error


@pytest.mark.parametrize("query", ["before=99999999999999999999999", "limit=-1", "limit=1e3",
                                   "before=%EF%BC%91"])
def test_gateway_query_parameters_out_of_range_are_400(gateway_client, query):
    api, network = gateway_client
    response = api.get(f"/api/v1/networks/{network.pk}/gateway/blocks/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("invalid_before", "invalid_limit")


def test_gateway_block_height_past_int64_is_400(gateway_client):
    api, network = gateway_client
    response = api.get(f"/api/v1/networks/{network.pk}/gateway/blocks/{2**64}/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_height"


@pytest.mark.parametrize("query", ["status=%00", "action=%ED%A0%80", "action=%FF", "a%00=1",
                                   "kind=x%07y", "action=\xff\xfe"])
def test_a_query_string_that_is_not_text_is_400_on_every_endpoint(query):
    owner = MembershipFactory(role="owner")
    api = api_client_for(owner.user, owner.tenant)
    for url in ("/api/v1/networks/", "/api/v1/audit-events/", "/api/v1/operations/",
                "/api/v1/auth/login/"):
        response = api.generic("GET", url, QUERY_STRING=query)
        assert response.status_code == 400, (url, response.content)
        assert response.json()["error"]["code"] == "invalid_query_string"


def test_ordinary_unicode_in_a_query_string_is_fine():
    owner = MembershipFactory(role="owner")
    api = api_client_for(owner.user, owner.tenant)
    response = api.generic("GET", "/api/v1/audit-events/", QUERY_STRING="action=%C3%BC+x")
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["2374-06-03T10:05:21.1867-21:40", "0001-01-01T00:00:00+05:00",
                                   "9999-12-31T23:59:59-10:00"])
def test_date_time_filters_with_any_iso_offset_never_fail(value):
    owner = MembershipFactory(role="owner")
    api = api_client_for(owner.user, owner.tenant)
    response = api.get("/api/v1/audit-events/", {"since": value, "until": value})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "validation_failed"
