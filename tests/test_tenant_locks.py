"""Invariants over several rows hold under concurrency (code review F8 b, c, d).

Each test runs two service calls at once in two threads, each with its own database
connection, released together by a barrier. On PostgreSQL only the right lock (the tenant row,
or the invitation row) makes the invariant hold; SQLite's IMMEDIATE transactions serialise
every writer, so there the tests pass either way. CI runs them on both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from baas.errors import AppError
from tenants import services
from tenants.models import ApiToken, Invitation, Membership
from tenants.tests.factories import InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` together; each result is the return value or the AppError's code."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except AppError as exc:
            results[i] = exc.code
        except Exception as exc:  # a deadlock or serialisation failure is a finding too
            results[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _slow_owner_count(monkeypatch):
    """Widen the window between counting owners and writing, as a slow server would."""
    import time

    real = services._owner_count

    def slow(tenant):
        n = real(tenant)
        time.sleep(0.3)
        return n

    monkeypatch.setattr(services, "_owner_count", slow)


def test_two_owners_demoting_each_other_keep_one_owner(monkeypatch):
    a = MembershipFactory(role="owner")
    b = MembershipFactory(tenant=a.tenant, role="owner")
    _slow_owner_count(monkeypatch)
    results = _race(
        lambda: services.membership_set_role(target=b, actor=a.user, membership=a, role="admin"),
        lambda: services.membership_set_role(target=a, actor=b.user, membership=b, role="admin"),
    )
    assert Membership.objects.filter(tenant=a.tenant, role="owner").count() == 1, results
    assert sorted(str(type(r).__name__ if not isinstance(r, str) else r)
                  for r in results)[0] in ("Membership", "last_owner", "permission_denied")


def test_two_owners_removing_each_other_keep_one_owner(monkeypatch):
    a = MembershipFactory(role="owner")
    b = MembershipFactory(tenant=a.tenant, role="owner")
    _slow_owner_count(monkeypatch)
    results = _race(
        lambda: services.membership_remove(target=b, actor=a.user, membership=a),
        lambda: services.membership_remove(target=a, actor=b.user, membership=b),
    )
    assert Membership.objects.filter(tenant=a.tenant, role="owner").count() == 1, results


def test_two_owners_leaving_at_once_keep_one_owner(monkeypatch):
    a = MembershipFactory(role="owner")
    b = MembershipFactory(tenant=a.tenant, role="owner")
    _slow_owner_count(monkeypatch)
    results = _race(
        lambda: services.membership_remove(target=a, actor=a.user, membership=a),
        lambda: services.membership_remove(target=b, actor=b.user, membership=b),
    )
    assert Membership.objects.filter(tenant=a.tenant, role="owner").count() == 1, results
    assert "last_owner" in results


def _slow_quota(monkeypatch):
    import time

    from baas import quotas

    real = quotas.quota_check

    def slow(**kwargs):
        real(**kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(services, "quota_check", slow)


def test_token_quota_holds_under_concurrent_creation(monkeypatch):
    owner = MembershipFactory(role="owner")
    tenant = owner.tenant
    tenant.max_tokens = 1
    tenant.save()
    _slow_quota(monkeypatch)

    def create(name):
        return lambda: services.token_create(tenant=tenant, actor=owner.user, membership=owner,
                                             name=name, scopes=["read"])

    results = _race(create("a"), create("b"))
    assert ApiToken.objects.filter(tenant=tenant).count() == 1, results
    assert "quota_exceeded" in results


def test_member_quota_holds_under_concurrent_invitations(monkeypatch):
    owner = MembershipFactory(role="owner")
    tenant = owner.tenant
    tenant.max_members = 2
    tenant.save()
    _slow_quota(monkeypatch)

    def invite(email):
        return lambda: services.invitation_create(tenant=tenant, actor=owner.user,
                                                  membership=owner, email=email)

    results = _race(invite("x@example.test"), invite("y@example.test"))
    assert Invitation.objects.filter(tenant=tenant).count() == 1, results
    assert "quota_exceeded" in results


def test_member_quota_holds_when_an_invitation_and_an_acceptance_race(monkeypatch):
    owner = MembershipFactory(role="owner")
    tenant = owner.tenant
    tenant.max_members = 2
    tenant.save()
    invitation = InvitationFactory(tenant=tenant)  # 1 member + 1 pending = the quota
    invitee = UserFactory(email=invitation.email)
    # A staff member raised the quota by one, then lowered it back: meanwhile a second
    # invitation went out. Both acceptances racing must not pass max_members.
    second = InvitationFactory(tenant=tenant)
    second_user = UserFactory(email=second.email)
    _slow_quota(monkeypatch)
    token_1 = services.signed.invitation_token(invitation.pk, invitation.nonce)
    token_2 = services.signed.invitation_token(second.pk, second.nonce)
    results = _race(lambda: services.invitation_accept(token=token_1, user=invitee),
                    lambda: services.invitation_accept(token=token_2, user=second_user))
    assert Membership.objects.filter(tenant=tenant).count() == 2, results
    assert "quota_exceeded" in results


def test_an_invitation_is_never_both_accepted_and_revoked(monkeypatch):
    import time

    owner = MembershipFactory(role="owner")
    invitation = InvitationFactory(tenant=owner.tenant)
    invitee = UserFactory(email=invitation.email)
    token = services.signed.invitation_token(invitation.pk, invitation.nonce)
    real_audit = services.audit_record

    def slow_audit(**kwargs):  # between the status check and the commit
        time.sleep(0.3)
        return real_audit(**kwargs)

    monkeypatch.setattr(services, "audit_record", slow_audit)
    def revoke_a_moment_later():  # the admin's page still shows the invitation pending
        time.sleep(0.1)
        return services.invitation_revoke(invitation=invitation, actor=owner.user,
                                          membership=owner)

    results = _race(lambda: services.invitation_accept(token=token, user=invitee),
                    revoke_a_moment_later)
    invitation.refresh_from_db()
    assert not (invitation.accepted_at and invitation.revoked_at), results
    assert Membership.objects.filter(tenant=owner.tenant, user=invitee).exists() == \
        bool(invitation.accepted_at)
