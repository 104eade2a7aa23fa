"""The explorer on ONE real one-validator network (local driver, CometBFT, a real Celery
worker), through the API and in a real headless Chromium.

A person of the owner's organisation writes two keys through the gateway (signed with
their own key); the explorer then shows the transaction decoded with that person as the
signer, finds it by hash, height, signer and chaincode, lists the validator with its power
and last signed block and the ``kv`` chaincode with its version, and lists the state under
a prefix. In the browser the blocks table grows while the page is open, and the Merkle
proof of a real key is checked by proof.js (WebCrypto) against the app hash the validator
signed: it passes, and fails for a tampered value, a tampered sibling and a wrong hash.
A consortium member sees the same chain but not the person's name.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_networks_browser import (
    RUNNING_TIMEOUT_MS,
    local_nodes,  # noqa: F401 -- a fixture, used by name below
)

pytestmark = [pytest.mark.browser, pytest.mark.cometbft, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

PASSWORD = "amber-lantern-58-harbour"
SLUG = "han-ledger"


def _wait_running(network, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        network.refresh_from_db()
        if network.status == "running":
            return
        assert network.status not in ("failed", "deleted"), network.status
        time.sleep(0.5)
    raise AssertionError(f"network still {network.status}")


def _wait_operation(client, op_id: int) -> None:
    deadline = time.monotonic() + RUNNING_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        op = client.get(f"/api/v1/operations/{op_id}/").json()
        if op["state"] in ("succeeded", "failed", "cancelled"):
            assert op["state"] == "succeeded", op
            return
        time.sleep(0.5)
    raise AssertionError(f"operation {op_id} still {op['state']}")


def _api_checks(client, network, person: str, tx: dict) -> None:
    """The explorer API on the real chain (the same selectors the pages render)."""
    base = f"/api/v1/networks/{network.pk}/explorer/"
    detail = client.get(f"{base}txs/{tx['hash']}/").json()
    assert (detail["chaincode"], detail["function"], detail["args"]) == \
        ("kv", "put", ["greeting", "hello"])
    assert detail["code"] == 0 and detail["gas_used"] > 0 and detail["height"] == tx["height"]
    assert detail["signer"]["person"] == person and detail["signer"]["kind"] == "person"
    assert detail["signer"]["org_id"]  # from the chain's _identity member record
    kinds = {e["type"] for e in detail["events"]}
    assert {"tx", "kv_put"} <= kinds

    block = client.get(f"{base}blocks/{tx['height']}/").json()
    assert tx["hash"] in [t["hash"] for t in block["txs"]]
    assert block["proposer_name"]  # the platform's node name for the proposer address
    listed = client.get(f"{base}blocks/?limit=5").json()
    assert listed["latest_height"] >= tx["height"]
    assert len(listed["blocks"]) == min(5, listed["latest_height"])
    assert listed["blocks"][0]["height"] > listed["blocks"][-1]["height"]  # newest first

    signer = detail["signer"]["public_key"]
    for q, kind in ((tx["hash"], "hash"), (str(tx["height"]), "height"), (signer, "signer"),
                    ("kv", "chaincode")):
        found = client.get(f"{base}search/", {"q": q, "kind": kind}).json()
        assert tx["hash"] in [r["hash"] for r in found["results"]], (kind, found)
    guessed = client.get(f"{base}search/", {"q": signer}).json()  # not a tx hash: a signer
    assert guessed["kind"] == "signer" and guessed["results"]

    validators = client.get(f"{base}validators/").json()["validators"]
    assert len(validators) == 1 and validators[0]["voting_power"] > 0
    assert validators[0]["last_signed"] and validators[0]["name"]
    codes = client.get(f"{base}chaincodes/").json()["chaincodes"]
    assert [(c["name"], c["version"]) for c in codes] == [("kv", "1.1.0")]
    assert "put" in codes[0]["functions"] and len(codes[0]["approvals"]) == 1

    state = client.get(f"{base}state/kv/", {"prefix": "greet", "limit": 1}).json()
    assert [k["key"] for k in state["keys"]] == ["greeting"] and state["more"]
    rest = client.get(f"{base}state/kv/", {"prefix": "greet",
                                           "after": state["next_after"]}).json()
    assert [(k["key"], k["value"]) for k in rest["keys"]] == [("greeting-2", "bonjour")]

    # The proof the browser checks, checked here with the ledger's own code too.
    from ledger.state import verify_proof

    answer = client.get(f"{base}state/kv/proof/", {"key": "greeting"}).json()
    assert answer["value"] == "hello"
    # the header holding that app hash is the block the validator the platform made signed
    assert answer["signed"] == {"validators": 1, "of": 1, "trusted": True}
    assert verify_proof(key=b"kv/greeting", value=bytes.fromhex(answer["value_hex"]),
                        proof=answer["proof"], app_hash=bytes.fromhex(answer["app_hash"]))


@pytest.mark.usefixtures("local_nodes")
def test_explorer_api_and_pages_on_a_real_network(new_browser, live_server, celery_worker):
    from rest_framework.test import APIClient

    from deploy import services as deploy_services
    from deploy.models import NetworkMembership
    from deploy.tests.factories import MembershipFactory
    from tenants import services
    from tenants.models import Membership

    services.signup(email="jimin@han.example", password=PASSWORD,
                    organisation_name="Han Ledger", organisation_slug=SLUG)
    membership = Membership.objects.select_related("tenant", "user").get(tenant__slug=SLUG)
    membership.user.full_name = "Jimin Han"
    membership.user.save(update_fields=["full_name"])
    network, _op = deploy_services.network_create(
        tenant=membership.tenant, actor=membership.user,
        spec=deploy_services.NetworkSpec(name="explored", validators=1, driver="local"))
    _wait_running(network, RUNNING_TIMEOUT_MS / 1000)

    client = APIClient()
    client.force_authenticate(user=membership.user)
    client.credentials(HTTP_X_TENANT=SLUG)
    # An upgrade of kv through the platform: its approval is read back from the chain.
    from ledger.genesis import bundled_source

    res = client.post(f"/api/v1/networks/{network.pk}/chaincodes/",
                      {"name": "kv", "version": "1.1.0", "source": bundled_source("kv")},
                      format="json")
    assert res.status_code == 202, res.content
    _wait_operation(client, res.json()["id"])
    sent = []
    for key, value in (("greeting", "hello"), ("greeting-2", "bonjour")):
        res = client.post(f"/api/v1/networks/{network.pk}/gateway/tx/",
                          {"chaincode": "kv", "function": "put", "args": [key, value]},
                          format="json")
        assert res.status_code == 200, res.content
        sent.append(res.json())
    tx = sent[0]
    _api_checks(client, network, "Jimin Han", tx)

    # A consortium member reads the same chain; the person's name stays with their own
    # organisation.
    member = MembershipFactory(role="viewer")
    NetworkMembership.objects.create(network=network, tenant=member.tenant, role="observer")
    other = APIClient()
    other.force_authenticate(user=member.user)
    other.credentials(HTTP_X_TENANT=member.tenant.slug)
    seen = other.get(f"/api/v1/networks/{network.pk}/explorer/txs/{tx['hash']}/").json()
    assert seen["signer"]["person"] is None and seen["signer"]["organisation"] == "Han Ledger"

    # -- the pages in Chromium -----------------------------------------------------------------
    base = live_server.url
    page = new_browser()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("jimin@han.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/networks/{network.pk}/")
    page.locator("#network-explorer-link").click()
    page.wait_for_url(f"{base}/networks/{network.pk}/explorer/")
    rows = page.locator("#explorer-blocks tbody tr")
    first = int(rows.first.get_attribute("data-height"))
    # Live: new (empty) blocks come every few seconds and appear without a reload.
    page.wait_for_function(
        "h => Number(document.querySelector('#explorer-blocks tbody tr')"
        ".getAttribute('data-height')) > h", arg=first, timeout=30_000)
    assert rows.count() <= 10
    kv_row = page.locator("#explorer-chaincodes tr[data-chaincode='kv']").inner_text()
    assert "1.1.0" in kv_row and "installed with the network" not in kv_row
    assert page.locator("#explorer-validators tbody tr").count() == 1
    assert network.chain_id in page.locator("#explorer-python").inner_text()
    screenshot(page, "60-explorer-home")

    page.locator("#explorer-q").fill(tx["hash"])
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    page.locator(f"#search-results tr[data-tx='{tx['hash']}'] a").first.click()
    page.wait_for_url(f"{base}/networks/{network.pk}/explorer/txs/{tx['hash']}/")
    assert page.locator("#tx-signer .signer-person").inner_text() == "Jimin Han"
    assert page.locator("#tx-function").inner_text() == "put"
    assert json.loads(page.locator("#tx-args").inner_text()) == ["greeting", "hello"]
    assert "kv_put" in page.locator("#tx-events").inner_text()
    screenshot(page, "61-explorer-tx")

    page.goto(f"{base}/networks/{network.pk}/explorer/state/?chaincode=kv&prefix=greet")
    row = page.locator("#state-keys tr[data-key='greeting']")
    row.get_by_role("button", name="Verify").click()
    result = row.locator(".proof-result")
    page.wait_for_function("el => el.getAttribute('data-state')", arg=result.element_handle())
    assert result.get_attribute("data-state") == "ok", result.inner_text()
    assert "Verified against the app hash of block" in result.inner_text()
    screenshot(page, "62-explorer-proof")

    # The same proof with a tampered value, sibling or app hash fails; an absent key's
    # proof of absence passes, and fails when a value is claimed for it.
    proof_url = page.locator("#state-keys").get_attribute("data-proof-url")
    verdicts = page.evaluate("""async (url) => {
        const get = async (key) => (await fetch(url + "&key=" + key)).json();
        const real = await get("greeting");
        const check = (a) => window.BaasProof.verifyAnswer(a);
        const out = {real: await check(real)};
        out.value = await check({...real, value_hex: real.value_hex.replace(/.$/, "0")});
        const sib = structuredClone(real.proof);
        sib.siblings[3] = sib.siblings[3].replace(/^./, c => c === "a" ? "b" : "a");
        out.sibling = await check({...real, proof: sib});
        out.app_hash = await check({...real, app_hash: "00" + real.app_hash.slice(2)});
        const absent = await get("no-such-key");
        out.absent = await check(absent);
        out.absent_claimed = await check({...absent, value_hex: "22782222"});
        return out;
    }""", proof_url)
    assert verdicts == {"real": True, "value": False, "sibling": False, "app_hash": False,
                        "absent": True, "absent_claimed": False}, verdicts
    assert not errors, errors
