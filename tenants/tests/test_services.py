"""Services of the tenants app against the real database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from baas.audit import audit_verify
from baas.errors import AppError
from tenants import links, services
from tenants.models import Invitation, Membership, Tenant, User
from tenants.tests.factories import PASSWORD, InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _link_parts(body: str, path: str) -> list[str]:
    match = re.search(rf"{path}/([^/\s]+)/([^/\s]+)/", body)
    assert match, body
    return [match.group(1), match.group(2)]


def test_signup_creates_user_tenant_owner_and_sends_verification(
    eager_celery, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user, tenant = services.signup(email="Ann@Example.test", password=PASSWORD,
                                       organisation_name="Acme Labs")
    assert user.email == "ann@example.test" and not user.email_verified
    assert tenant.slug == "acme-labs"
    assert Membership.objects.get(user=user, tenant=tenant).role == "owner"
    assert [m.to for m in mailoutbox] == [["ann@example.test"]]
    uid, token = _link_parts(mailoutbox[0].body, "/verify-email")
    services.email_verify(uid=uid, token=token)
    user.refresh_from_db()
    assert user.email_verified
    with pytest.raises(AppError) as exc:  # single use
        services.email_verify(uid=uid, token=token)
    assert exc.value.code == "token_invalid"
    assert audit_verify(tenant=tenant) == (True, None)


@pytest.mark.parametrize("kwargs,code", [
    ({"email": "taken@example.test"}, "email_taken"),
    ({"organisation_slug": "taken"}, "slug_taken"),
    ({"organisation_slug": "admin"}, "slug_taken"),
    ({"password": "password1"}, "weak_password"),
    ({"password": "12345678901"}, "weak_password"),
])
def test_signup_bad_input_changes_nothing(kwargs, code):
    UserFactory(email="taken@example.test")
    Tenant.objects.create(name="Taken", slug="taken")
    before = (User.objects.count(), Tenant.objects.count())
    args = {"email": "new@example.test", "password": PASSWORD, "organisation_name": "Fresh Org",
            **kwargs}
    with pytest.raises(AppError) as exc:
        services.signup(**args)
    assert exc.value.code == code and exc.value.status in (400, 409)
    assert (User.objects.count(), Tenant.objects.count()) == before


def test_password_reset_round_trip(eager_celery, mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.password_reset_request(email=user.email.upper())
        services.password_reset_request(email="nobody@example.test")  # silently nothing
    assert len(mailoutbox) == 1
    uid, token = _link_parts(mailoutbox[0].body, "/reset-password")
    with pytest.raises(AppError) as weak:
        services.password_reset_confirm(uid=uid, token=token, new_password="short")
    assert weak.value.code == "weak_password"
    services.password_reset_confirm(uid=uid, token=token, new_password="a new long passphrase")
    user.refresh_from_db()
    assert user.check_password("a new long passphrase")
    with pytest.raises(AppError) as reused:
        services.password_reset_confirm(uid=uid, token=token, new_password="another passphrase!")
    assert reused.value.code == "token_invalid"


def test_invitation_is_sent_by_an_operation_and_accepted_once(
    eager_celery, mailoutbox, django_capture_on_commit_callbacks
):
    owner = MembershipFactory(role="owner")
    with django_capture_on_commit_callbacks(execute=True):
        invitation, op = services.invitation_create(
            tenant=owner.tenant, actor=owner.user, membership=owner,
            email="new@example.test", role="developer",
        )
    op.refresh_from_db()
    assert op.state == "succeeded" and op.progress == 100
    assert any("sending to new@example.test" in s["message"] for s in op.steps)
    token = re.search(r"/invitations/([^/\s]+)/", mailoutbox[0].body).group(1)
    membership = services.invitation_accept(token=token, password=PASSWORD, full_name="New")
    assert membership.role == "developer" and membership.user.email_verified
    with pytest.raises(AppError) as exc:
        services.invitation_accept(token=token, password=PASSWORD)
    assert exc.value.code == "invitation_accepted"


def test_invitation_task_is_idempotent(eager_celery, mailoutbox):
    from tenants.tasks import invitation_send_task

    owner = MembershipFactory(role="owner")
    invitation, op = services.invitation_create(tenant=owner.tenant, actor=owner.user,
                                                membership=owner, email="x@example.test")
    invitation_send_task(op.pk, invitation.pk)
    invitation_send_task(op.pk, invitation.pk)  # redelivered message
    assert len(mailoutbox) == 1


def test_existing_user_accepts_with_password_and_mismatch_is_refused():
    invitation = InvitationFactory(email="old@example.test", role="viewer")
    existing = UserFactory(email="old@example.test")
    token = links.invitation_link(invitation=invitation).rstrip("/").rsplit("/", 1)[1]
    stranger = UserFactory()
    with pytest.raises(AppError) as mismatch:
        services.invitation_accept(token=token, user=stranger)
    assert mismatch.value.code == "invitation_email_mismatch"
    with pytest.raises(AppError) as wrong:
        services.invitation_accept(token=token, password="not the password")
    assert wrong.value.code == "invalid_credentials"
    assert services.invitation_accept(token=token, password=PASSWORD).user == existing


@pytest.mark.parametrize("change,code", [
    ({"expires_at": timezone.now() - timedelta(seconds=1)}, "invitation_expired"),
    ({"revoked_at": timezone.now()}, "invitation_revoked"),
    ({"nonce": "f" * 32}, "invitation_invalid"),
])
def test_unusable_invitations(change, code):
    invitation = InvitationFactory()
    token = links.invitation_link(invitation=invitation).rstrip("/").rsplit("/", 1)[1]
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    with pytest.raises(AppError) as exc:
        services.invitation_accept(token=token, password=PASSWORD)
    assert exc.value.code == code
    assert not User.objects.filter(email=invitation.email).exists()


def test_member_quota_counts_pending_invitations():
    owner = MembershipFactory(role="owner")
    Tenant.objects.filter(pk=owner.tenant.pk).update(max_members=2)
    owner.tenant.refresh_from_db()
    services.invitation_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               email="one@example.test")
    with pytest.raises(AppError) as exc:
        services.invitation_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                                   email="two@example.test")
    assert exc.value.code == "quota_exceeded" and exc.value.details["limit"] == 2


def test_tenant_keeps_at_least_one_owner():
    owner = MembershipFactory(role="owner")
    with pytest.raises(AppError) as demote:
        services.membership_set_role(target=owner, actor=owner.user, membership=owner,
                                     role="admin")
    assert demote.value.code == "last_owner"
    with pytest.raises(AppError) as leave:
        services.membership_remove(target=owner, actor=owner.user, membership=owner)
    assert leave.value.code == "last_owner"
    second = MembershipFactory(tenant=owner.tenant, role="owner")
    services.membership_set_role(target=owner, actor=second.user, membership=second, role="admin")
    owner.refresh_from_db()
    assert owner.role == "admin"


def test_admin_cannot_touch_owners():
    owner = MembershipFactory(role="owner")
    admin = MembershipFactory(tenant=owner.tenant, role="admin")
    viewer = MembershipFactory(tenant=owner.tenant, role="viewer")
    with pytest.raises(AppError) as exc:
        services.membership_set_role(target=viewer, actor=admin.user, membership=admin,
                                     role="owner")
    assert exc.value.status == 403
    services.membership_set_role(target=viewer, actor=admin.user, membership=admin,
                                 role="developer")
    with pytest.raises(AppError):
        services.membership_remove(target=owner, actor=admin.user, membership=admin)


def test_token_quota_and_scope_validation():
    dev = MembershipFactory(role="developer")
    Tenant.objects.filter(pk=dev.tenant.pk).update(max_tokens=1)
    dev.tenant.refresh_from_db()
    with pytest.raises(AppError) as bad_scope:
        services.token_create(tenant=dev.tenant, actor=dev.user, membership=dev, name="x",
                              scopes=["admin"])
    assert bad_scope.value.code == "invalid_scope"
    token, raw = services.token_create(tenant=dev.tenant, actor=dev.user, membership=dev,
                                       name="ci", scopes=["read", "deploy"])
    assert raw.startswith(f"baas_{token.prefix}_") and raw not in token.token_hash
    with pytest.raises(AppError) as quota:
        services.token_create(tenant=dev.tenant, actor=dev.user, membership=dev, name="y",
                              scopes=["read"])
    assert quota.value.code == "quota_exceeded"
    services.token_revoke(token=token, actor=dev.user, membership=dev)
    services.token_create(tenant=dev.tenant, actor=dev.user, membership=dev, name="y",
                          scopes=["read"])  # revoked tokens do not count


def test_cancelled_invitation_operation_sends_nothing(eager_celery, mailoutbox):
    from baas.operations import operation_cancel
    from tenants.tasks import invitation_send_task

    owner = MembershipFactory(role="owner")
    invitation, op = services.invitation_create(tenant=owner.tenant, actor=owner.user,
                                                membership=owner, email="c@example.test")
    operation_cancel(operation_id=op.pk, actor=owner.user)
    invitation_send_task(op.pk, invitation.pk)
    assert mailoutbox == []
    op.refresh_from_db()
    assert op.state == "cancelled"


def test_revoked_invitation_fails_its_operation(eager_celery, mailoutbox):
    from tenants.tasks import invitation_send_task

    owner = MembershipFactory(role="owner")
    invitation, op = services.invitation_create(tenant=owner.tenant, actor=owner.user,
                                                membership=owner, email="r@example.test")
    services.invitation_revoke(invitation=invitation, actor=owner.user, membership=owner)
    invitation_send_task(op.pk, invitation.pk)
    op.refresh_from_db()
    assert (op.state, op.error_code) == ("failed", "invitation_not_pending")
    assert mailoutbox == []
