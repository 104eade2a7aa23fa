"""Sector templates in a real headless Chromium, on a real one-validator network (local
driver, CometBFT, a real Celery worker) with public pages on.

The platform's ``donations`` bundle is deployed through the portal in English and its
workflow is driven through the generated pages: a campaign, a donation by the signed-in
person, a project, an allocation and a disbursement, then the disbursement's instance page
with its next step (recording the delivery) and its history. In Korean the same pages carry
the manifest's Korean labels and state titles. Last, the public page at 375 px in a fresh
browser whose language is Korean: the page makes an Ed25519 key in WebCrypto, a donation is
signed by that key, and the donation report shows it.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_networks_browser import (
    RUNNING_TIMEOUT_MS,
    local_nodes,  # noqa: F401 -- a fixture, used by name below
    switch_language,
)
from tests.browser.test_portal_browser import page_overflow

pytestmark = [pytest.mark.browser, pytest.mark.cometbft, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-lantern-58-harbour"
SLUG = "han-charity"
DOCUMENT_HASH = "b8fc4620956ee209b9a24eed213b5e89bbf76952c7edb19c3a75de85b3d84cc1"


@pytest.fixture
def donations_bundle():
    from sectors import catalogue

    if not (catalogue.BUNDLES_DIR / "donations" / "manifest.toml").is_file():
        pytest.skip("the platform's donations bundle (sectors/bundles/donations) is not here")
    catalogue.forget()  # the transactional database starts empty: enter it again
    yield
    catalogue.forget()


def act(page, function: str, **fields: str) -> None:
    """Fill a generated function form and send it; wait for the page it leads to."""
    for name, value in fields.items():
        page.locator(f"#id_{function}-{name}").fill(value)
    with page.expect_navigation():
        page.locator(f"#fn-{function} button[type=submit]").click()


@pytest.mark.usefixtures("local_nodes", "donations_bundle")
def test_deploy_donations_act_through_the_generated_pages_and_donate_from_a_phone(
        new_browser, live_server, celery_worker):
    from ledger.tx import Signer
    from sectors.models import Deployment
    from tenants import services

    services.signup(email="charity@han.example", password=PASSWORD,
                    organisation_name="Han Charity", organisation_slug=SLUG)
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("charity@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")

    # -- a network with public pages, made by the service the portal's create form calls
    # (the form's "Public pages" box is the same switch); the worker provisions it ---------
    from deploy import services as deploy_services
    from tenants.models import Membership

    membership = Membership.objects.select_related("tenant", "user").get(tenant__slug=SLUG)
    network, _op = deploy_services.network_create(
        tenant=membership.tenant, actor=membership.user,
        spec=deploy_services.NetworkSpec(name="city-donations", validators=1, driver="local",
                                         public_access=True))
    network_id = str(network.pk)
    page.goto(f"{base}/networks/{network_id}/")
    page.wait_for_selector("#network-live dd[aria-live] .badge[data-status='running']",
                           timeout=RUNNING_TIMEOUT_MS)

    # -- the catalogue and the template's page -----------------------------------------------
    page.get_by_role("link", name="Templates deployed on this network").click()
    page.wait_for_url(f"{base}/networks/{network_id}/deployments/")
    assert "No templates are deployed on this network yet." in page.inner_text("main")
    page.get_by_role("link", name="Browse templates").click()
    page.wait_for_url(f"{base}/templates/")
    row = page.locator("tr[data-template='donations']")
    assert "Platform" in row.inner_text() and "1.0.0" in row.inner_text()
    row.get_by_role("link", name="Donation tracking").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/templates/[0-9a-f-]{{36}}/$"))
    review = page.locator("#review")
    assert "Sample calls" in review.inner_text() and "Role checks" in review.inner_text()
    screenshot(page, "40-template-detail")

    # -- deploy: our organisation holds both organisation roles by default ----------------------
    form = page.locator("#deploy-form")
    assert form.locator("input[type=checkbox]:checked").count() == 2
    with page.expect_navigation():
        form.get_by_role("button", name="Deploy donations 1.0.0").click()
    assert re.search(r"/deployments/[0-9a-f-]{36}/$", page.url)
    deployment_id = page.url.rstrip("/").rsplit("/", 1)[1]
    # The status panel polls while deploying; once active htmx reloads the whole page.
    page.wait_for_selector("#deployment-status .badge[data-status='active']",
                           timeout=RUNNING_TIMEOUT_MS)
    page.wait_for_selector("#fn-create_campaign")
    screenshot(page, "41-deployment-active")

    # -- the workflow through the generated forms ------------------------------------------------
    shelter = Signer.generate()
    act(page, "create_campaign", id="coats", title="Winter coats", goal="300000")
    assert "committed in block" in page.inner_text(".messages")
    act(page, "donate", campaign="coats", amount="150000")  # "anyone": the person's own key
    act(page, "create_project", id="jongno", title="Jongno shelter",
        receiver=shelter.public_key_hex)
    act(page, "allocate", campaign="coats", project="jongno", amount="100000")
    act(page, "disburse", id="jongno-1", project="jongno", amount="100000", deliverer=SLUG)
    # a value the schema refuses stays on the page, next to its field, and sends nothing
    act(page, "create_campaign", id="bad id!", title="x", goal="0")
    assert page.locator("#id_create_campaign-goal_error").is_visible()
    assert page.locator("#id_create_campaign-id_error").is_visible()
    # a read function's result is a table
    page.locator("#id_get_campaign-id").fill("coats")
    with page.expect_navigation():
        page.locator("#fn-get_campaign button[type=submit]").click()
    result = page.locator("#fn-get_campaign .fn-result")
    assert "150000" in result.inner_text()
    instance = page.locator("#instances tr[data-instance='jongno-1']")
    assert "Disbursed to the delivery partner" in instance.inner_text()
    screenshot(page, "42-workflow")

    instance.get_by_role("link", name="jongno-1").click()
    page.wait_for_url(f"{base}/deployments/{deployment_id}/i/jongno-1/")
    assert page.locator("#fn-record_delivery").is_visible()  # disbursed -> delivered
    assert page.locator("#fn-acknowledge").count() == 0  # the beneficiary's key, not ours
    assert page.locator("#id_record_delivery-id").input_value() == "jongno-1"
    act(page, "record_delivery", document_hash=DOCUMENT_HASH)
    assert page.locator("#instance-state").inner_text() == "Delivered"
    history = page.locator("#history").inner_text()
    assert "delivered" in history and "disbursed" in history and "Han Charity" in history
    assert page.locator("#fn-record_delivery").count() == 0  # no longer a next step
    screenshot(page, "43-instance")

    # -- the same pages in Korean ------------------------------------------------------------
    switch_language(page, "ko")
    assert page.locator("#instance-state").inner_text() == "전달 완료"
    assert "이력" in page.inner_text("main")
    page.goto(f"{base}/deployments/{deployment_id}/")
    main = page.inner_text("main")
    assert "기부금 추적" in main and "캠페인 만들기" in main
    assert page.locator("label[for='id_create_campaign-goal']").inner_text().startswith(
        "목표 금액 (원)")
    assert "전달 완료" in page.locator("#instances").inner_text()
    screenshot(page, "44-workflow-korean")
    public_path = page.get_by_role("link", name="공개 페이지").get_attribute("href")
    assert public_path == f"/p/{deployment_id}/"

    # -- the public page on a phone, in a browser that reads Korean ------------------------------
    phone = new_browser(width=375, height=812, locale="ko-KR")
    phone.goto(base + public_path)
    assert phone.locator("h1").inner_text() == "기부금 추적"
    key = phone.locator("#public-key")
    phone.wait_for_function(
        "() => /^[0-9a-f]{64}$/.test(document.getElementById('public-key').textContent)")
    public_key = key.inner_text()
    assert "새 키를 만들어" in phone.inner_text("#key-status")
    phone.locator("section[data-function='donate'] #id_donate-campaign").fill("coats")
    phone.locator("#id_donate-amount").fill("5000")
    phone.locator("section[data-function='donate'] button[type=submit]").click()
    outcome = phone.locator("section[data-function='donate'] .outcome")
    outcome.locator("p.success").wait_for(timeout=30_000)
    donation_id = outcome.locator("tr:has(th:text-is('id')) td").inner_text()
    assert outcome.locator("tr:has(th:text-is('donor')) td").inner_text() == public_key
    screenshot(phone, "45-public-donated")

    phone.locator("#id_donation_report-id").fill(donation_id)
    phone.locator("section[data-function='donation_report'] button[type=submit]").click()
    report = phone.locator("section[data-function='donation_report'] .outcome table")
    report.wait_for(timeout=30_000)
    text = report.inner_text()
    assert donation_id in text and "5000" in text
    # "My donations" was filled in with this browser's key
    assert phone.locator("#id_donations_of-public_key").input_value() == public_key
    assert page_overflow(phone) == 0
    screenshot(phone, "46-public-report")

    # the key is kept: a reload shows the same one, without making another
    phone.reload()
    phone.wait_for_function(
        "() => /^[0-9a-f]{64}$/.test(document.getElementById('public-key').textContent)")
    assert phone.locator("#public-key").inner_text() == public_key
    assert phone.inner_text("#key-status") == ""
    # and the chain saw the donation signed by that key
    deployment = Deployment.objects.get(pk=deployment_id)
    assert deployment.status == "active"


# -- the local currency ------------------------------------------------------------------------
CITY = "mapo-city"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def currency_bundle():
    from sectors import catalogue

    if not (catalogue.BUNDLES_DIR / "local_currency" / "manifest.toml").is_file():
        pytest.skip("the platform's local_currency bundle (sectors/bundles/local_currency) "
                    "is not here")
    catalogue.forget()
    yield
    catalogue.forget()


def public_key_of(phone) -> str:
    """The key the public page's browser made (or kept), once it is shown."""
    from playwright.sync_api import expect

    key = phone.locator("#public-key")
    expect(key).to_have_text(HEX64)
    return key.inner_text()


