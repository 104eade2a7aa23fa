"""The template pages with Django's test client: the catalogue, a template with its review
and deploy form, a network's deployments, the generated workflow and instance pages, and the
public page with its JSON endpoints. The chain is replaced where a network would answer
(``deploy.gateway`` as the sectors services call it, and the key registration); everything
else (selectors, services, role checks, args validation, signatures) is the real code."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from baas.errors import AppError
from deploy.models import NetworkIdentity
from deploy.tests.factories import MembershipFactory, NetworkFactory
from ledger.tx import Signer
from sectors.catalogue import version_key
from sectors.choices import DeploymentStatus
from sectors.models import Deployment, DeploymentApproval, Template

pytestmark = pytest.mark.django_db

TEXT = {"type": "object", "additionalProperties": False}
MANIFEST = {
    "name": "donations", "version": "1.0.0", "sector": "donation",
    "title": {"en": "Donation tracking", "ko": "기부금 추적"},
    "description": {"en": "Where every won goes.", "ko": "모든 기부금의 흐름."},
    "roles": [
        {"id": "charity", "holder": "organisation", "title": {"en": "Charity", "ko": "자선 단체"}},
        {"id": "donor", "holder": "key", "title": {"en": "Donor", "ko": "기부자"}},
    ],
    "functions": [
        {"name": "init", "kind": "write", "roles": ["charity"], "title": {"en": "Init"},
         "args": {**TEXT, "properties": {"roles": {"type": "object"}}}},
        {"name": "create_campaign", "kind": "write", "roles": ["charity"],
         "title": {"en": "Create a campaign", "ko": "캠페인 만들기"}, "keys": ["campaign/"],
         "args": {**TEXT, "required": ["id", "goal"], "properties": {
             "id": {"type": "string", "maxLength": 16,
                    "x-label": {"en": "Campaign id", "ko": "캠페인 ID"}},
             "goal": {"type": "integer", "minimum": 1,
                      "x-label": {"en": "Goal (KRW)", "ko": "목표 금액"}}}}},
        {"name": "close_campaign", "kind": "write", "roles": ["charity"],
         "title": {"en": "Close the campaign", "ko": "캠페인 마감"},
         "transition": {"entity": "campaign", "from": ["open"], "to": "closed"},
         "args": {**TEXT, "required": ["id"], "properties": {"id": {"type": "string"}}}},
        {"name": "donate", "kind": "write", "roles": ["donor"], "public": True,
         "title": {"en": "Donate", "ko": "기부하기"},
         "transition": {"entity": "campaign", "from": ["open"], "to": "open"},
         "args": {**TEXT, "required": ["campaign", "amount"], "properties": {
             "campaign": {"type": "string", "x-label": {"en": "Campaign", "ko": "캠페인"}},
             "amount": {"type": "integer", "minimum": 1,
                        "x-label": {"en": "Amount", "ko": "금액"}}}}},
        {"name": "get_campaign", "kind": "read", "roles": ["anyone"],
         "title": {"en": "Campaign", "ko": "캠페인"},
         "args": {**TEXT, "required": ["id"], "properties": {"id": {"type": "string"}}}},
        {"name": "list_campaigns", "kind": "read", "roles": ["anyone"],
         "title": {"en": "Campaigns", "ko": "캠페인 목록"}, "args": TEXT},
        {"name": "donation_report", "kind": "read", "roles": ["anyone"], "public": True,
         "title": {"en": "Donation report", "ko": "기부 보고서"},
         "args": {**TEXT, "required": ["id"], "properties": {
             "id": {"type": "string", "x-label": {"en": "Campaign", "ko": "캠페인"}}}}},
        {"name": "roles_of", "kind": "read", "roles": ["anyone"], "title": {"en": "Roles"},
         "args": {**TEXT, "properties": {"org": {}, "public_key": {}}}},
    ],
    "workflow": {"entity": "campaign", "get": "get_campaign", "list": "list_campaigns",
                 "states": [{"id": "open", "title": {"en": "Open", "ko": "모금 중"}},
                            {"id": "closed", "title": {"en": "Closed", "ko": "마감"}}]},
    "init": {"function": "init", "args": {}},
    "upgrade": {"approval": "all"},
}
REVIEW = {
    "roles": {"charity": ["org1"]},
    "samples": [{"function": "create_campaign", "as": "charity", "outcome": "ok", "steps": 412,
                 "expect": "ok", "index": 0},
                {"function": "donate", "as": "key:alice", "outcome": "ok", "steps": 530,
                 "expect": "ok", "index": 1}],
    "role_checks": [{"function": "create_campaign", "as": "key:outsider",
                     "outcome": "refused", "when": "after the samples"}],
    "warnings": [{"code": "range_unbounded", "function": "list_campaigns", "line": 40,
                  "message": "ctx.range limit is not a constant"}],
    "steps_total": 942, "notes": [],
}
CAMPAIGN = {"id": "c1", "state": "open", "goal": 1000, "raised": 30}


def make_template(tenant=None, version="1.0.0") -> Template:
    return Template.objects.create(
        tenant=tenant, name="donations", version=version, version_key=version_key(version),
        sector="donation", content_hash=version.ljust(64, "0"),
        manifest={**MANIFEST, "version": version}, source="# contract\n",
        review={"valid": True, "problems": [], "review": REVIEW})


class FakeChain:
    """What the network would answer: queries by function, txs committed at height 7."""

    def __init__(self) -> None:
        self.submitted: list[dict] = []
        self.queries: list[dict] = []
        self.roles = ["charity"]

    def query(self, *, network, body, signer=None):
        self.queries.append(body)
        function, args = body["function"], body.get("args") or {}
        if function == "list_campaigns":
            return {"result": [CAMPAIGN]}
        if function in ("get_campaign", "donation_report"):
            if args.get("id") != "c1":
                raise AppError("query_failed", "The query failed: no such campaign",
                               status=422)
            return {"result": CAMPAIGN if function == "get_campaign"
                    else [{"donor": "ab12", "amount": 30}]}
        if function == "roles_of":
            return {"result": self.roles}
        raise AppError("query_failed", "unknown", status=422)

    def submit_tx(self, *, network, body, signer=None):
        self.submitted.append(body)
        return {"hash": "ab" * 32, "code": 0, "log": "", "height": 7, "data": None}

    def tx_search(self, *, network, query_text, limit=50):
        identity = NetworkIdentity.objects.filter(network=network).first()
        return [{"hash": "cd" * 32, "height": 5, "code": 0, "function": "create_campaign",
                 "args": {}, "signer": identity.public_key if identity else "00" * 32,
                 "events": [{"type": "campaign_created",
                             "attributes": {"chaincode": "donations", "id": "c1",
                                            "goal": "1000"}}]},
                {"hash": "ef" * 32, "height": 6, "code": 0, "function": "donate",
                 "args": {}, "signer": "99" * 32,
                 "events": [{"type": "donated", "attributes": {
                     "chaincode": "donations", "id": "c1", "amount": "30"}}]}]


@pytest.fixture(autouse=True)
def _no_throttle_history():
    """The rate limits count in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def chain(monkeypatch):
    fake = FakeChain()
    monkeypatch.setattr("sectors.services.gateway.query", fake.query)
    monkeypatch.setattr("sectors.services.gateway.submit_tx", fake.submit_tx)
    monkeypatch.setattr("sectors.services.gateway.tx_search", fake.tx_search)
    monkeypatch.setattr("sectors.services.consortium.ensure_registered", lambda *a: None)
    monkeypatch.setattr("sectors.services.keys.signer_for",
                        lambda **kw: Signer.from_private_bytes(b"\x01" * 32))
    return fake


