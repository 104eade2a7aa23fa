"""The links the platform emails to people (email verification, password reset,
invitations): signed tokens under ``BAAS_PUBLIC_URL``.

Kept apart from ``tenants.services`` so the email tasks can build them without importing
the services that enqueue those tasks (an import cycle otherwise).
"""

from __future__ import annotations

from django.conf import settings

from tenants import tokens as signed
from tenants.models import Invitation, User


def _link(path: str) -> str:
    return f"{settings.BAAS_PUBLIC_URL}{path}"


def email_verification_link(*, user: User) -> str:
    uid = signed.encode_uid(user.pk)
    token = signed.email_verification_tokens.make_token(user)
    return _link(f"/verify-email/{uid}/{token}/")


def password_reset_link(*, user: User) -> str:
    uid = signed.encode_uid(user.pk)
    return _link(f"/reset-password/{uid}/{signed.password_reset_tokens.make_token(user)}/")


def invitation_link(*, invitation: Invitation) -> str:
    return _link(f"/invitations/{signed.invitation_token(invitation.pk, invitation.nonce)}/")