def public_call(phone, function: str, **fields: str):
    """Fill a public page's form, send it and return its outcome box once it answers."""
    from playwright.sync_api import expect

    section = phone.locator(f"section[data-function='{function}']")
    for name, value in fields.items():
        section.locator(f"#id_{function}-{name}").fill(value)
    outcome = section.locator(".outcome")
    outcome.evaluate("box => { box.textContent = ''; box.className = 'outcome'; }")
    section.locator("button[type=submit]").click()
    expect(outcome.locator("p.success, table, p.result-value")
           .or_(phone.locator(f"section[data-function='{function}'] .outcome.error"))
           .first).to_be_visible(timeout=30_000)
    return outcome


def cell(outcome, name: str) -> str:
    """A value of a name/value result table."""
    return outcome.locator(f"tr:has(th:text-is('{name}')) td").inner_text()


@pytest.mark.usefixtures("local_nodes", "currency_bundle")
def test_a_city_runs_a_local_currency_residents_pay_from_a_phone_and_merchants_redeem(
        new_browser, live_server, celery_worker):
    from playwright.sync_api import expect

    from deploy import services as deploy_services
    from tenants import services
    from tenants.models import Membership

    services.signup(email="currency@mapo.example", password=PASSWORD,
                    organisation_name="Mapo City", organisation_slug=CITY)
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("currency@mapo.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")

    # -- a one-validator network with public pages, made as the donations test makes it ------
    membership = Membership.objects.select_related("tenant", "user").get(tenant__slug=CITY)
    network, _op = deploy_services.network_create(
        tenant=membership.tenant, actor=membership.user,
        spec=deploy_services.NetworkSpec(name="mapo-currency", validators=1, driver="local",
                                         public_access=True))
    page.goto(f"{base}/networks/{network.pk}/")
    page.wait_for_selector("#network-live dd[aria-live] .badge[data-status='running']",
                           timeout=RUNNING_TIMEOUT_MS)

    # -- deploy from the template's page: the city role is ours by default ---------------------
    page.goto(f"{base}/templates/")
    row = page.locator("tr[data-template='local_currency']")
    row.get_by_role("link", name="Local digital currency").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/templates/[0-9a-f-]{{36}}/$"))
    form = page.locator("#deploy-form")
    assert form.locator("input[type=checkbox]:checked").count() == 1  # city
    with page.expect_navigation():
        form.get_by_role("button", name="Deploy local_currency 1.1.0").click()
    deployment_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.wait_for_selector("#deployment-status .badge[data-status='active']",
                           timeout=RUNNING_TIMEOUT_MS)
    page.wait_for_selector("#fn-enroll_resident")
    assert "City" in page.inner_text("#status-title + div + p")
    public_path = page.get_by_role("link", name="Public page").get_attribute("href")
    assert public_path == f"/p/{deployment_id}/"
    screenshot(page, "currency-01-deployed")

    # -- a resident (a phone reading Korean) and a merchant open the public page: keys -------
    resident = new_browser(width=375, height=812, locale="ko-KR")
    resident.goto(base + public_path)
    assert resident.locator("h1").inner_text() == "디지털 지역화폐"
    resident_key = public_key_of(resident)
    assert "새 키를 만들어" in resident.inner_text("#key-status")
    assert resident.locator("#pub-pay-title").inner_text() == "가맹점에 결제"
    assert resident.locator("label[for='id_pay-merchant']").inner_text() == "가맹점 공개 키"
    screenshot(resident, "currency-02-resident-key")
    merchant = new_browser(width=375, height=812, locale="ko-KR")
    merchant.goto(base + public_path)
    merchant_key = public_key_of(merchant)
    assert merchant_key != resident_key

    # -- the city enrols both and sells the resident 50,000 -----------------------------------
    act(page, "enroll_resident", public_key=resident_key)
    assert "Enrol a resident committed in block" in page.inner_text(".messages")
    act(page, "enroll_merchant", public_key=merchant_key, name="Mangwon Bakery",
        category="food")
    act(page, "mint", to=resident_key, amount="50000")
    assert "committed in block" in page.inner_text(".messages")
    merchant_row = page.locator(f"#instances tr[data-instance='{merchant_key}']")
    assert "Active" in merchant_row.inner_text()
    screenshot(page, "currency-03-enrolled-and-minted")

    # -- the resident pays the bakery, signed by its browser key -----------------------------
    outcome = public_call(resident, "pay", merchant=merchant_key, amount="30000")
    expect(outcome.locator("p.success")).to_contain_text("블록")
    assert cell(outcome, "from") == resident_key and cell(outcome, "to") == merchant_key
    assert cell(outcome, "amount") == "30000" and cell(outcome, "balance") == "20000"
    # more than the balance: refused, and the page says why
    outcome = public_call(resident, "pay", merchant=merchant_key, amount="25000")
    expect(outcome).to_have_class(re.compile(r"\berror\b"))
    # in the page's language, with the contract's own reason
    expect(outcome).to_contain_text("거래가 거부되었습니다: insufficient balance: 20000 spendable")
    assert "FinalizeBlock" not in outcome.inner_text()
    screenshot(resident, "currency-04-resident-paid-and-refused")
    # its own balance: the look-up carries this browser's key already
    balance_form = resident.locator("section[data-function='balance']")
    assert balance_form.locator("#id_balance-public_key").input_value() == resident_key
    outcome = public_call(resident, "balance")
    assert cell(outcome, "balance") == "20000" and cell(outcome, "kind") == "resident"
    assert page_overflow(resident) == 0

    # -- the merchant redeems part of its takings ----------------------------------------------
    outcome = public_call(merchant, "redeem", amount="20000")
    expect(outcome.locator("p.success")).to_be_visible()
    assert cell(outcome, "amount") == "20000" and cell(outcome, "balance") == "10000"
    # the supply (a public read, refreshed after the write): minted - burned = balances
    supply = merchant.locator("section[data-function='supply'] .outcome")
    expect(supply.locator("tr:has(th:text-is('burned')) td")).to_have_text("20000")
    assert cell(supply, "minted") == "50000" and cell(supply, "supply") == "30000"
    assert cell(supply, "sum_of_balances") == "30000"
    assert page_overflow(merchant) == 0
    screenshot(merchant, "currency-05-merchant-redeemed")

    # -- the portal's look-ups agree; then the same pages in Korean ---------------------------
    page.goto(f"{base}/deployments/{deployment_id}/")
    with page.expect_navigation():
        page.locator("#fn-supply button[type=submit]").click()
    result = page.locator("#fn-supply .fn-result")
    assert cell(result, "minted") == "50000" and cell(result, "burned") == "20000"
    assert cell(result, "supply") == "30000"
    page.locator("#id_balance-public_key").fill(merchant_key)
    with page.expect_navigation():
        page.locator("#fn-balance button[type=submit]").click()
    result = page.locator("#fn-balance .fn-result")
    assert cell(result, "balance") == "10000" and cell(result, "kind") == "merchant"
    screenshot(page, "currency-06-portal-supply")

    switch_language(page, "ko")
    main = page.inner_text("main")
    assert "디지털 지역화폐" in main and "주민 등록" in main and "가맹점 등록" in main
    assert page.locator("label[for='id_mint-to']").inner_text() == "주민 공개 키"
    assert "거래 가능" in page.locator(f"#instances tr[data-instance='{merchant_key}']"
                                      ).inner_text()
    screenshot(page, "currency-07-portal-korean")
