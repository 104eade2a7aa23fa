"""Rate limits keyed on what the settings say to trust, and per-account limits.

DRF's own throttles identify a client by the *first* ``X-Forwarded-For`` address unless
``NUM_PROXIES`` is set, so a client that invents that header gets a fresh allowance on every
request. ``ClientAddressThrottle`` keys on ``baas.middleware.client_ip`` instead: the socket
address, or the forwarded one only when ``BAAS_TRUST_X_FORWARDED_FOR`` is on.

Per-account limits (``login_failures_*``, ``password_reset_allowed``) count in the cache under
a hash of the normalised email, so they hold whatever address the guesses come from.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import ScopedRateThrottle

from baas.middleware import client_ip


class ClientAddressThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` keyed on the trusted client address."""

    def get_ident(self, request: Any) -> str:
        return client_ip(request) or "unknown"


class ActionRateThrottle(ScopedRateThrottle):
    """Rate limits for single actions on one object (``settings.BAAS_ACTION_THROTTLES``:
    ``{"NodeViewSet.restart": "node_restart"}``), counted per user and object, so one token
    cannot restart a node in a loop. A default throttle class: other views pass."""

    def allow_request(self, request: Any, view: Any) -> bool:
        name = f"{type(view).__name__}.{getattr(view, 'action', None)}"
        scope = getattr(settings, "BAAS_ACTION_THROTTLES", {}).get(name)
        if not scope or request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        self.scope = scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.cache_format % {
            "scope": scope,
            "ident": f"{getattr(request.user, 'pk', None)}:{view.kwargs.get('pk')}",
        }
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def get_rate(self) -> str | None:
        from rest_framework.settings import api_settings

        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def _account_key(kind: str, email: str) -> str:
    digest = hashlib.sha256((email or "").strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"baas:{kind}:{digest}"


def _window_count(key: str, window: int) -> tuple[int, float]:
    """The count in the current window and when the window ends (epoch seconds)."""
    entry = cache.get(key)
    if not entry or entry[1] <= time.time():
        return 0, 0.0
    return int(entry[0]), float(entry[1])


def _window_add(key: str, window: int) -> int:
    count, ends = _window_count(key, window)
    if not ends:
        ends = time.time() + window
    cache.set(key, (count + 1, ends), timeout=max(1, math.ceil(ends - time.time())))
    return count + 1


def login_lockout_remaining(email: str) -> int:
    """Seconds the account stays locked after too many failed sign-ins (0: not locked)."""
    count, ends = _window_count(_account_key("login-failures", email),
                                settings.BAAS_LOGIN_LOCKOUT_SECONDS)
    if count < settings.BAAS_LOGIN_MAX_FAILURES:
        return 0
    return max(1, math.ceil(ends - time.time()))


def login_failure_record(email: str) -> None:
    _window_add(_account_key("login-failures", email), settings.BAAS_LOGIN_LOCKOUT_SECONDS)


def login_failures_clear(email: str) -> None:
    cache.delete(_account_key("login-failures", email))


def password_reset_allowed(email: str) -> bool:
    """Count one reset mail for ``email``; False once the hourly allowance is used up."""
    count = _window_add(_account_key("password-reset", email), 3600)
    return count <= settings.BAAS_PASSWORD_RESET_PER_HOUR
