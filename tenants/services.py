"""Writes of the tenants app: sign-up, verification, passwords, invitations, members, tokens.

Each function is one transaction and writes one audit record per state change. Errors are
``baas.errors.AppError`` subclasses with stable codes (see ``docs/api.md``).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from baas.audit import audit_record
from baas.errors import (
    AppError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from baas.operations import enqueue_after_commit, operation_create
from baas.quotas import quota_check
from baas.tenancy import require_role
from tenants import tokens as signed
from tenants.auth import TOKEN_PREFIX, token_hash
from tenants.choices import PLAN_QUOTAS, QUOTA_NAMES, ROLE_RANK, Plan, Role, Scope
from tenants.models import ApiToken, Invitation, Membership, Tenant, User
from tenants.selectors import member_count, pending_invitation_count
from tenants.tasks import (
    email_verification_send_task,
    invitation_send_task,
    password_reset_send_task,
)

RESERVED_SLUGS = frozenset({"admin", "api", "static", "www", "staff", "new"})


# --- helpers -----------------------------------------------------------------------------


def _validate_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "weak_password", " ".join(exc.messages), details={"password": exc.messages}
        ) from None


def _normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _lock_tenant(tenant: Tenant) -> Tenant:
    """Lock the tenant row for the rest of the transaction and return it fresh.

    Invariants over a set of rows (at least one owner; members and tokens within quota)
    cannot be guarded by locking the rows themselves: a concurrent insert or a concurrent
    change of a *different* row passes by. Every service that checks one takes this lock
    first, so on PostgreSQL they serialise per tenant (SQLite's IMMEDIATE transactions
    already serialise every writer). Lock order: tenant, then its rows.
    """
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


# --- sign-up and email verification ----------------------------------------------------


def tenant_slug_available(slug: str) -> bool:
    return slug not in RESERVED_SLUGS and not Tenant.objects.filter(slug=slug).exists()


def signup(
    *,
    email: str,
    password: str,
    organisation_name: str,
    organisation_slug: str = "",
    full_name: str = "",
    plan: str = Plan.FREE,
) -> tuple[User, Tenant]:
    """Create a user, their organisation and an owner membership in one transaction, then
    send the verification email through Celery."""
    email = _normalise_email(email)
    slug = slugify(organisation_slug or organisation_name)[:50]
    if not slug:
        raise ValidationFailed(
            "invalid_slug", _("The organisation needs a name or slug with letters or digits.")
        )
    if User.objects.filter(email=email).exists():
        raise Conflict(
            "email_taken", _("An account with this email address already exists.")
        )
    if not tenant_slug_available(slug):
        raise Conflict(
            "slug_taken",
            _("The organisation address '%(slug)s' is taken; choose another.") % {"slug": slug},
        )
    _validate_password(password, User(email=email, full_name=full_name))
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name)
            tenant = tenant_create(name=organisation_name or slug, slug=slug, plan=plan)
            Membership.objects.create(user=user, tenant=tenant, role=Role.OWNER)
            audit_record(tenant=tenant, actor=user, action="tenant.signup", target=tenant,
                         metadata={"email": email})
            email_verification_send(user=user)
    except IntegrityError:
        # Lost a race with a concurrent sign-up for the same email or slug.
        raise Conflict("email_or_slug_taken", _("This email or organisation was just taken.")) \
            from None
    return user, tenant


def tenant_create(*, name: str, slug: str, plan: str = Plan.FREE) -> Tenant:
    quotas = PLAN_QUOTAS.get(plan, PLAN_QUOTAS[Plan.FREE])
    return Tenant.objects.create(name=name, slug=slug, plan=plan, **quotas)


def email_verification_send(*, user: User) -> None:
    """Queue the verification email (after commit)."""

    enqueue_after_commit(email_verification_send_task, user.pk)


def email_verify(*, uid: str, token: str) -> User:
    user_id = signed.decode_uid(uid)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None or not signed.email_verification_tokens.check_token(user, token):
        raise ValidationFailed(
            "token_invalid",
            _("This verification link is invalid, expired or already used."),
        )
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    audit_record(tenant=None, actor=user, action="user.email_verified", target=user)
    return user


# --- sign-in and passwords -------------------------------------------------------------


def login_check(*, email: str, password: str, request: Any = None) -> User:
    """Return the user for valid credentials or raise 401 ``invalid_credentials``.

    After ``BAAS_LOGIN_MAX_FAILURES`` wrong passwords for one email the account answers
    429 ``account_locked`` (even to the right password) until the lockout ends or the
    password is reset, whatever address the attempts come from."""
    from tenants import throttling

    email = _normalise_email(email)
    remaining = throttling.login_lockout_remaining(email)
    if remaining:
        audit_record(tenant=None, actor=None, action="user.login_locked", request=request,
                     metadata={"email": email})
        minutes = max(1, (remaining + 59) // 60)
        raise AppError(
            "account_locked",
            _("Too many failed sign-ins for this account. Try again in %(minutes)s minutes, "
              "or reset your password to sign in now.") % {"minutes": minutes},
            429, details={"retry_after": remaining},
        )
    user = authenticate(request, username=email, password=password)
    if user is None:
        throttling.login_failure_record(email)
        audit_record(tenant=None, actor=None, action="user.login_failed", request=request,
                     metadata={"email": email})
        raise AppError("invalid_credentials", _("Wrong email or password."), 401)
    throttling.login_failures_clear(email)
    audit_record(tenant=None, actor=user, action="user.login", target=user, request=request)
    return user


def password_reset_request(*, email: str) -> None:
    """Queue a reset email if the account exists; the caller never learns whether it does."""
    from tenants import throttling

    user = User.objects.filter(email=_normalise_email(email), is_active=True).first()
    if user is None:
        return
    if not throttling.password_reset_allowed(user.email):
        return  # at most BAAS_PASSWORD_RESET_PER_HOUR mails; the answer stays the same
    audit_record(tenant=None, actor=user, action="user.password_reset_requested", target=user)
    enqueue_after_commit(password_reset_send_task, user.pk)


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    user_id = signed.decode_uid(uid)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if user is None or not signed.password_reset_tokens.check_token(user, token):
        raise ValidationFailed(
            "token_invalid", _("This password-reset link is invalid, expired or already used.")
        )
    _validate_password(new_password, user)
    user.set_password(new_password)  # changes the hash, so the link cannot be reused
    user.save(update_fields=["password"])
    from tenants import throttling

    throttling.login_failures_clear(user.email)  # the way back from a sign-in lockout
    audit_record(tenant=None, actor=user, action="user.password_reset", target=user)
    return user


# --- tenants -----------------------------------------------------------------------------


def tenant_update(*, tenant: Tenant, actor: User, membership: Any, name: str) -> Tenant:
    require_role(membership, Role.ADMIN)
    tenant.name = name
    tenant.save(update_fields=["name"])
    audit_record(tenant=tenant, actor=actor, action="tenant.updated", target=tenant,
                 metadata={"name": name})
    return tenant


def tenant_set_quotas(
    *, tenant: Tenant, actor: User, plan: str | None = None, quotas: dict[str, int]
) -> Tenant:
    """Staff only: change the plan (resetting quotas to its defaults) and/or single quotas."""
    if not actor.is_staff:
        raise PermissionDenied("permission_denied", _("Only platform staff can change quotas."))
    changes: dict[str, Any] = {}
    if plan:
        tenant.plan = plan
        changes.update(PLAN_QUOTAS[plan])
        changes["plan"] = plan
    for name, value in quotas.items():
        if name not in QUOTA_NAMES or int(value) < 0:
            raise ValidationFailed("invalid_quota",
                                   _("Unknown or negative quota '%(name)s'.") % {"name": name})
        changes[name] = int(value)
    for field, value in changes.items():
        setattr(tenant, field, value)
    tenant.save()
    audit_record(tenant=tenant, actor=actor, action="tenant.quotas_changed", target=tenant,
                 metadata=changes)
    return tenant


# --- invitations -------------------------------------------------------------------------


def invitation_create(
    *, tenant: Tenant, actor: User, membership: Any, email: str, role: str = Role.VIEWER,
    idempotency_key: str | None = None,
) -> tuple[Invitation, Any]:
    """Invite ``email`` with ``role``; sending the email is an Operation run by Celery.

    Returns ``(invitation, operation)``.
    """
    require_role(membership, Role.ADMIN)
    email = _normalise_email(email)
    if role == Role.OWNER and getattr(membership, "role", None) != Role.OWNER:
        raise PermissionDenied("permission_denied", _("Only an owner can invite another owner."))
    if Membership.objects.filter(tenant=tenant, user__email=email).exists():
        raise Conflict("already_member", _("%(email)s is already a member of this organisation.")
                       % {"email": email})
    from tenants.selectors import invitation_list

    with transaction.atomic():
        tenant = _lock_tenant(tenant)  # member quota: invitations and acceptances serialise
        if idempotency_key:
            op = operation_create(tenant=tenant, actor=actor, kind="invitation.send",
                                  idempotency_key=idempotency_key)
            if not op.created:
                return Invitation.objects.get(pk=op.target_id, tenant=tenant), op
        if invitation_list(tenant=tenant, status="pending").filter(email=email).exists():
            raise Conflict("invitation_pending", _("%(email)s already has a pending invitation.")
                           % {"email": email})
        quota_check(tenant=tenant, quota="max_members",
                    used=member_count(tenant) + pending_invitation_count(tenant))
        invitation = Invitation.objects.create(
            tenant=tenant, email=email, role=role, nonce=secrets.token_hex(16), invited_by=actor,
            expires_at=timezone.now() + timedelta(hours=settings.BAAS_INVITATION_TTL_HOURS),
        )
        if idempotency_key:
            op.target_type, op.target_id = invitation._meta.label_lower, str(invitation.pk)
            op.save(update_fields=["target_type", "target_id"])
        else:
            op = operation_create(tenant=tenant, actor=actor, kind="invitation.send",
                                  target=invitation)
        audit_record(tenant=tenant, actor=actor, action="invitation.created", target=invitation,
                     metadata={"email": email, "role": role, "operation": op.pk})
        enqueue_after_commit(invitation_send_task, op.pk, invitation.pk)
    return invitation, op


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation a link token names, or 400 ``invitation_invalid``."""
    parsed = signed.invitation_token_parse(token)
    invitation = None
    if parsed:
        invitation = Invitation.objects.select_related("tenant").filter(pk=parsed[0]).first()
    if invitation is None or not secrets.compare_digest(invitation.nonce, parsed[1]):
        raise ValidationFailed("invitation_invalid", _("This invitation link is not valid."))
    if invitation.status != "pending":
        raise ValidationFailed(
            f"invitation_{invitation.status}",
            _("This invitation is %(status)s and can no longer be used.")
            % {"status": invitation.status},
        )
    return invitation


