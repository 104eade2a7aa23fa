"""The identity pages in a real headless Chromium, on a real one-validator network (local
driver, CometBFT, provisioned in this process): an admin sets up the network's registry,
creates the organisation's DID with the key held by the platform, then their own DID with
the key made by WebCrypto in the browser (Ed25519, never leaving it), rotates it and
deactivates it from the page, all signed in the browser; the dashboard shows the
organisation's DID; the list reads in Korean."""

from __future__ import annotations

import pytest

from identity.tests.test_did_network import live_network  # noqa: F401 -- a fixture
from tests.browser.conftest import (  # noqa: F401 -- fixtures, used by name below
    chromium_path,
    new_browser,
    playwright_instance,
    screenshot,
)
from tests.browser.test_networks_browser import switch_language

pytestmark = [pytest.mark.browser, pytest.mark.cometbft, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # deploy.tests.factories.UserFactory


def test_dids_in_the_browser_with_a_key_made_by_webcrypto(
        new_browser, live_server, live_network):  # noqa: F811 -- the fixtures imported above
    from identity.models import Did

    owner, network = live_network
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(owner.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")
    assert page.locator("#organisation-did").inner_text().strip() == "None yet"

    # the registry
    page.get_by_role("link", name="Identity").click()
    page.get_by_role("link", name="Set one up").click()
    page.get_by_label("Namespace").fill("browser-dids")
    page.get_by_label("Public: anyone may resolve the DIDs of this network").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Set up registry").click()
    assert "did:baas:browser-dids" in page.locator("#registry-table").inner_text()

    # the organisation's DID, key held by the platform
    page.goto(f"{base}/identity/")
    page.get_by_label("Whose DID").select_option("organisation")
    page.get_by_label("Key held by the platform").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Create DID").click()
    org = Did.objects.get(user__isnull=True)
    assert page.locator("#did-value").inner_text() == org.did
    assert "z6Mk" in page.locator("#did-document").inner_text()

    # my own DID, key made in this browser
    page.goto(f"{base}/identity/")
    page.get_by_label("Whose DID").select_option("me")
    page.get_by_label("Key held by you").check()
    with page.expect_navigation(timeout=30_000):
        page.get_by_role("button", name="Create DID").click()
    mine = Did.objects.get(user=owner.user)
    assert mine.custody == "holder" and mine.sealed_private_key is None
    assert page.locator("#did-value").inner_text() == mine.did
    first_key = page.locator("#did-page").get_attribute("data-controllers")
    screenshot(page, "identity-holder-did")

    # rotate: signed by the browser's current key, for a new browser key
    with page.expect_navigation(timeout=30_000):
        page.get_by_role("button", name="Rotate key").click()
    assert "The key is replaced" in page.locator(".messages").inner_text()
    assert page.locator("#did-versions tbody tr").count() == 2
    assert page.locator("#did-page").get_attribute("data-controllers") != first_key
    mine.refresh_from_db()
    assert mine.version == 2

    # deactivate: refused without the confirmation, then for good
    with page.expect_navigation():
        page.get_by_role("button", name="Deactivate DID").click()
    assert "Confirm the deactivation first." in page.locator(".messages").inner_text()
    page.get_by_label("I understand that deactivation is final").check()
    with page.expect_navigation(timeout=30_000):
        page.get_by_role("button", name="Deactivate DID").click()
    assert "has no document any more" in page.content()
    mine.refresh_from_db()
    assert mine.status == "deactivated" and mine.version == 3

    # the profile, and Korean
    page.goto(f"{base}/dashboard/")
    assert page.locator("#organisation-did").inner_text().strip() == org.did
    page.goto(f"{base}/identity/")
    switch_language(page, "ko")
    assert "탈중앙 식별자(DID)" in page.locator("h1").inner_text()
    assert "비활성화됨" in page.locator("#did-table").inner_text()
    screenshot(page, "identity-list-ko")
