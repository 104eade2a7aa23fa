from datetime import timedelta

import pytest
from django.utils import timezone

from baas.errors import QuotaExceeded
from baas.quotas import quota_check, quota_usage
from tenants import selectors
from tenants.models import ApiToken
from tenants.tests.factories import (
    InvitationFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_invitation_statuses():
    tenant = TenantFactory()
    now = timezone.now()
    pending = InvitationFactory(tenant=tenant)
    accepted = InvitationFactory(tenant=tenant, accepted_at=now)
    revoked = InvitationFactory(tenant=tenant, revoked_at=now)
    expired = InvitationFactory(tenant=tenant, expires_at=now - timedelta(seconds=1))
    InvitationFactory()  # another tenant's
    for status, expected in [("pending", pending), ("accepted", accepted),
                             ("revoked", revoked), ("expired", expired)]:
        assert list(selectors.invitation_list(tenant=tenant, status=status)) == [expected]
        assert expected.status == status
    assert selectors.invitation_list(tenant=tenant).count() == 4


def test_token_list_active_and_counts():
    m = MembershipFactory()
    now = timezone.now()

    def token(prefix, **kw):
        return ApiToken.objects.create(tenant=m.tenant, name=prefix, prefix=prefix,
                                       token_hash="0" * 64, scopes=["read"],
                                       created_by=m.user, **kw)

    live = token("a1")
    future = token("a2", expires_at=now + timedelta(days=1))
    token("a3", revoked_at=now)
    token("a4", expires_at=now - timedelta(seconds=1))
    assert set(selectors.token_list(tenant=m.tenant, active=True)) == {live, future}
    assert selectors.token_list(tenant=m.tenant, active=False).count() == 2
    assert selectors.active_token_count(m.tenant) == 2


def test_staff_see_every_tenant_members_see_theirs():
    m = MembershipFactory()
    other = TenantFactory()
    assert list(selectors.tenant_list_for_user(user=m.user)) == [m.tenant]
    staff = UserFactory(is_staff=True)
    assert {m.tenant, other} <= set(selectors.tenant_list_for_user(user=staff))


def test_quota_usage_and_check():
    m = MembershipFactory()
    usage = quota_usage(tenant=m.tenant)
    assert usage["max_members"] == {"limit": m.tenant.max_members, "used": 1}
    assert usage["max_tokens"]["used"] == 0
    quota_check(tenant=m.tenant, quota="max_members")
    with pytest.raises(QuotaExceeded) as exc:
        quota_check(tenant=m.tenant, quota="max_members", adding=m.tenant.max_members)
    assert exc.value.details == {"quota": "max_members", "limit": m.tenant.max_members,
                                 "used": 1}
