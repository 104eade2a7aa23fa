"""API token authentication: ``Authorization: Bearer baas_<prefix>_<secret>``.

Only SHA-256 of the whole token is stored. The prefix finds the row; the hash is compared in
constant time. A revoked or expired token, or a token whose creator has left the tenant or
been deactivated, fails with 401 ``authentication_failed``. A valid token that reaches an
endpoint managing people, tokens or the organisation fails with 403 ``session_required``
(``tenants.permissions.check_token_allowed``: the one place that rule lives).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

TOKEN_PREFIX = "baas"
# last_used_at is written at most this often per token, to keep reads cheap.
_LAST_USED_RESOLUTION_SECONDS = 60


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def split_token(raw: str) -> str | None:
    """Return the prefix of a well-formed token, else None."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        from tenants.models import ApiToken, Membership

        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        raw = raw.strip()
        prefix = split_token(raw)
        fail = exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        if prefix is None:
            raise fail
        token = (
            ApiToken.objects.select_related("tenant", "created_by").filter(prefix=prefix).first()
        )
        if token is None or not hmac.compare_digest(token.token_hash, token_hash(raw)):
            raise fail
        if not token.is_active or not token.created_by.is_active:
            raise fail
        if not Membership.objects.filter(tenant_id=token.tenant_id, user=token.created_by).exists():
            raise fail
        from tenants.permissions import check_token_allowed

        check_token_allowed(request, (getattr(request, "parser_context", None) or {}).get("view"))
        now = timezone.now()
        if (
            token.last_used_at is None
            or (now - token.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS
        ):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.created_by, token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
