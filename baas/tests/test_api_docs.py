import re

import pytest


@pytest.mark.django_db
def test_swagger_ui_is_served_locally_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r"(src|href)=\"https?://", html), "docs page must not load from a CDN"


@pytest.mark.django_db
def test_openapi_schema_is_generated(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/operations/" in paths
