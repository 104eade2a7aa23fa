import pytest
from rest_framework.test import APIClient


@pytest.mark.django_db
def test_openapi_schema_and_swagger_ui_are_served():
    client = APIClient()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    body = schema.json()
    assert body["openapi"].startswith("3.")
    for path in ("/api/v1/auth/signup/", "/api/v1/tokens/", "/api/v1/operations/{id}/events/",
                 "/api/v1/audit-events/export/", "/api/v1/members/{id}/"):
        assert path in body["paths"], path
    assert body["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    assert client.get("/api/docs/").status_code == 200
