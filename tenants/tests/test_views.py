"""Portal views through Django's test client: pages render, forms call services, errors show.

Reads and writes go through the real services and selectors; only the fixtures below create
rows directly, to arrange a state quickly.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def make_member(email: str, slug: str, role: str = "owner") -> tuple[User, Tenant]:
    user = User.objects.create_user(email=email, password=PASSWORD, full_name="Test Person")
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user, tenant


@pytest.fixture
def owner(client):
    user, tenant = make_member("owner@example.com", "acme")
    client.force_login(user)
    return user, tenant


def test_landing_renders_for_anonymous_users(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="#main"' in body  # skip link
    assert reverse("portal:signup") in body
    assert "/static/vendor/htmx.min.js" in body


def test_landing_in_korean_when_the_language_cookie_says_so(client):
    client.cookies["django_language"] = "ko"
    body = client.get("/").content.decode()
    assert '<html lang="ko">' in body
    assert "조직 만들기" in body


def test_protected_pages_redirect_to_the_portal_login(client):
    for name in ("dashboard", "members", "tokens", "audit", "operations"):
        response = client.get(reverse(f"portal:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))


def test_dashboard_shows_organisation_plan_and_quotas(client, owner):
    _, tenant = owner
    body = client.get(reverse("portal:dashboard")).content.decode()
    assert tenant.name in body
    assert "<progress" in body
    assert f'max="{tenant.max_members}"' in body


def test_signup_form_names_the_weak_password_without_calling_a_service(client):
    response = client.post(reverse("portal:signup"), {
        "full_name": "Kim", "email": "kim@example.com", "password": "12345",
        "organisation": "Kim Energy", "slug": "kim-energy",
    })
    assert response.status_code == 400
    assert not User.objects.filter(email="kim@example.com").exists()
    form = response.context["form"]
    assert form.errors["password"]


def test_signup_rejects_a_malformed_slug(client):
    response = client.post(reverse("portal:signup"), {
        "full_name": "Kim", "email": "kim@example.com", "password": PASSWORD,
        "organisation": "Kim Energy", "slug": "Not A Slug!",
    })
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors


def test_tenant_switch_changes_the_current_organisation(client):
    user, first = make_member("multi@example.com", "first-org")
    second = Tenant.objects.create(slug="second-org", name="Second Org")
    Membership.objects.create(user=user, tenant=second, role="viewer")
    client.force_login(user)
    body = client.get(reverse("portal:dashboard")).content.decode()
    assert 'id="tenant-switch"' in body
    client.post(reverse("portal:tenant-switch"), {"tenant": "second-org"})
    assert client.get(reverse("portal:dashboard")).context["tenant"] == second
    # A slug the user is not a member of changes nothing.
    Tenant.objects.create(slug="stranger", name="Stranger")
    client.post(reverse("portal:tenant-switch"), {"tenant": "stranger"})
    assert client.get(reverse("portal:dashboard")).context["tenant"] == second


def test_viewers_do_not_see_the_audit_log(client):
    user, _ = make_member("viewer@example.com", "acme", role="viewer")
    client.force_login(user)
    assert client.get(reverse("portal:audit")).status_code == 404


def test_audit_page_shows_chain_status(client, owner):
    response = client.get(reverse("portal:audit"))
    assert response.status_code == 200
    assert response.context["chain_ok"] is True


def test_another_tenants_operation_is_not_found(client, owner):
    from baas.operations import operation_create

    _, other = make_member("other@example.com", "other-org")
    op = operation_create(tenant=other, actor=None, kind="test.noop")
    response = client.get(reverse("portal:operation-detail", args=[op.pk]))
    assert response.status_code == 404


def test_operation_page_points_at_the_sse_stream(client, owner):
    from baas.operations import operation_create

    _, tenant = owner
    op = operation_create(tenant=tenant, actor=None, kind="test.noop")
    body = client.get(reverse("portal:operation-detail", args=[op.pk])).content.decode()
    assert f"/api/v1/operations/{op.pk}/events/?tenant={tenant.slug}" in body
    assert 'data-finished="0"' in body


SIGNUP = {
    "full_name": "Kim Minji", "email": "minji@example.com", "password": PASSWORD,
    "organisation": "Minji Energy", "slug": "minji-energy",
}


def test_signup_creates_account_and_organisation_and_lands_on_the_dashboard(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("portal:signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    assert callbacks, "the verification email is queued after commit"
    user = User.objects.get(email="minji@example.com")
    assert Membership.objects.get(user=user).tenant.slug == "minji-energy"
    dashboard = client.get(reverse("portal:dashboard"))
    assert dashboard.context["tenant"].slug == "minji-energy"


def test_signup_names_a_taken_email_and_a_taken_slug_on_their_fields(client):
    make_member("minji@example.com", "minji-energy")
    response = client.post(reverse("portal:signup"), SIGNUP)
    assert response.status_code == 400
    assert "email" in response.context["form"].errors
    response = client.post(reverse("portal:signup"), {**SIGNUP, "email": "new@example.com"})
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors


def test_email_verification_link_works_once(client):
    from tenants.links import email_verification_link

    user, _ = make_member("verify@example.com", "verify-org")
    path = email_verification_link(user=user).split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).status_code == 200  # a confirm button, nothing changed
    user.refresh_from_db()
    assert user.email_verified_at is None
    assert client.post("/" + path).status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None
    reused = client.post("/" + path)
    assert reused.status_code == 400
    assert "not valid" in reused.content.decode()


def test_login_with_wrong_password_says_so(client):
    make_member("login@example.com", "login-org")
    response = client.post(reverse("portal:login"),
                           {"email": "login@example.com", "password": "wrong-password"})
    assert response.status_code == 400
    assert "Wrong email address or password." in response.content.decode()
    response = client.post(reverse("portal:login"),
                           {"email": "login@example.com", "password": PASSWORD})
    assert response.status_code == 302


def test_login_ignores_an_offsite_next_url(client):
    make_member("login@example.com", "login-org")
    response = client.post(reverse("portal:login"), {
        "email": "login@example.com", "password": PASSWORD, "next": "https://evil.example/",
    })
    assert response["Location"] == reverse("portal:dashboard")


def invite(client, email="colleague@example.com", role="developer"):
    return client.post(reverse("portal:members"), {"email": email, "role": role})


def test_invite_queues_an_operation_and_lists_the_pending_invitation(
        client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = invite(client)
    assert response.status_code == 302
    assert len(callbacks) == 1
    page = client.get(reverse("portal:members"))
    assert "colleague@example.com" in page.content.decode()
    assert [i.email for i in page.context["invitations"]] == ["colleague@example.com"]


def test_invite_by_a_viewer_is_refused_in_words(client):
    user, _ = make_member("viewer@example.com", "acme", role="viewer")
    client.force_login(user)
    response = invite(client)
    assert response.status_code == 400
    assert "does not allow this" in response.content.decode()


def accept_path(tenant, email="colleague@example.com"):
    from tenants.links import invitation_link
    from tenants.selectors import invitation_list

    invitation = invitation_list(tenant=tenant).get(email=email)
    return "/" + invitation_link(invitation=invitation).split("://", 1)[1].split("/", 1)[1]


def test_new_person_accepts_an_invitation_by_signing_up(client, owner):
    _, tenant = owner
    invite(client)
    path = accept_path(tenant)
    client.logout()
    response = client.post(path, {"full_name": "Lee", "password": PASSWORD})
    assert response.status_code == 302
    colleague = User.objects.get(email="colleague@example.com")
    assert Membership.objects.get(user=colleague, tenant=tenant).role == "developer"
    # The link is single use.
    client.logout()
    again = client.get(path)
    assert again.status_code == 400
    assert "already used" in again.content.decode()


def test_existing_account_accepts_with_its_password(client, owner):
    _, tenant = owner
    make_member("colleague@example.com", "elsewhere")
    invite(client)
    path = accept_path(tenant)
    client.logout()
    assert "has_account" in client.get(path).context
    wrong = client.post(path, {"password": "not-the-password"})
    assert wrong.status_code == 400
    assert client.post(path, {"password": PASSWORD}).status_code == 302


def test_forged_invitation_link_is_refused(client):
    response = client.get("/invitations/not-a-signed-token/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_member_role_change_and_last_owner_protection(client, owner):
    user, tenant = owner
    colleague, _ = make_member("dev@example.com", tenant.slug, role="developer")
    target = Membership.objects.get(user=colleague)
    client.post(reverse("portal:member-role", args=[target.pk]), {"role": "admin"})
    target.refresh_from_db()
    assert target.role == "admin"
    mine = Membership.objects.get(user=user)
    response = client.post(reverse("portal:member-role", args=[mine.pk]), {"role": "viewer"},
                           follow=True)
    assert "at least one owner" in response.content.decode()
    mine.refresh_from_db()
    assert mine.role == "owner"


def test_member_of_another_tenant_cannot_be_touched(client, owner):
    stranger, _ = make_member("stranger@example.com", "other-org")
    target = Membership.objects.get(user=stranger)
    assert client.post(reverse("portal:member-remove", args=[target.pk])).status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


def test_token_plaintext_is_shown_once_then_only_its_prefix(client, owner):
    response = client.post(reverse("portal:tokens"), {
        "name": "ci", "scopes": ["read", "deploy"], "expires_in_days": "30",
    })
    assert response.status_code == 200
    plaintext = response.context["created_plaintext"]
    assert plaintext and plaintext in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    later = client.get(reverse("portal:tokens"))
    assert plaintext not in later.content.decode()
    token = later.context["tokens"][0]
    assert token.prefix in later.content.decode()
    client.post(reverse("portal:token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_without_scopes_is_refused(client, owner):
    response = client.post(reverse("portal:tokens"), {"name": "ci", "expires_in_days": "30"})
    assert response.status_code == 400
    assert "scopes" in response.context["form"].errors


def test_audit_filter_by_action(client, owner):
    client.post(reverse("portal:tokens"), {"name": "ci", "scopes": ["read"]})
    response = client.get(reverse("portal:audit"), {"action": "token.created"})
    actions = {r.action for r in response.context["records"]}
    assert actions == {"token.created"}
    assert "tenant=acme" in response.context["export_url"]


def test_operations_list_polls_with_htmx_only_while_work_is_active(client, owner):
    from baas.choices import OperationState
    from baas.operations import operation_create, operation_transition

    _, tenant = owner
    op = operation_create(tenant=tenant, actor=None, kind="test.noop")
    page = client.get(reverse("portal:operations")).content.decode()
    assert 'hx-trigger="every 3s"' in page
    partial = client.get(reverse("portal:operations"), HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="op-table"') and "<html" not in partial
    operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
    assert 'hx-trigger' not in client.get(reverse("portal:operations")).content.decode()


def test_unknown_portal_page_uses_the_portal_404(client, owner):
    response = client.get(reverse("portal:operation-detail", args=[999999]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def _po_entries(path):
    """(msgid, msgstr, flags) of a .po file; enough of the format for Django's output."""
    import ast

    entries, flags, current, field = [], "", {}, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#,"):
            flags = line
        elif line.startswith("msgid "):
            current, field = {"msgid": ast.literal_eval(line[6:])}, "msgid"
        elif line.startswith("msgstr "):
            current["msgstr"], field = ast.literal_eval(line[7:]), "msgstr"
        elif line.startswith('"') and field:
            current[field] += ast.literal_eval(line)
        elif not line.strip() and current:
            entries.append((current["msgid"], current.get("msgstr", ""), flags))
            current, flags, field = {}, "", None
    return [e for e in entries if e[0]]


