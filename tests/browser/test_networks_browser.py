"""The networks pages in a real headless Chromium: from the header to a running one-validator
chain on the local driver (real CometBFT, real Celery worker) and back to nothing."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator

import pytest

from conftest import require_service
from tests.browser.conftest import screenshot
from tests.browser.test_portal_browser import page_overflow

pytestmark = [pytest.mark.browser, pytest.mark.cometbft, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

PASSWORD = "violet-harbour-43-lantern"
NAME = "portal-net"
# Provisioning starts CometBFT and waits for its first block; deleting stops the processes.
RUNNING_TIMEOUT_MS = 180_000


@pytest.fixture
def local_nodes(tmp_path, settings) -> Iterator[str]:
    """Own install id, nodes dir and key file, so nothing else on the machine is touched;
    whatever the test leaves behind is deleted through the driver at teardown."""
    from deploy import crypto
    from deploy.drivers import get_driver

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    install_id = f"browser-{uuid.uuid4().hex[:8]}"
    settings.BAAS_INSTALL_ID = install_id
    settings.BAAS_NODES_DIR = str(tmp_path / "nodes")
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    crypto.reset_cache()
    yield install_id
    driver = get_driver("local")
    for network_id in {r.network_id for r in driver.list_owned(install_id=install_id)
                       if r.network_id}:
        driver.delete_network(network_id=network_id)
    crypto.reset_cache()


def switch_language(page, code: str) -> None:
    page.locator("#language-select").select_option(code)
    with page.expect_navigation():
        page.locator("#language-form button[type=submit]").click()
    assert page.locator("html").get_attribute("lang") == code


def test_create_a_network_see_it_run_and_delete_it(new_browser, live_server, celery_worker,
                                                   local_nodes):
    from deploy.drivers import get_driver
    from deploy.models import Network
    from tenants import services

    services.signup(email="nodes@han.example", password=PASSWORD,
                    organisation_name="Han Nodes", organisation_slug="han-nodes")
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("nodes@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Networks").click()
    page.wait_for_url(f"{base}/networks/")
    assert nav.get_by_role("link", name="Networks").get_attribute("aria-current") == "page"
    assert "No networks yet." in page.inner_text("main")

    page.get_by_label("Name").fill(NAME)
    page.get_by_label("Validators").fill("1")
    page.get_by_label("Where the nodes run").select_option("local")
    screenshot(page, "10-networks-create")
    page.get_by_role("button", name="Create network").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/networks/[0-9a-f-]{{36}}/$"))
    network_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert f"Network {NAME} is being created." in page.inner_text("main")

    # The live panel refreshes itself (htmx) until the worker has the chain producing blocks.
    status = "#network-live dd[aria-live] .badge"
    page.wait_for_selector(f"{status}[data-status='running']", timeout=RUNNING_TIMEOUT_MS)
    assert page.locator(status).inner_text() == "Running"
    node_row = page.locator("#network-live tbody tr")
    assert node_row.count() == 1
    page.wait_for_selector("#network-live tbody .badge[data-status='running']")
    # The notice went with the same htmx swap, without a reload.
    assert "is being created" not in page.inner_text("main")
    screenshot(page, "11-network-running")

    switch_language(page, "ko")
    assert page.locator(status).inner_text() == "실행 중"
    screenshot(page, "12-network-running-korean")
    page.locator("nav.main-nav").get_by_role("link", name="네트워크").click()
    page.wait_for_url(f"{base}/networks/")
    screenshot(page, "13-networks-korean")
    # A service's refusal is shown in the page's language (the message, not only the code).
    page.locator("#id_name").fill(NAME)
    page.locator("#id_validators").fill("1")
    page.get_by_role("button", name="네트워크 만들기").click()
    assert f"'{NAME}'(이)라는 네트워크가 이미 있습니다." in page.inner_text("main")
    screenshot(page, "13-networks-name-taken-korean")
    # Narrow screens: the list and the network page reflow instead of scrolling sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("/networks/", f"/networks/{network_id}/"):
        page.goto(base + path)
        screenshot(page, "375-network" + ("s" if path == "/networks/" else "-detail"))
        assert page_overflow(page) == 0, path
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/networks/{network_id}/delete/")
    screenshot(page, "14-network-delete-korean")
    switch_language(page, "en")

    page.goto(f"{base}/networks/{network_id}/")
    page.locator("#network-live").get_by_role("link", name="Delete").click()
    page.wait_for_url(f"{base}/networks/{network_id}/delete/")
    # A wrong name changes nothing: the page says so and the chain keeps running.
    page.get_by_label("Type the network's name to confirm").fill("not-" + NAME)
    page.get_by_role("button", name="Delete").click()
    assert "The name does not match." in page.inner_text("main")
    assert Network.objects.get(pk=network_id).status == "running"
    page.get_by_label("Type the network's name to confirm").fill(NAME)
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{base}/networks/{network_id}/")
    page.wait_for_selector(f"{status}[data-status='deleted']", timeout=RUNNING_TIMEOUT_MS)
    screenshot(page, "15-network-deleted")
    assert Network.objects.get(pk=network_id).status == "deleted"
    owned = get_driver("local").list_owned(install_id=local_nodes)
    assert [r for r in owned if r.network_id == network_id] == []