@pytest.fixture
def owner(db):
    return MembershipFactory(role="owner")


@pytest.fixture
def network(owner):
    net = NetworkFactory(tenant=owner.tenant, public_access=True, name="city-net")
    NetworkIdentity.objects.create(network=net, tenant=owner.tenant,
                                   organisation_id=owner.tenant.slug, member_id="platform",
                                   public_key="11" * 32, sealed_private_key=b"x")
    return net


@pytest.fixture
def template():
    return make_template()


@pytest.fixture
def deployment(owner, network, template):
    return Deployment.objects.create(
        network=network, tenant=owner.tenant, name="donations", active=template,
        target=template, status=DeploymentStatus.ACTIVE,
        roles={"charity": [owner.tenant.slug]})


def signed_in(membership, lang="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(membership.user)
    return client


def pages(deployment) -> list[str]:
    return [
        "/templates/",
        f"/templates/{deployment.active_id}/",
        f"/networks/{deployment.network_id}/deployments/",
        f"/deployments/{deployment.pk}/",
        f"/deployments/{deployment.pk}/i/c1/",
    ]


# --- the portal pages ----------------------------------------------------------------------
@pytest.mark.parametrize("lang, words", [
    ("en", ["Donation tracking", "Create a campaign", "Goal (KRW)", "Open", "Review report",
            "Close the campaign"]),
    ("ko", ["기부금 추적", "캠페인 만들기", "목표 금액", "모금 중", "검토 보고서", "캠페인 마감"]),
])
def test_every_page_renders_for_the_owner_in_the_readers_language(owner, deployment, chain,
                                                                  lang, words):
    client = signed_in(owner, lang)
    seen = ""
    for url in pages(deployment):
        response = client.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{lang}">' in response.content.decode()
        seen += response.content.decode()
    for word in words:
        assert word in seen, word


def test_the_catalogue_groups_by_sector_and_marks_platform_and_private(owner, template):
    make_template(tenant=owner.tenant, version="2.0.0")
    other = MembershipFactory(role="owner")
    make_template(tenant=other.tenant, version="9.9.9")  # another tenant's: never shown
    body = signed_in(owner).get("/templates/").content.decode()
    assert "Donation tracking" in body  # the sector's title
    assert "Platform" in body and "Private" in body
    assert "2.0.0" in body and "1.0.0" in body and "9.9.9" not in body


def test_the_template_page_shows_the_review_and_functions_with_roles(owner, template):
    body = signed_in(owner).get(f"/templates/{template.pk}/").content.decode()
    assert "412" in body and "530" in body and "942" in body  # step costs
    assert "key:outsider" in body and "range_unbounded" in body
    assert "Charity" in body and "Donor" in body
    assert 'id="deploy-form"' not in body  # no running network of its own yet


def test_the_owner_deploys_onto_a_running_network_and_lands_on_the_deployment(
        owner, network, template, django_capture_on_commit_callbacks):
    client = signed_in(owner)
    body = client.get(f"/templates/{template.pk}/").content.decode()
    assert 'id="deploy-form"' in body and "city-net" in body
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/templates/{template.pk}/", {
            "network": str(network.pk), "role_charity": [owner.tenant.slug]})
    deployment = Deployment.objects.get(network=network, name="donations")
    assert response.status_code == 302
    assert response["Location"] == f"/deployments/{deployment.pk}/"
    assert deployment.roles == {"charity": [owner.tenant.slug]}
    assert deployment.status == DeploymentStatus.DEPLOYING
    page = client.get(response["Location"]).content.decode()
    assert "Deploying" in page and 'hx-trigger="every 2s"' in page
    # polled while deploying; once active, htmx reloads the page
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.ACTIVE)
    polled = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert polled["HX-Refresh"] == "true"


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_below_admin_nobody_deploys(owner, network, template, role):
    member = MembershipFactory(tenant=owner.tenant, role=role)
    client = signed_in(member)
    body = client.get(f"/templates/{template.pk}/").content.decode()
    assert 'id="deploy-form"' not in body
    response = client.post(f"/templates/{template.pk}/", {
        "network": str(network.pk), "role_charity": [owner.tenant.slug]})
    assert response.status_code == 404
    assert not Deployment.objects.exists()


