"""One generic check, run for every API resource: another tenant's objects answer 404 and
never appear in lists. Apps add resources in ``<app>/tests/isolation_cases.py``."""

from __future__ import annotations

import pytest

from baas.testing import all_isolation_cases, api_client_for
from tenants.tests.factories import MembershipFactory

CASES = all_isolation_cases()


@pytest.fixture
def two_tenants(db):
    a = MembershipFactory(role="owner")
    b = MembershipFactory(role="owner")
    return a, b


def _ids(response) -> set:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return {str(row["id"]) for row in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_other_tenants_objects_are_invisible(case, two_tenants):
    mine, theirs = two_tenants
    obj = case.make(theirs.tenant, theirs.user)
    own = case.make(mine.tenant, mine.user)
    client = api_client_for(mine.user, mine.tenant)

    for method in case.methods:
        response = getattr(client, method)(case.detail_url(obj), {}, format="json")
        assert response.status_code == 404, (method, response.content)
        assert response.json()["error"]["code"] == "not_found"
    # The same URL shape works for the tenant's own object, so the 404 above is isolation.
    assert client.get(case.detail_url(own)).status_code in (200, 405)

    listed = client.get(case.list_url)
    assert listed.status_code == 200
    assert str(obj.pk) not in _ids(listed)
    assert str(own.pk) in _ids(listed)

    # Naming the other tenant explicitly does not help either.
    other = api_client_for(mine.user, theirs.tenant)
    assert other.get(case.detail_url(obj)).status_code == 404


def test_every_api_list_endpoint_has_an_isolation_case():
    """A new tenant resource without a case fails here, not silently."""
    from django.urls import get_resolver

    covered = {c.list_url for c in CASES}
    exempt = {"/api/v1/tenant/", "/api/v1/me/", "/api/v1/staff/tenants/",
              "/api/v1/audit-events/export/", "/api/v1/audit-events/verify/",
              "/api/v1/staff/tenants/audit-verify/", "/api/v1/schema/",
              "/api/v1/staff/networks/", "/api/v1/staff/networks/pending/",
              "/api/v1/staff/audit-events/", "/api/v1/staff/audit-events/export/",  # staff
              # the same for everyone: the manifest's schema, and a check that stores nothing
              "/api/v1/templates/schema/", "/api/v1/templates/validate/",
              # the bytes a DID holder signs: computed, nothing stored or listed
              "/api/v1/dids/prepare/"}
    missing = []
    for pattern in _api_list_urls(get_resolver()):
        if pattern not in covered and pattern not in exempt and "/auth/" not in pattern \
                and not pattern.endswith("/accept/"):
            missing.append(pattern)
    assert not missing, f"API list endpoints without a tenant-isolation case: {missing}"


def _api_list_urls(resolver, prefix=""):
    """Static (parameter-free) URL paths under /api/v1/."""
    from django.urls import URLPattern, URLResolver

    for entry in resolver.url_patterns:
        route = str(entry.pattern).removeprefix("^").removesuffix("$")
        if isinstance(entry, URLResolver):
            yield from _api_list_urls(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            full = "/" + prefix + route
            if full.startswith("/api/v1/") and "<" not in full and "(?P" not in full \
                    and "\\." not in full:
                yield full