def test_every_portal_string_has_a_korean_translation_in_the_compiled_catalog():
    import gettext

    from django.conf import settings

    messages_dir = settings.BASE_DIR / "locale" / "ko" / "LC_MESSAGES"
    entries = _po_entries(messages_dir / "django.po")
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, flags in entries if not msgstr or "fuzzy" in flags]
    assert untranslated == []
    with open(messages_dir / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = [msgid for msgid, msgstr, _ in entries if compiled.gettext(msgid) != msgstr]
    assert stale == [], "run: make messages (compilemessages) and commit django.mo"


def test_verification_link_can_be_sent_again(client, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("portal:verify-email-resend"))
    assert response.status_code == 302
    assert len(callbacks) == 1
    user, _ = owner
    user.email_verified_at = user.date_joined
    user.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("portal:verify-email-resend"))
    assert callbacks == []


def test_unauthenticated_forms_share_the_api_auth_rate_limit(client):
    from rest_framework.throttling import ScopedRateThrottle

    allowed, _ = ScopedRateThrottle().parse_rate(ScopedRateThrottle.THROTTLE_RATES["auth"])
    for _ in range(allowed):
        assert client.post(reverse("portal:signup"), {}).status_code == 400
    refused = client.post(reverse("portal:login"), {"email": "a@example.com", "password": "x"})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert client.get(reverse("portal:login")).status_code == 200  # reading is not limited