def test_another_tenant_gets_404_on_every_page(owner, deployment, chain):
    private = make_template(tenant=owner.tenant, version="3.0.0")
    stranger = signed_in(MembershipFactory(role="owner"))
    # (the platform's templates are everyone's catalogue; the tenant's own are not)
    for url in pages(deployment)[2:] + [f"/templates/{private.pk}/",
                                        f"/deployments/{deployment.pk}/approve/"]:
        method = stranger.post if url.endswith("approve/") else stranger.get
        assert method(url).status_code == 404, url
    assert chain.queries == [] and chain.submitted == []


def test_the_workflow_page_lists_instances_and_offers_what_the_org_may_call(
        owner, deployment, chain):
    body = signed_in(owner).get(f"/deployments/{deployment.pk}/").content.decode()
    assert f'href="/deployments/{deployment.pk}/i/c1/"' in body
    assert 'data-state="open">Open</td>' in body
    assert 'data-function="create_campaign"' in body
    assert 'data-function="donate"' not in body  # a donor's (key role) function
    assert 'data-function="init"' not in body and 'data-function="roles_of"' not in body
    assert f"/p/{deployment.pk}/" in body  # the public page is linked
    # what the chain says counts: without the role there is nothing to write
    chain.roles = []
    body = signed_in(owner).get(f"/deployments/{deployment.pk}/").content.decode()
    assert 'data-function="create_campaign"' not in body
    assert 'data-function="get_campaign"' in body  # reads are for anyone


