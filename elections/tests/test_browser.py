"""An election in a real headless Chromium, on a real one-validator network (local driver,
CometBFT, provisioned in this process) with public pages, the platform's voting bundle
deployed on it: the commission creates an election on its page; the trustee makes its key
share in the browser (voting.js), saves the secret file and posts the public key; a voter's
phone-sized page (Korean browser) shows the voter id, which the commission puts on the roll;
voting opens; the voter encrypts in the browser, challenges that ballot (the browser shows
what it had encrypted and throws it away), encrypts again, casts, and finds the tracker on
the bulletin board; after the closing time the trustee loads its file, the browser computes
the partial decryption, and the commission publishes the result, which the results page
shows with the verifier's verdict."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from datetime import UTC, datetime

import pytest

from conftest import require_service
from deploy.tests.factories import MembershipFactory
from tests.browser.conftest import (  # noqa: F401 -- fixtures, used by name below
    chromium_path,
    new_browser,
    playwright_instance,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.cometbft, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # deploy.tests.factories.UserFactory
OPEN_FOR_S = 75


@pytest.fixture
def voting_network(tmp_path, settings, transactional_db):
    """A running one-validator local network with public pages, the voting bundle active
    on it (the owner's organisation holds the commission and trustee roles)."""
    from deploy import crypto
    from deploy import services as deploy_services
    from deploy import tasks as deploy_tasks
    from deploy.models import Network
    from sectors import catalogue, tasks
    from sectors import services as sector_services
    from sectors.models import Template

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    if not (catalogue.BUNDLES_DIR / "voting" / "manifest.toml").is_file():
        pytest.skip("the platform's voting bundle (sectors/bundles/voting) is not here")
    settings.BAAS_INSTALL_ID = f"vote-{uuid.uuid4().hex[:8]}"
    settings.BAAS_NODES_DIR = str(tmp_path / "nodes")
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    crypto.reset_cache()
    catalogue.forget()
    owner = MembershipFactory(role="owner")
    network, op = deploy_services.network_create(
        tenant=owner.tenant, actor=owner.user,
        spec=deploy_services.NetworkSpec(name="votes", validators=1, public_access=True))
    try:
        deploy_tasks.network_provision_task(str(network.pk), op.pk)
        network.refresh_from_db()
        assert network.status == "running", network.status
        catalogue.sync_platform_bundles()
        template = Template.objects.get(tenant__isnull=True, name="voting")
        deployment, deploy_op = sector_services.deployment_create(
            tenant=owner.tenant, actor=owner.user, network=network, template=template)
        tasks.deployment_deploy_task(str(deployment.pk), deploy_op.pk)
        deployment.refresh_from_db()
        assert deployment.status == "active", (deployment.error_code,
                                               deployment.error_message)
        yield owner, deployment
    finally:
        from deploy.drivers import get_driver

        try:
            get_driver("local").delete_network(network_id=str(network.pk))
        finally:
            Network.objects.filter(pk=network.pk).update(status="deleted")
            crypto.reset_cache()
            catalogue.forget()


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


HEX64 = "() => /^[0-9a-f]{64}$/.test(document.getElementById('%s').textContent.trim())"


def test_an_election_in_the_browser(new_browser, live_server, voting_network,  # noqa: F811
                                    tmp_path):
    owner, deployment = voting_network
    base = live_server.url
    page = new_browser()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(owner.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")

    # -- the commission creates the election ----------------------------------------------
    page.goto(f"{base}/deployments/{deployment.pk}/")
    page.locator("#elections-link").click()
    page.wait_for_url(f"{base}/deployments/{deployment.pk}/elections/")
    page.locator("#new-election").click()
    closes_at = time.time() + OPEN_FOR_S
    page.get_by_label("Election id").fill("mayor")
    page.get_by_label("Title").fill("Mayor of Jongno")
    page.get_by_label("Questions and options").fill(
        "Mayor [1]\n- Kim\n- Lee\n- Park\n\nBudget [0-2]\n- Parks\n- Library\n- Buses")
    page.locator("#election-form input[name=trustees]").first.check()
    page.get_by_label("Voting opens").fill(stamp(time.time() - 120))
    page.get_by_label("Voting closes").fill(stamp(closes_at))
    with page.expect_navigation(timeout=30_000):
        page.get_by_role("button", name="Create the election").click()
    detail_url = f"{base}/deployments/{deployment.pk}/elections/mayor/"
    assert page.url == detail_url, page.inner_text("main")[:2000]
    assert page.locator("#election-state").get_attribute("data-state") == "setup"

    # -- the trustee makes its key share in the browser and keeps the secret file -----------
    page.locator("#trustee-link").click()
    page.locator("#make-key").click()
    page.locator("#key-file").wait_for(state="visible")
    with page.expect_download() as download_info:
        page.locator("#key-file").click()
    secret_file = tmp_path / "trustee-key.json"
    download_info.value.save_as(secret_file)
    assert '"secret"' in secret_file.read_text()
    public_hex = page.locator("#id_public").input_value()
    page.locator("#id_saved").check()
    with page.expect_navigation(timeout=30_000):
        page.locator("#post-key").click()
    assert page.locator("#posted-key").inner_text() == public_hex
    assert secret_file.read_text().split('"secret": "')[1][:64] not in page.content()
    screenshot(page, "70-trustee-key")

    # -- a voter's phone shows the voter id; the commission puts it on the roll -------------
    phone = new_browser(width=375, height=812, locale="ko-KR")
    phone.on("pageerror", lambda e: errors.append(str(e)))
    vote_url = f"{base}/p/{deployment.pk}/elections/mayor/"
    phone.goto(vote_url)
    phone.wait_for_function(HEX64 % "voter-id")
    voter_id = phone.locator("#voter-id").inner_text().strip()
    assert phone.locator("#not-open").is_visible()
    page.goto(detail_url)
    page.locator("#id_voters").fill(voter_id)
    with page.expect_navigation(timeout=60_000):
        page.get_by_role("button", name="Add to the roll").click()
    assert "1 voters added to the roll" in page.inner_text(".messages")
    with page.expect_navigation(timeout=60_000):
        page.locator("#open-button").click()
    assert "Voting is open." in page.inner_text(".messages")

    # -- the voter encrypts, challenges, encrypts again, casts, finds the tracker ----------
    phone.goto(vote_url)
    phone.wait_for_function(HEX64 % "voter-id")
    assert phone.locator("#voter-id").inner_text().strip() == voter_id  # the kept key
    phone.locator("input[data-question='0'][data-option='1']").check()   # Lee
    phone.locator("input[data-question='1'][data-option='0']").check()   # Parks
    phone.locator("input[data-question='1'][data-option='2']").check()   # Buses
    phone.locator("#encrypt").click()
    phone.wait_for_function(HEX64 % "tracker")
    challenged = phone.locator("#tracker").inner_text()
    phone.locator("#challenge").click()
    status = phone.locator("#sealed-status")
    assert "success" in status.get_attribute("class"), status.inner_text()
    revealed = phone.locator("#revealed").inner_text()
    assert "Lee" in revealed and "Parks" in revealed and "Buses" in revealed
    assert "Kim" not in revealed
    screenshot(phone, "71-voter-challenge")
    phone.locator("#encrypt").click()
    phone.wait_for_function(
        f"() => /^[0-9a-f]{{64}}$/.test(document.getElementById('tracker').textContent) "
        f"&& document.getElementById('tracker').textContent !== '{challenged}'")
    tracker = phone.locator("#tracker").inner_text()
    phone.locator("#cast").click()
    phone.locator("#done-card").wait_for(state="visible", timeout=60_000)
    assert phone.locator("#done-tracker").inner_text() == tracker
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(phone, "72-voter-cast")
    phone.locator("#find-tracker").click()
    phone.locator("#tracker-found").wait_for()
    assert phone.locator(f"#board tr[data-tracker='{tracker}']").count() == 1
    assert phone.locator(f"#board tr[data-tracker='{challenged}']").count() == 0
    assert phone.locator("#verdict").get_attribute("data-valid") == "true"

    # -- after the closing time: close, decrypt in the browser from the file, publish -------
    while time.time() < closes_at + 3:
        time.sleep(1)
    page.goto(detail_url)
    with page.expect_navigation(timeout=60_000):
        page.locator("#close-button").click()
    assert "Voting is closed." in page.inner_text(".messages"), page.inner_text(".messages")
    page.goto(detail_url + "trustee/")
    page.locator("#secret-file").set_input_files(str(secret_file))
    page.wait_for_function("() => !document.getElementById('post-decryption').disabled")
    with page.expect_navigation(timeout=60_000):
        page.locator("#post-decryption").click()
    assert page.locator("#decrypted").is_visible()
    page.goto(detail_url)
    with page.expect_navigation(timeout=60_000):
        page.locator("#publish-button").click()
    assert "The result is published." in page.inner_text(".messages")
    screenshot(page, "73-commission-published")

    phone.goto(f"{base}/p/{deployment.pk}/elections/mayor/results/")
    counts = phone.locator("#results td.count").all_inner_texts()
    assert counts == ["0", "1", "0", "1", "0", "1"]
    assert phone.locator("#verdict").get_attribute("data-valid") == "true"
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일 \d{2}:\d{2}", phone.inner_text("main"))
    screenshot(phone, "74-results")
    assert errors == []
