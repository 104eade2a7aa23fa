"""The portal in a real headless Chromium: the sign-up-to-colleague journey, Korean, 375px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import link_in, screenshot, wait_for_mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-43-lantern"


def fill_signup(page, base: str, *, email: str, slug: str) -> None:
    page.goto(f"{base}/signup/")
    page.get_by_label("Your name").fill("Han Seo-yeon")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organisation name").fill("Han Energy Co-op")
    page.get_by_label("Organisation address").fill(slug)
    page.get_by_role("button", name="Create account and organisation").click()


@pytest.mark.slow
def test_signup_verify_login_invite_and_colleague_joins(new_browser, public_url, celery_worker):
    from tenants.models import Membership

    base = public_url
    owner = new_browser()

    # Sign up: person and organisation in one step, landing on the dashboard.
    fill_signup(owner, base, email="owner@han.example", slug="han-energy")
    owner.wait_for_url(f"{base}/dashboard/")
    assert owner.get_by_role("heading", level=1).inner_text() == "Han Energy Co-op"
    screenshot(owner, "01-dashboard-after-signup")

    # The verification email is sent by the worker; its link verifies once.
    verification = wait_for_mail("owner@han.example", "Confirm")
    owner.goto(link_in(verification, base))
    owner.get_by_role("button", name="Verify my email address").click()
    owner.wait_for_url(f"{base}/dashboard/")
    assert "Your email address is verified." in owner.locator(".messages").inner_text()

    # Log out and back in through the login form.
    owner.get_by_role("button", name="Log out").click()
    owner.wait_for_url(f"{base}/")
    owner.goto(f"{base}/login/")
    owner.get_by_label("Email").fill("owner@han.example")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Log in").click()
    owner.wait_for_url(f"{base}/dashboard/")

    # Invite a colleague; the email goes out as an operation the portal can follow.
    owner.get_by_role("link", name="Members", exact=True).click()
    owner.get_by_label("Email address").fill("colleague@han.example")
    owner.get_by_label("Role", exact=True).select_option("developer")
    owner.get_by_role("button", name="Send invitation").click()
    owner.wait_for_url(f"{base}/members/")
    pending = owner.get_by_role("region", name="Pending invitations")
    assert "colleague@han.example" in pending.inner_text()
    screenshot(owner, "02-members-after-invite")
    invitation = wait_for_mail("colleague@han.example", "Invitation")

    # The colleague, in a browser of their own, opens the link and signs up.
    colleague = new_browser()
    colleague.goto(link_in(invitation, base))
    assert "Join Han Energy Co-op" in colleague.get_by_role("heading", level=1).inner_text()
    colleague.get_by_label("Your name").fill("Park Ji-ho")
    colleague.get_by_label("Password").fill("copper-meadow-88-kite")
    colleague.get_by_role("button", name="Create account and join").click()
    colleague.wait_for_url(f"{base}/dashboard/")
    assert colleague.get_by_role("heading", level=1).inner_text() == "Han Energy Co-op"
    assert "You joined Han Energy Co-op." in colleague.locator(".messages").inner_text()
    screenshot(colleague, "03-colleague-dashboard")
    joined = Membership.objects.get(user__email="colleague@han.example")
    assert (joined.tenant.slug, joined.role) == ("han-energy", "developer")

    # The owner now sees the colleague as a member, no longer as pending.
    owner.reload()
    members = owner.get_by_role("region", name="Members", exact=True).inner_text()
    assert "colleague@han.example" in members
    assert "colleague@han.example" not in owner.get_by_role(
        "region", name="Pending invitations").inner_text()


def test_language_switch_shows_korean(new_browser, live_server):
    page = new_browser()
    page.goto(f"{live_server.url}/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Language").select_option("ko")
    with page.expect_navigation():
        page.get_by_role("button", name="Change").click()
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.get_by_role("heading", level=1).inner_text() == (
        "나만의 허가형 원장 네트워크를 몇 분 만에"
    )
    page.get_by_role("link", name="가입하기").click()
    assert page.get_by_label("조직 주소").is_visible()
    # Korean text is drawn with the shipped web font (or an installed Noto Sans KR).
    loaded = page.evaluate("""async () => {
        await document.fonts.ready;
        await document.fonts.load('16px "BaaS Noto Sans KR"', '조직');
        return [...document.fonts].filter(f => f.family.includes('BaaS Noto Sans KR')
                                               && f.status === 'loaded').length;
    }""")
    assert loaded >= 1
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{live_server.url}{icon}").status == 200
    screenshot(page, "04-signup-korean")


def page_overflow(page) -> int:
    """How many CSS pixels the document is wider than the viewport (0 = no overflow)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_pages_fit_a_375px_wide_screen(new_browser, live_server):
    from tenants import services

    services.signup(email="narrow@han.example", password=PASSWORD,
                    organisation_name="A Rather Long Organisation Name For Narrow Screens",
                    organisation_slug="narrow-screens", full_name="Narrow Screen")
    base = live_server.url
    page = new_browser(width=375, height=812)
    for path in ("/", "/signup/", "/login/", "/reset-password/"):
        page.goto(base + path)
        screenshot(page, "375" + re.sub(r"\W+", "-", path).rstrip("-"))
        assert page_overflow(page) == 0, path
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("narrow@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")
    for path in ("/dashboard/", "/members/", "/tokens/", "/audit/", "/operations/"):
        page.goto(base + path)
        screenshot(page, "375" + re.sub(r"\W+", "-", path).rstrip("-"))
        assert page_overflow(page) == 0, path
    # A freshly created token is one long unbroken string: it must wrap, not widen the page.
    page.goto(f"{base}/tokens/")
    page.get_by_label("Token name").fill("ci-pipeline")
    page.get_by_label("Deploy").check()
    page.get_by_role("button", name="Create token").click()
    assert page.locator("#new-token").inner_text().startswith("baas_")
    screenshot(page, "375-token-created")
    assert page_overflow(page) == 0, "token created"


