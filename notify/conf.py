"""Webhook settings (``docs/configuration.md``), read when used so tests can override."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Deliver to loopback/private/link-local addresses too (development, tests, an
    # operator whose tenants' receivers sit on the same private network).
    "BAAS_WEBHOOK_ALLOW_PRIVATE": False,
    "BAAS_WEBHOOK_TIMEOUT_S": 10.0,
    "BAAS_WEBHOOK_MAX_ATTEMPTS": 8,
    "BAAS_WEBHOOK_BACKOFF_S": 30.0,
    "BAAS_WEBHOOK_BACKOFF_MAX_S": 3600.0,
    "BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES": 5,
    # Subscriptions a tenant may have (each event is sent once per subscription), and
    # replays a tenant may ask for in a minute.
    "BAAS_WEBHOOK_MAX_SUBSCRIPTIONS": 20,
    "BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE": 30,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