def invitation_accept(
    *, token: str, user: User | None = None, password: str = "", full_name: str = ""
) -> Membership:
    """Accept as the signed-in ``user``, as the existing account for the invited email
    (``password`` checked), or by creating that account (``password`` validated)."""
    with transaction.atomic():
        invitation = invitation_from_token(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != "pending":  # re-check under the lock: single use
            raise ValidationFailed(f"invitation_{invitation.status}",
                                   _("This invitation is %(status)s.")
                                   % {"status": invitation.status})
        if user is not None and user.is_authenticated:
            if user.email != invitation.email:
                raise PermissionDenied(
                    "invitation_email_mismatch",
                    _("This invitation was sent to a different email address."),
                )
        else:
            existing = User.objects.filter(email=invitation.email).first()
            if existing is not None:
                if not existing.check_password(password):
                    raise AppError("invalid_credentials", _("Wrong email or password."), 401)
                user = existing
            else:
                _validate_password(password, User(email=invitation.email, full_name=full_name))
                user = User.objects.create_user(
                    email=invitation.email, password=password, full_name=full_name,
                    # The link arrived at this address, which proves it.
                    email_verified_at=timezone.now(),
                )
        tenant = _lock_tenant(invitation.tenant)
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise Conflict("already_member", _("You are already a member of this organisation."))
        quota_check(tenant=tenant, quota="max_members")
        membership = Membership.objects.create(tenant=tenant, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(tenant=tenant, actor=user, action="invitation.accepted", target=invitation,
                     metadata={"role": invitation.role})
    return membership


def invitation_revoke(*, invitation: Invitation, actor: User, membership: Any) -> Invitation:
    require_role(membership, Role.ADMIN)
    with transaction.atomic():
        # The same row lock invitation_accept takes: one of the two wins, never both.
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != "pending":
            raise Conflict("invitation_not_pending", _("The invitation is already %(status)s.")
                           % {"status": invitation.status})
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(tenant=invitation.tenant, actor=actor, action="invitation.revoked",
                     target=invitation)
    return invitation


# --- memberships ------------------------------------------------------------------------


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


def _locked_membership(target: Membership) -> Membership:
    """The target row re-read under the tenant lock (404 if it left meanwhile)."""
    found = Membership.objects.select_for_update().select_related("user", "tenant") \
        .filter(pk=target.pk).first()
    if found is None:
        raise NotFound("not_found", _("No such member."))
    return found


def _current_membership(membership: Any) -> Any:
    """The actor's membership as it is now (a concurrent demotion counts), or None for staff."""
    if membership is None or not getattr(membership, "pk", None):
        return membership
    found = Membership.objects.filter(pk=membership.pk).first()
    if found is None:
        raise PermissionDenied("permission_denied", _("You are no longer a member."))
    return found


def membership_set_role(
    *, target: Membership, actor: User, membership: Any, role: str
) -> Membership:
    """Admins change roles below owner; only owners grant or take the owner role; a tenant
    always keeps at least one owner."""
    require_role(membership, Role.ADMIN)
    if role not in ROLE_RANK:
        raise ValidationFailed("invalid_role", _("Unknown role '%(role)s'.") % {"role": role})
    with transaction.atomic():
        _lock_tenant(target.tenant)  # "at least one owner" is a rule over all the rows
        target = _locked_membership(target)
        membership = _current_membership(membership)
        touches_owner = Role.OWNER in (role, target.role)
        if touches_owner and getattr(membership, "role", None) != Role.OWNER:
            raise PermissionDenied("permission_denied",
                                   _("Only an owner can grant or remove owner."))
        if target.role == Role.OWNER and role != Role.OWNER and _owner_count(target.tenant) <= 1:
            raise Conflict("last_owner", _("An organisation must keep at least one owner."))
        old = target.role
        target.role = role
        target.save(update_fields=["role"])
        audit_record(tenant=target.tenant, actor=actor, action="membership.role_changed",
                     target=target, metadata={"user": target.user.email, "from": old, "to": role})
    return target


def membership_remove(*, target: Membership, actor: User, membership: Any) -> None:
    """Members may leave; admins remove non-owners; owners remove anyone but the last owner."""
    leaving = target.user_id == actor.pk
    if not leaving:
        require_role(membership, Role.ADMIN)
    with transaction.atomic():
        _lock_tenant(target.tenant)  # "at least one owner" is a rule over all the rows
        target = _locked_membership(target)
        if not leaving:
            membership = _current_membership(membership)
            require_role(membership, Role.ADMIN)
            if target.role == Role.OWNER and getattr(membership, "role", None) != Role.OWNER:
                raise PermissionDenied("permission_denied",
                                       _("Only an owner can remove an owner."))
        if target.role == Role.OWNER and _owner_count(target.tenant) <= 1:
            raise Conflict("last_owner", _("An organisation must keep at least one owner."))
        audit_record(tenant=target.tenant, actor=actor, action="membership.removed",
                     target=target, metadata={"user": target.user.email, "role": target.role})
        target.delete()


# --- API tokens -------------------------------------------------------------------------


def token_create(
    *, tenant: Tenant, actor: User, membership: Any, name: str, scopes: list[str],
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Returns the token row and the raw token, which is shown once and never stored."""
    require_role(membership, Role.DEVELOPER)
    scopes = sorted(set(scopes))
    if not scopes or any(s not in Scope.values for s in scopes):
        raise ValidationFailed(
            "invalid_scope",
            _("Scopes must be a non-empty subset of %(scopes)s.")
            % {"scopes": sorted(Scope.values)},
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("invalid_expiry", _("The expiry must be in the future."))
    with transaction.atomic():
        tenant = _lock_tenant(tenant)  # two creations at once must not both pass the quota
        quota_check(tenant=tenant, quota="max_tokens")
        prefix = secrets.token_hex(6)
        raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken.objects.create(
            tenant=tenant, name=name, prefix=prefix, token_hash=token_hash(raw), scopes=scopes,
            created_by=actor, expires_at=expires_at,
        )
        audit_record(tenant=tenant, actor=actor, action="token.created", target=token,
                     metadata={"name": name, "scopes": scopes, "prefix": prefix})
    return token, raw


def token_revoke(*, token: ApiToken, actor: User, membership: Any) -> ApiToken:
    """Its creator or a tenant admin revokes a token; platform staff too (from the admin:
    the API refuses staff changes to a tenant they are not a member of)."""
    if token.created_by_id != actor.pk and not (membership is None and actor.is_staff):
        require_role(membership, Role.ADMIN)
    if token.revoked_at:
        return token  # revoking twice changes nothing
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(tenant=token.tenant, actor=actor, action="token.revoked", target=token,
                 metadata={"prefix": token.prefix})
    return token


def user_get_by_email(email: str) -> User:
    user = User.objects.filter(email=_normalise_email(email)).first()
    if user is None:
        raise NotFound("not_found", _("No such user."))
    return user
