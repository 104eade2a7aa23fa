"""The identity portal pages in both languages, with the in-memory ``_did`` (fakechain):
list, create (platform custody; holder custody's server half), detail with document and
versions, rotate, deactivate with confirmation, registries, the organisation's DID on the
dashboard, roles and another tenant's 404s."""

from __future__ import annotations

import pytest
from django.test import Client

from deploy.tests.factories import MembershipFactory, NetworkFactory
from identity import services
from identity.models import Did, DidRegistry
from ledger.tx import Signer

pytestmark = pytest.mark.django_db


def signed_in(membership, lang="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(membership.user)
    return client


def org_did(owner, network):
    return services.did_create(tenant=owner.tenant, actor=owner.user, network=network,
                               subject="organisation", custody="platform")


@pytest.mark.parametrize("lang, words", [
    ("en", ["Decentralised identifiers", "DID document", "Versions", "Rotate key",
            "DID registries"]),
    ("ko", ["탈중앙 식별자", "DID 문서", "버전", "키 교체", "DID 레지스트리"]),
])
def test_every_page_renders_in_the_readers_language(owner, network, registry, fake, lang,
                                                    words):
    did = org_did(owner, network)
    client = signed_in(owner, lang)
    bodies = "".join(client.get(url).content.decode() for url in (
        "/identity/", f"/identity/{did.pk}/", "/identity/registries/"))
    for word in words:
        assert word in bodies, word
    dashboard = client.get("/dashboard/").content.decode()
    assert did.did in dashboard and 'id="organisation-did"' in dashboard


def test_korean_dates_are_in_korean_order(owner, network, registry, fake):
    did = org_did(owner, network)
    body = signed_in(owner, "ko").get(f"/identity/{did.pk}/").content.decode()
    assert "2025. 12. 5." in body or "2025-12-05" in body  # year first, never day first


def test_an_admin_creates_the_organisations_did_from_the_list(owner, network, registry,
                                                              fake):
    client = signed_in(owner)
    body = client.get("/identity/").content.decode()
    assert 'id="did-create-form"' in body and "seoul-welfare" in body
    res = client.post("/identity/", {"network": str(network.pk), "subject": "organisation",
                                     "custody": "platform", "label": "Main"})
    did = Did.objects.get()
    assert res.status_code == 302 and res.url == f"/identity/{did.pk}/"
    page = client.get(res.url).content.decode()
    assert did.did in page and "z6Mk" in page and 'id="did-versions"' in page
    assert 'id="did-rotate-form"' in page


def test_a_holder_create_posted_by_the_browser(owner, network, registry, fake):
    client = signed_in(owner)
    key = Signer.generate()
    prepared = client.post("/identity/prepare/", {
        "network": str(network.pk), "subject": "me", "public_key": key.public_key_hex})
    assert prepared.status_code == 200, prepared.content
    message = bytes.fromhex(prepared.json()["message_hex"])
    res = client.post("/identity/", {
        "network": str(network.pk), "subject": "me", "custody": "holder",
        "public_key": key.public_key_hex, "signature": key.sign(message).hex()})
    assert res.status_code == 302, res.content.decode()[-2000:]
    did = Did.objects.get()
    assert did.custody == "holder" and did.user == owner.user
    page = client.get(res.url).content.decode()
    assert f'data-controllers="{key.public_key_hex}"' in page and 'data-holder="1"' in page
    # prepare for a rotation, for this DID only
    new = Signer.generate()
    answer = client.post("/identity/prepare/", {"did": str(did.pk), "op": "update",
                                                "public_key": new.public_key_hex}).json()
    res = client.post(f"/identity/{did.pk}/rotate/", {
        "public_key": new.public_key_hex, "prev": answer["prev"],
        "signature": key.sign(bytes.fromhex(answer["message_hex"])).hex()})
    assert res.status_code == 302
    assert Did.objects.get().version == 2


def test_a_bad_holder_signature_is_a_form_error_and_nothing_is_written(owner, network,
                                                                       registry, fake):
    key = Signer.generate()
    res = signed_in(owner).post("/identity/", {
        "network": str(network.pk), "subject": "me", "custody": "holder",
        "public_key": key.public_key_hex, "signature": "00" * 64})
    assert res.status_code == 400 and not Did.objects.exists()
    assert "signature does not verify" in res.content.decode()


def test_prepare_answers_json_errors(owner, network, registry, fake):
    client = signed_in(owner)
    res = client.post("/identity/prepare/", {"network": "nope", "subject": "me",
                                             "public_key": "00"})
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    res = client.post("/identity/prepare/", {"network": str(network.pk), "subject": "me",
                                             "public_key": "xyz"})
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_public_key"
    assert client.get("/identity/prepare/").status_code == 405


def test_rotate_then_deactivate_with_confirmation(owner, network, registry, fake):
    did = org_did(owner, network)
    client = signed_in(owner)
    assert client.post(f"/identity/{did.pk}/rotate/").status_code == 302
    assert Did.objects.get().version == 2
    res = client.post(f"/identity/{did.pk}/deactivate/", follow=True)
    assert "Confirm the deactivation first." in res.content.decode()
    assert Did.objects.get().status == "active"
    res = client.post(f"/identity/{did.pk}/deactivate/", {"confirm": "on"}, follow=True)
    body = res.content.decode()
    assert Did.objects.get().status == "deactivated"
    assert "has no document any more" in body and 'id="did-rotate-form"' not in body
    assert "No DID" not in body


def test_viewers_read_but_change_nothing(owner, network, registry, fake):
    did = org_did(owner, network)
    viewer = signed_in(MembershipFactory(tenant=owner.tenant, role="viewer"))
    body = viewer.get("/identity/").content.decode()
    assert did.did in body and 'id="did-create-form"' not in body
    page = viewer.get(f"/identity/{did.pk}/").content.decode()
    assert 'id="did-rotate-form"' not in page
    assert viewer.post("/identity/", {"network": str(network.pk), "subject": "me",
                                      "custody": "platform"}).status_code == 404
    viewer.post(f"/identity/{did.pk}/rotate/")
    assert Did.objects.get().version == 1


def test_a_developer_may_create_only_their_own(owner, network, registry, fake):
    dev = signed_in(MembershipFactory(tenant=owner.tenant, role="developer"))
    body = dev.get("/identity/").content.decode()
    assert 'value="me"' in body and 'value="organisation"' not in body
    res = dev.post("/identity/", {"network": str(network.pk), "subject": "organisation",
                                  "custody": "platform"})
    assert res.status_code == 400 and not Did.objects.exists()


def test_another_tenant_gets_404_on_every_page(owner, network, registry, fake):
    did = org_did(owner, network)
    stranger = signed_in(MembershipFactory(role="owner"))
    assert stranger.get(f"/identity/{did.pk}/").status_code == 404
    assert stranger.post(f"/identity/{did.pk}/rotate/").status_code == 404
    assert stranger.post(f"/identity/{did.pk}/deactivate/", {"confirm": "on"}) \
        .status_code == 404
    assert stranger.post("/identity/prepare/", {"did": str(did.pk), "op": "deactivate"}) \
        .status_code == 404
    assert stranger.post(f"/identity/registries/{network.pk}/public/").status_code == 404
    assert did.did not in stranger.get("/identity/").content.decode()
    assert Did.objects.get().version == 1


def test_registries_page_sets_up_and_toggles(owner, fake):
    network = NetworkFactory(tenant=owner.tenant, name="welfare")
    client = signed_in(owner)
    body = client.get("/identity/registries/").content.decode()
    assert "no registry" in body and 'name="namespace"' in body
    res = client.post("/identity/registries/", {"network": str(network.pk),
                                                "namespace": "Bad Name"})
    assert res.status_code == 400 and not DidRegistry.objects.exists()
    res = client.post("/identity/registries/", {"network": str(network.pk),
                                                "namespace": "welfare", "public": "on"})
    assert res.status_code == 302 and DidRegistry.objects.get().public is True
    assert fake.namespaces[network.chain_id] == "welfare"
    client.post(f"/identity/registries/{network.pk}/public/", {})
    assert DidRegistry.objects.get().public is False
    dev = signed_in(MembershipFactory(tenant=owner.tenant, role="developer"))
    assert dev.post(f"/identity/registries/{network.pk}/public/", {"public": "on"}) \
        .status_code == 404
    assert 'name="namespace"' not in dev.get("/identity/registries/").content.decode()


def test_the_list_says_when_no_network_holds_a_registry(owner, fake):
    body = signed_in(owner).get("/identity/").content.decode()
    assert "None of your networks holds a DID registry yet." in body
