"""Sector templates on a REAL network (one CometBFT validator, local driver, a real Celery
worker process, the API on a live server): one network shared by every scenario.

- the donations bundle deployed over the API with a deploy-scoped token, its whole workflow
  (charity, deliverer, a donor and a receiver acting with their own keys through the public
  page's prepare/sign/submit), the donor's report and the history;
- the local currency bundle deployed with ``baasctl deploy --wait`` and its workflow;
- redeploying is a no-op, an upgrade through the CLI keeps the state, an older version is
  refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from baas.errors import AppError
from deploy.tests.factories import MembershipFactory
from ledger.tx import Signer
from sectors import services
from sectors.models import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "sectors" / "bundles"
OP_TIMEOUT_S = 180


def wait_operation(client: APIClient, op_id: int) -> dict:
    deadline = time.monotonic() + OP_TIMEOUT_S
    while time.monotonic() < deadline:
        op = client.get(f"/api/v1/operations/{op_id}/").json()
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        time.sleep(0.3)
    raise AssertionError(f"operation {op_id} still {op['state']}: {op['steps'][-3:]}")


def call(client: APIClient, deployment_id: str, function: str, **args) -> dict:
    res = client.post(f"/api/v1/deployments/{deployment_id}/call/",
                      {"function": function, "args": args}, format="json")
    assert res.status_code == 200, (function, res.content)
    return res.json()


def public_tx(deployment: Deployment, key: Signer, function: str, **args) -> dict:
    """What the public page does in a browser: prepare, sign with its own key, submit."""
    prepared = services.public_prepare(deployment=deployment, function=function, args=args,
                                       public_key=key.public_key_hex)
    signature = key.sign(base64.b64decode(prepared["sign_bytes"])).hex()
    return services.public_submit(deployment=deployment, body=prepared["body"],
                                  signature=signature)


def baasctl(live_server, secret: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BAASCTL_URL": live_server.url, "BAASCTL_TOKEN": secret}
    return subprocess.run([sys.executable, "-m", "sectors.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_templates_on_a_real_network(celery_worker, e2e_env, live_server, tmp_path):
    from tenants.services import token_create

    owner = MembershipFactory(role="owner")
    slug = owner.tenant.slug
    client = APIClient()
    client.force_authenticate(user=owner.user)
    res = client.post("/api/v1/networks/", {"name": "templates", "validators": 1,
                                            "driver": "local", "public_access": True},
                      format="json")
    assert res.status_code == 202, res.content
    network_id = res.json()["network"]["id"]
    assert wait_operation(client, res.json()["operation"]["id"])["state"] == "succeeded"

    _token, secret = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                                  name="ci", scopes=["read", "write", "deploy"])
    ci = APIClient()
    ci.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    # -- the catalogue: both platform bundles, validated, with their review reports ------
    catalogue = {t["name"]: t for t in ci.get("/api/v1/templates/").json()}
    assert {"donations", "local_currency", "voting"} <= set(catalogue)
    donations = catalogue["donations"]
    assert donations["source"] == "platform" and donations["title"]["ko"]
    assert donations["review"]["valid"] and donations["review"]["review"]["samples"]

    # -- donations, deployed over the API with the deploy-scoped token --------------------
    res = ci.post(f"/api/v1/networks/{network_id}/deployments/",
                  {"template": donations["id"],
                   "roles": {"charity": [slug], "deliverer": [slug]}}, format="json")
    assert res.status_code == 202, res.content
    op = wait_operation(ci, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", op
    assert [s["code"] for s in op["steps"]][-4:] == [
        "template_checking", "template_installing", "template_initialising",
        "template_deployed"]
    dep_id = res.json()["deployment"]["id"]
    dep = ci.get(f"/api/v1/deployments/{dep_id}/").json()
    assert dep["status"] == "active" and dep["active"]["version"] == "1.0.0"
    assert dep["public_url"] == f"/p/{dep_id}/"
    again = ci.post(f"/api/v1/networks/{network_id}/deployments/",
                    {"template": donations["id"]}, format="json")
    assert again.status_code == 200 and again.json()["unchanged"] is True

    deployment = Deployment.objects.select_related("network", "active").get(pk=dep_id)
    donor, shelter = Signer.generate(), Signer.generate()
    call(client, dep_id, "create_campaign", id="coats", title="Winter coats", goal=300000)
    donation = public_tx(deployment, donor, "donate", campaign="coats", amount=120000)
    assert donation["code"] == 0 and donation["data"]["donor"] == donor.public_key_hex
    call(client, dep_id, "create_project", id="jongno", title="Jongno shelter",
         receiver=shelter.public_key_hex)
    call(client, dep_id, "allocate", campaign="coats", project="jongno", amount=100000)
    call(client, dep_id, "disburse", id="jongno-1", project="jongno", amount=100000,
         deliverer=slug)
    receipt = hashlib.sha256(b"signed delivery note").hexdigest()
    call(client, dep_id, "record_delivery", id="jongno-1", document_hash=receipt)
    # Only the receiver's own key acknowledges: the donor's is refused on chain.
    with pytest.raises(AppError) as refused:
        public_tx(deployment, donor, "acknowledge", id="jongno-1", document_hash=receipt)
    assert "receiver" in str(refused.value.message)
    public_tx(deployment, shelter, "acknowledge", id="jongno-1", document_hash=receipt)
    report = services.public_query(deployment=deployment, function="donation_report",
                                   args={"id": donation["data"]["id"]})["data"]
    assert json.dumps(report).count("acknowledged") >= 1, report
    # more than raised cannot be disbursed: refused by the platform's schema or the chain
    res = client.post(f"/api/v1/deployments/{dep_id}/call/", {
        "function": "disburse", "args": {"id": "jongno-2", "project": "jongno",
                                         "amount": 100000, "deliverer": slug}},
        format="json")
    assert res.status_code == 422 and res.json()["error"]["code"] == "tx_rejected"
    history = ci.get(f"/api/v1/deployments/{dep_id}/history/?id=jongno-1").json()["events"]
    assert {e["type"] for e in history} >= {"disbursed", "delivered", "acknowledged"}, history
    assert shelter.public_key_hex in {e["signer"] for e in history}

    # -- an upgrade through the CLI keeps the state; older versions are refused ------------
    upgraded = tmp_path / "donations"
    shutil.copytree(BUNDLES / "donations", upgraded,
                    ignore=shutil.ignore_patterns("__pycache__"))
    manifest = (upgraded / "manifest.toml").read_text("utf-8")
    (upgraded / "manifest.toml").write_text(
        manifest.replace('version = "1.0.0"', 'version = "1.0.1"', 1), "utf-8")
    done = baasctl(live_server, secret, "deploy", str(upgraded), "--network", network_id,
                   "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert secret not in done.stdout + done.stderr
    dep = ci.get(f"/api/v1/deployments/{dep_id}/").json()
    assert dep["active"]["version"] == "1.0.1"
    campaign = call(client, dep_id, "get_campaign", id="coats")["data"]
    assert campaign["raised"] == 120000  # state kept across the upgrade
    res = ci.post(f"/api/v1/networks/{network_id}/deployments/",
                  {"template": donations["id"]}, format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "version_not_newer"

    # -- local currency through the CLI --------------------------------------------------
    done = baasctl(live_server, secret, "deploy", str(BUNDLES / "local_currency"),
                   "--network", network_id, "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    currency = Deployment.objects.select_related("network", "active").get(
        network_id=network_id, name="local_currency")
    assert currency.status == "active"
    run_currency_scenario(client, currency)

    # -- what a pipeline sees: the list, and a broken bundle refused with every problem ----
    listed = baasctl(live_server, secret, "deployments", "--network", network_id, "--json")
    assert listed.returncode == 0, listed.stderr
    assert {d["name"] for d in json.loads(listed.stdout)["deployments"]} == {
        "donations", "local_currency"}
    (upgraded / "contract.py").write_text("import os\n", "utf-8")
    (upgraded / "manifest.toml").write_text(
        manifest.replace('version = "1.0.0"', 'version = "1.0.2"', 1), "utf-8")
    broken = baasctl(live_server, secret, "deploy", str(upgraded), "--network", network_id,
                     "--json")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "contract_rejected" in broken.stdout
    assert Deployment.objects.get(pk=dep_id).active.version == "1.0.1"  # nothing changed


def run_currency_scenario(client: APIClient, deployment: Deployment) -> None:
    """The city enrols a resident and a merchant, mints; the resident pays with its own key;
    the merchant redeems; supply equals minted minus burned throughout."""
    from sectors.tests.currency_scenario import run  # shared with the bench

    run(lambda function, **args: call(client, str(deployment.pk), function, **args),
        lambda key, function, **args: public_tx(deployment, key, function, **args),
        lambda function, **args: services.public_query(
            deployment=deployment, function=function, args=args)["data"])
