"""Liveness (``/healthz``) and readiness (``/readyz``: database + broker) probes."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

from baas.metrics import metrics_view

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; checks nothing else on purpose."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means not ready
        logger.warning("readiness: database check failed: %s", exc)
        return "database unreachable"
    return None


def _check_broker() -> str | None:
    from kombu import Connection

    try:
        # A fresh connection, not the app's pool: a probe must not leave pooled state behind.
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.BAAS_READY_BROKER_TIMEOUT)
    except Exception as exc:  # kombu raises many transport-specific errors
        logger.warning("readiness: broker check failed: %s", exc)
        return "broker unreachable"
    return None


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ok = all(v is None for v in checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {name: (problem or "ok") for name, problem in checks.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]
