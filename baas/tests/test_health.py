import pytest


@pytest.mark.django_db
def test_liveness_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readiness_fails_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.BAAS_READY_BROKER_TIMEOUT = 0.5
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] == "broker unreachable"
    assert ready.json()["checks"]["database"] == "ok"


class _DatabaseDown:
    """Stands in for ``django.db.connection`` in the probe: every cursor fails to connect."""

    def cursor(self):
        from django.db import OperationalError

        raise OperationalError('could not connect to server: password "s3cr3t" rejected')


@pytest.mark.django_db
def test_readiness_fails_when_the_database_is_unreachable(client, monkeypatch):
    monkeypatch.setattr("baas.health_urls.connection", _DatabaseDown())
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"database": "database unreachable", "broker": "ok"},
    }
    assert b"s3cr3t" not in ready.content  # the driver's message is not shown to the prober
    # Liveness does not depend on the database: the process itself is fine.
    assert client.get("/healthz").status_code == 200
