"""Signed, expiring tokens for email links (verification, password reset, invitations)."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core import signing
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

INVITATION_SALT = "tenants.invitation"


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Valid until the email is verified (or changed) or ``PASSWORD_RESET_TIMEOUT`` passes."""

    key_salt = "tenants.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp: int) -> str:  # type: ignore[no-untyped-def]
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


email_verification_tokens = EmailVerificationTokenGenerator()
password_reset_tokens = default_token_generator


def encode_uid(pk: int) -> str:
    return urlsafe_base64_encode(force_bytes(pk))


def decode_uid(uid: str) -> int | None:
    try:
        return int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError):
        return None


def invitation_token(invitation_id: int, nonce: str) -> str:
    return signing.dumps({"i": invitation_id, "n": nonce}, salt=INVITATION_SALT)


def invitation_token_parse(token: str) -> tuple[int, str] | None:
    try:
        data = signing.loads(token, salt=INVITATION_SALT)
        return int(data["i"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
