"""A consortium in a real headless Chromium: the owner invites another organisation from the
network page, the other organisation's admin accepts from its networks list, and then sees
the owner's network with only a member's controls (in English and in Korean); the owner
then removes the member from its row."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_networks_browser import switch_language

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-ferry-58-compass"


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")


def test_invite_accept_and_see_the_network_as_a_member(new_browser, live_server, monkeypatch):
    from deploy.choices import NetworkStatus
    from deploy.models import NetworkMembership
    from deploy.tests.factories import NetworkFactory
    from tenants import services

    _owner, grid = services.signup(email="owner@grid.example", password=PASSWORD,
                               organisation_name="Grid Coop", organisation_slug="grid-coop")
    services.signup(email="admin@solar.example", password=PASSWORD,
                    organisation_name="Solar Village", organisation_slug="solar-village")
    # A stopped network: joining it queues nothing, so no worker is needed here.
    network = NetworkFactory(tenant=grid, name="energy-trade",
                             status=NetworkStatus.STOPPED)
    base = live_server.url

    page = new_browser()
    log_in(page, base, "owner@grid.example")
    page.goto(f"{base}/networks/{network.pk}/")
    card = page.get_by_role("region", name="Consortium")
    assert "Only the owner's organisation is in this network." in card.inner_text()
    card.get_by_label("Organisation slug").fill("no-such-org")
    card.get_by_role("button", name="Send invitation").click()
    assert "There is no organisation 'no-such-org'." in page.inner_text("main")
    card = page.get_by_role("region", name="Consortium")
    card.get_by_label("Organisation slug").fill("solar-village")
    card.get_by_label("Role").select_option("validator")
    card.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(f"{base}/networks/{network.pk}/")
    assert "Invitation sent to solar-village." in page.inner_text("main")
    assert "solar-village" in page.get_by_role("region", name="Consortium").inner_text()
    screenshot(page, "30-consortium-invited")

    member = new_browser(width=375, height=800)
    log_in(member, base, "admin@solar.example")
    member.goto(f"{base}/networks/")
    invitations = member.get_by_role("region", name="Invitations to join networks")
    assert "Grid Coop invites your organisation to network energy-trade" in \
        invitations.inner_text()
    screenshot(member, "31-consortium-invitation-375px")
    invitations.get_by_role("button", name="Accept").click()
    member.wait_for_url(f"{base}/networks/{network.pk}/")
    main = member.inner_text("main")
    assert "You joined network energy-trade." in main
    assert "This network belongs to Grid Coop; your organisation is a member" in main
    for owner_only in ("Start", "Delete"):
        assert member.get_by_role("link", name=owner_only, exact=True).count() == 0
    assert NetworkMembership.objects.filter(network=network,
                                            tenant__slug="solar-village").exists()

    switch_language(member, "ko")
    assert "이 네트워크는 Grid Coop 소유이며" in member.inner_text("main")
    screenshot(member, "32-consortium-member-ko")

    page.reload()
    members = page.get_by_role("region", name="Consortium").inner_text()
    assert "Solar Village" in members and "Pending invitations" not in members

    # The owner removes the member from its row, after typing the member's identifier.
    removals = []
    monkeypatch.setattr("deploy.tasks.consortium_member_remove_task.delay",
                        lambda *a: removals.append(a))  # the task itself: e2e tests
    page.get_by_role("region", name="Consortium").get_by_role(
        "link", name="Remove Solar Village").click()
    page.get_by_label("Type the organisation's identifier to confirm").fill("solar-vilage")
    page.get_by_role("button", name="Remove member").click()
    assert "The name does not match." in page.inner_text("main")
    page.get_by_label("Type the organisation's identifier to confirm").fill("solar-village")
    page.get_by_role("button", name="Remove member").click()
    page.wait_for_url(f"{base}/networks/{network.pk}/")
    assert "Removing solar-village from the network." in page.inner_text("main")
    assert len(removals) == 1
    screenshot(page, "33-consortium-member-removing")