def test_a_write_goes_to_the_chain_with_typed_args_and_a_read_shows_a_table(
        owner, deployment, chain):
    client = signed_in(owner)
    url = f"/deployments/{deployment.pk}/"
    response = client.post(url, {"function": "create_campaign", "create_campaign-id": "c2",
                                 "create_campaign-goal": "500"})
    assert response.status_code == 302
    assert chain.submitted[-1] == {"chaincode": "donations", "function": "create_campaign",
                                   "args": {"id": "c2", "goal": 500}}
    assert "committed in block 7" in client.get(url).content.decode()
    response = client.get(url, {"call": "get_campaign", "get_campaign-id": "c1"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<th scope=\"row\">raised</th><td>30</td>" in body


def test_a_bad_value_is_a_field_error_and_nothing_is_sent(owner, deployment, chain):
    response = signed_in(owner).post(f"/deployments/{deployment.pk}/", {
        "function": "create_campaign", "create_campaign-id": "c2",
        "create_campaign-goal": "0"})
    assert response.status_code == 400
    assert 'id="id_create_campaign-goal_error"' in response.content.decode()
    assert chain.submitted == []


def test_a_viewer_reads_but_is_offered_no_write(owner, deployment, chain):
    viewer = signed_in(MembershipFactory(tenant=owner.tenant, role="viewer"))
    body = viewer.get(f"/deployments/{deployment.pk}/").content.decode()
    assert 'data-function="create_campaign"' not in body
    assert 'data-function="get_campaign"' in body
    viewer.post(f"/deployments/{deployment.pk}/", {
        "function": "create_campaign", "create_campaign-id": "c2",
        "create_campaign-goal": "5"})
    assert chain.submitted == []


def test_the_instance_page_offers_next_steps_and_names_who_acted(owner, deployment, chain):
    client = signed_in(owner)
    body = client.get(f"/deployments/{deployment.pk}/i/c1/").content.decode()
    assert 'id="instance-state">Open<' in body
    assert 'data-function="close_campaign"' in body  # open -> closed, for the charity
    assert 'data-function="create_campaign"' not in body  # no transition from "open"
    assert 'value="c1"' in body  # the instance id is filled in
    assert owner.tenant.name in body and "11111111…1111" in body  # the owner's key, named
    assert "outside key" in body and "99999999…9999" in body  # a donor
    assert "amount=30" in body
    assert client.get(f"/deployments/{deployment.pk}/i/nope/").status_code == 404


def test_approvals_waiting_show_an_approve_button_to_another_orgs_admin(
        owner, deployment, chain):
    from deploy.models import NetworkMembership

    v2 = make_template(version="1.1.0")
    Deployment.objects.filter(pk=deployment.pk).update(
        target=v2, status=DeploymentStatus.AWAITING_APPROVAL)
    DeploymentApproval.objects.create(deployment=deployment, template=v2, tenant=owner.tenant)
    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=deployment.network, tenant=member.tenant,
                                     role="validator")
    body = signed_in(owner).get(f"/deployments/{deployment.pk}/").content.decode()
    assert f"Approved by {owner.tenant.name}" in body
    assert "/approve/" not in body  # the owner already approved
    client = signed_in(member)
    body = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Version 1.1.0 waits for the approval" in body and "/approve/" in body
    assert "What version 1.1.0 is: its review and its code" in body  # not approved blind
    assert v2.content_hash in body
    response = client.post(f"/deployments/{deployment.pk}/approve/", {"template": str(v2.pk)})
    assert response.status_code == 302
    assert DeploymentApproval.objects.filter(deployment=deployment, template=v2).count() == 2


def test_a_refused_upload_lists_every_problem(owner):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("manifest.toml", b'name = "Bad Name"\nversion = "one"\n'),
                           ("contract.py", b"import os\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = "bad.tar.gz"
    response = signed_in(owner).post("/templates/", {"archive": buffer})
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="upload-problems"' in body
    assert "<code>$.version</code>" in body and "<code>contract.py</code>" in body
    assert "import of &#x27;os&#x27; is not allowed" in body  # every problem, with its place
    viewer = signed_in(MembershipFactory(tenant=owner.tenant, role="viewer"))
    assert "Upload a private template" not in viewer.get("/templates/").content.decode()


def test_the_network_page_links_its_deployments(owner, network):
    body = signed_in(owner).get(f"/networks/{network.pk}/").content.decode()
    assert f'href="/networks/{network.pk}/deployments/"' in body


# --- the public page -------------------------------------------------------------------------
def public_post(client, deployment, endpoint, payload, **extra):
    data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(f"/p/{deployment.pk}/{endpoint}/", data=data,
                       content_type="application/json", **extra)


@pytest.mark.parametrize("lang, words", [
    ("en", ["Donation tracking", "Donate", "Donation report", "Your key"]),
    ("ko", ["기부금 추적", "기부하기", "기부 보고서", "금액"]),
])
def test_the_public_page_needs_no_login_and_offers_only_public_functions(deployment, lang,
                                                                         words):
    response = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/p/{deployment.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    for word in words:
        assert word in body
    assert 'data-function="donate"' in body and 'data-function="donation_report"' in body
    assert 'data-function="create_campaign"' not in body
    assert 'data-arg-type="integer"' in body and "sectors/public.js" in body
    assert "<script>" not in body  # the CSP allows no inline script
    assert "csrftoken" in response.cookies


def test_no_public_page_without_public_access(deployment):
    deployment.network.public_access = False
    deployment.network.save()
    assert Client().get(f"/p/{deployment.pk}/").status_code == 404
    response = public_post(Client(), deployment, "query",
                           {"function": "donation_report", "args": {"id": "c1"}})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_public_read_answers_with_a_table(deployment, chain):
    response = public_post(Client(), deployment, "query",
                           {"function": "donation_report", "args": {"id": "c1"}})
    assert response.status_code == 200
    assert response.json()["table"] == {"kind": "rows", "columns": ["donor", "amount"],
                                        "rows": [["ab12", "30"]], "value": ""}


@pytest.mark.parametrize("endpoint, payload", [
    ("query", {"function": "get_campaign", "args": {"id": "c1"}}),      # not public
    ("query", {"function": "donate", "args": {}}),                      # a write
    ("prepare", {"function": "create_campaign", "args": {"id": "x", "goal": 1},
                 "public_key": "aa" * 32}),
    ("prepare", {"function": "donation_report", "args": {"id": "c1"},
                 "public_key": "aa" * 32}),                             # a read
])
def test_the_public_endpoints_refuse_functions_that_are_not_public(deployment, chain,
                                                                    endpoint, payload):
    response = public_post(Client(), deployment, endpoint, payload)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "function_not_public"
    assert chain.queries == [] and chain.submitted == []


@pytest.mark.parametrize("endpoint, payload, status, code", [
    ("prepare", "{not json", 400, "malformed_request"),
    ("prepare", "[1, 2]", 400, "malformed_request"),
    ("prepare", b"\xff\xfe", 400, "malformed_request"),
    ("prepare", {"function": "donate", "args": [], "public_key": "aa" * 32}, 400,
     "validation_failed"),
    ("prepare", {"function": "donate", "args": {"campaign": "c1", "amount": 5},
                 "public_key": "XYZ"}, 400, "invalid_public_key"),
    ("prepare", {"function": "donate", "args": {"campaign": "c1", "amount": 0},
                 "public_key": "aa" * 32}, 400, "args_invalid"),
    ("query", {"function": 5}, 400, "validation_failed"),
    ("submit", {"body": "nope", "signature": "00" * 64}, 400, "validation_failed"),
    ("submit", {"body": {"function": "donate"}, "signature": "zz"}, 400, "invalid_signed_tx"),
])
def test_bad_requests_are_json_errors_with_a_4xx(deployment, chain, endpoint, payload, status,
                                                 code):
    response = public_post(Client(), deployment, endpoint, payload)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_prepare_then_a_signature_by_the_browser_key_is_relayed(deployment, chain):
    client = Client()
    key = Signer.generate()
    args = {"campaign": "c1", "amount": 25}
    prepared = public_post(client, deployment, "prepare", {
        "function": "donate", "args": args, "public_key": key.public_key_hex}).json()
    body = prepared["body"]
    assert body["function"] == "donate" and body["args"] == args
    assert body["signer"] == key.public_key_hex and body["chaincode"] == "donations"
    sign_bytes = base64.b64decode(prepared["sign_bytes"])
    assert sign_bytes.startswith(b"ledger/tx/v1\x00")
    # another key's signature over the same bytes is refused, and nothing is relayed
    wrong = public_post(client, deployment, "submit", {
        "body": body, "signature": Signer.generate().sign(sign_bytes).hex()})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_signed_tx"
    # so is a body changed after signing
    signature = key.sign(sign_bytes).hex()
    tampered = public_post(client, deployment, "submit", {
        "body": {**body, "args": {"campaign": "c1", "amount": 2500}}, "signature": signature})
    assert tampered.status_code == 400
    assert chain.submitted == []
    ok = public_post(client, deployment, "submit", {"body": body, "signature": signature})
    assert ok.status_code == 200 and ok.json()["height"] == 7
    assert len(chain.submitted) == 1 and "tx" in chain.submitted[0]


def test_the_json_endpoints_want_post_and_the_csrf_token(deployment, chain):
    assert Client().get(f"/p/{deployment.pk}/query/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    page = strict.get(f"/p/{deployment.pk}/")
    token = page.cookies["csrftoken"].value
    payload = {"function": "donation_report", "args": {"id": "c1"}}
    assert public_post(strict, deployment, "query", payload).status_code == 403
    assert public_post(strict, deployment, "query", payload,
                       HTTP_X_CSRFTOKEN=token).status_code == 200


def test_the_json_endpoints_are_rate_limited_per_client(deployment, chain, settings):
    settings.BAAS_PUBLIC_PAGE_THROTTLE_RATE = "3/minute"
    payload = {"function": "donation_report", "args": {"id": "c1"}}
    client = Client()
    for _ in range(3):
        assert public_post(client, deployment, "query", payload).status_code == 200
    refused = public_post(client, deployment, "query", payload)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled" and int(refused["Retry-After"]) > 0
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert public_post(other, deployment, "query", payload).status_code == 200


def test_a_chain_failure_is_json_not_a_500(deployment, chain, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("socket closed")

    monkeypatch.setattr("sectors.services.gateway.query", boom)
    response = public_post(Client(), deployment, "query",
                           {"function": "donation_report", "args": {"id": "c1"}})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "gateway_unavailable"


@pytest.mark.parametrize("lang, said", [
    ("en", "The transaction was refused: insufficient balance: 20 spendable"),
    ("ko", "거래가 거부되었습니다: insufficient balance: 20 spendable"),
])
def test_a_refused_write_says_the_contracts_reason_in_the_visitors_language(
        deployment, chain, monkeypatch, lang, said):
    def refuse(**kwargs):
        raise AppError("tx_rejected", "The ledger rejected the transaction at FinalizeBlock: "
                       "insufficient balance: 20 spendable", status=422,
                       details={"stage": "FinalizeBlock", "hash": "ab" * 32, "code": 5,
                                "codespace": "", "log": "insufficient balance: 20 spendable"})

    monkeypatch.setattr("sectors.services.gateway.submit_tx", refuse)
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    key = Signer.generate()
    prepared = public_post(client, deployment, "prepare", {
        "function": "donate", "args": {"campaign": "c1", "amount": 25},
        "public_key": key.public_key_hex}).json()
    response = public_post(client, deployment, "submit", {
        "body": prepared["body"],
        "signature": key.sign(base64.b64decode(prepared["sign_bytes"])).hex()})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "tx_rejected" and error["message"] == said
    assert "FinalizeBlock" not in error["message"]
    assert error["details"]["log"] == "insufficient balance: 20 spendable"


def test_a_refused_look_up_says_the_contracts_reason(deployment, chain, monkeypatch):
    def refuse(**kwargs):
        raise AppError("query_failed", "The query failed: no such campaign: c9", status=422,
                       details={"path": "/chaincode", "code": 1, "log": "no such campaign: c9"})

    monkeypatch.setattr("sectors.services.gateway.query", refuse)
    response = public_post(Client(HTTP_ACCEPT_LANGUAGE="ko"), deployment, "query",
                           {"function": "donation_report", "args": {"id": "c9"}})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "조회가 거부되었습니다: no such campaign: c9"