def test_operation_page_follows_progress_live(new_browser, live_server, settings):
    """The page subscribes to the backend's SSE stream; the operation moves underneath it."""
    from baas.choices import OperationState
    from baas.operations import operation_create, operation_progress, operation_transition
    from tenants import services

    settings.BAAS_SSE_POLL_SECONDS = 0.2
    user, tenant = services.signup(email="ops@han.example", password=PASSWORD,
                                   organisation_name="Ops Team", organisation_slug="ops-team")
    op = operation_create(tenant=tenant, actor=user, kind="demo.step")
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("ops@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")
    page.goto(f"{base}/operations/{op.pk}/")
    page.wait_for_selector("#operation[data-live='open']")
    state = page.locator("#op-state .badge")
    assert state.get_attribute("data-state") == "queued"

    operation_transition(operation_id=op.pk, to=OperationState.RUNNING, message="started")
    page.wait_for_selector("#op-state .badge[data-state='running']")
    operation_progress(operation_id=op.pk, percent=40, message="halfway there")
    # not wait_for_function: its string predicate is an eval, which the page's CSP forbids
    expect(page.locator("#op-progress")).to_have_js_property("value", 40)
    assert "halfway there" in page.locator("#op-steps").inner_text()
    operation_transition(operation_id=op.pk, to=OperationState.SUCCEEDED, message="all done")
    page.wait_for_selector("#operation[data-live='closed']")
    assert state.inner_text() == "Succeeded"
    assert page.locator("#op-progress").evaluate("el => el.value") == 100
    assert "all done" in page.locator("#op-steps").inner_text()
    assert page.locator("#op-live").inner_text() == "This operation has ended."
    screenshot(page, "05-operation-live")


def test_operation_steps_arrive_live_in_korean(new_browser, live_server, settings):
    """A Korean reader's live steps come in Korean: the stream renders each step's text in
    the request's language."""
    from baas.operations import operation_create, operation_progress
    from tenants import services

    settings.BAAS_SSE_POLL_SECONDS = 0.2
    user, tenant = services.signup(email="ko@han.example", password=PASSWORD,
                                   organisation_name="Han", organisation_slug="han-ko")
    op = operation_create(tenant=tenant, actor=user, kind="network.create")
    base = live_server.url
    page = new_browser()
    page.context.add_cookies([{"name": "django_language", "value": "ko", "url": base}])
    page.goto(f"{base}/login/")
    page.locator("#id_email").fill("ko@han.example")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/dashboard/")
    page.goto(f"{base}/operations/{op.pk}/")
    assert "네트워크 만들기" in page.get_by_role("heading", level=1).inner_text()
    page.wait_for_selector("#operation[data-live='open']")
    operation_progress(operation_id=op.pk, percent=40, message="started han-0")
    # not wait_for_function: its string predicate is an eval, which the page's CSP forbids
    expect(page.locator("#op-progress")).to_have_js_property("value", 40)
    assert "han-0을(를) 시작했습니다" in page.locator("#op-steps").inner_text()
    assert "started han-0" not in page.locator("#op-steps").inner_text()


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && el.labels.length === 0
                  && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map(el => el.name || el.id)"""


def test_forms_are_labelled_and_the_skip_link_comes_first(new_browser, live_server):
    from tenants import services

    services.signup(email="a11y@han.example", password=PASSWORD, organisation_name="A11y",
                    organisation_slug="a11y")
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/signup/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("a11y@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")
    for path in ("/members/", "/tokens/", "/audit/"):
        page.goto(base + path)
        assert page.evaluate(UNLABELLED_CONTROLS) == [], path
    # A field error is announced with its input.
    page.goto(f"{base}/members/")
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_role("button", name="Send invitation").click()
    field = page.get_by_label("Email address")
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby")
    assert described and page.locator(f"#{described.split()[-1]}").inner_text()
