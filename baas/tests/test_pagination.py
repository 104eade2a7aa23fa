"""List pagination (docs/api.md, "Pagination and filtering"): ``?page=&page_size=``,
default 50, at most 500, ``{"count", "next", "previous", "results"}``.

Checked on ``/api/v1/audit-events/`` (newest first), which every list shares through
``baas.pagination.Pagination``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from baas.testing import api_client_for
from tenants.models import AuditEvent
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def log():
    """An admin's client and the ids of its tenant's 503+ audit events, newest first."""
    admin = MembershipFactory(role="admin")
    now = timezone.now()
    # Rows straight in: the list does not verify the chain, and 503 hashed appends are slow.
    AuditEvent.objects.bulk_create(
        AuditEvent(tenant=admin.tenant, action=f"test.page.{i}", created_at=now,
                   prev_hash="0" * 64, hash=f"{admin.tenant.pk:08d}{i:056d}")
        for i in range(503)
    )
    ids = list(AuditEvent.objects.filter(tenant=admin.tenant).order_by("-id")
               .values_list("id", flat=True))
    assert len(ids) >= 503
    return api_client_for(admin.user), ids


def _page(client, query: str) -> dict:
    res = client.get(URL + query)
    assert res.status_code == 200, res.content
    return res.json()


def _query(link: str) -> dict[str, list[str]]:
    parts = urlsplit(link)
    assert parts.path == URL
    return parse_qs(parts.query)


def test_page_size_is_honoured_and_next_walks_the_pages(log):
    client, ids = log
    first = _page(client, "?page_size=2")
    assert first["count"] == len(ids)
    assert [r["id"] for r in first["results"]] == ids[:2]
    assert first["previous"] is None
    assert _query(first["next"]) == {"page": ["2"], "page_size": ["2"]}

    second = _page(client, "?" + urlsplit(first["next"]).query)
    assert [r["id"] for r in second["results"]] == ids[2:4]
    assert second["previous"] is not None and second["next"] is not None


def test_last_page_has_no_next(log):
    client, ids = log
    last_page = -(-len(ids) // 7)  # ceil
    last = _page(client, f"?page_size=7&page={last_page}")
    assert [r["id"] for r in last["results"]] == ids[(last_page - 1) * 7:]
    assert last["next"] is None
    assert _query(last["previous"])["page_size"] == ["7"]
    beyond = client.get(URL + f"?page_size=7&page={last_page + 1}")
    assert beyond.status_code == 404


def test_default_page_size_is_50(log):
    client, ids = log
    page = _page(client, "")
    assert [r["id"] for r in page["results"]] == ids[:50]
    assert _query(page["next"]) == {"page": ["2"]}


@pytest.mark.parametrize("asked", ["501", "1000", "100000"])
def test_page_size_is_capped_at_500(log, asked):
    client, ids = log
    page = _page(client, f"?page_size={asked}")
    assert len(page["results"]) == 500
    assert [r["id"] for r in page["results"]] == ids[:500]
    assert page["next"] is not None  # more than 500 rows: the cap is a page, not a limit
    rest = _page(client, "?" + urlsplit(page["next"]).query)
    assert [r["id"] for r in rest["results"]] == ids[500:]
    assert rest["next"] is None


def test_all_rows_on_one_page_means_no_next(log):
    client, ids = log
    AuditEvent.objects.filter(pk__in=ids[:len(ids) - 500]).delete()
    page = _page(client, "?page_size=500")
    assert page["count"] == 500 and len(page["results"]) == 500
    assert page["next"] is None and page["previous"] is None


@pytest.mark.parametrize("asked", ["0", "-3", "many"])
def test_a_nonsense_page_size_falls_back_to_the_default(log, asked):
    client, ids = log
    assert len(_page(client, f"?page_size={asked}")["results"]) == 50
