"""The DID registry and DID API: roles, token scopes, isolation, bad input, failed and
racing chain writes. The chain is ``fakechain`` (the method's checks, in memory); the same
flows on a real network: ``test_did_network.py``."""

from __future__ import annotations

import base64

import pytest

from baas.testing import api_client_for, token_client
from deploy.tests.factories import MembershipFactory, NetworkFactory
from identity import services
from identity.models import Did, DidRegistry
from ledger.tx import Signer
from tenants.models import AuditEvent
from tenants.services import token_create

pytestmark = pytest.mark.django_db


def client(membership):
    return api_client_for(membership.user, membership.tenant)


def member(owner, role):
    return MembershipFactory(tenant=owner.tenant, role=role)


def err(response):
    return response.json()["error"]["code"]


# -- registry ------------------------------------------------------------------------------
def test_the_owner_admin_joins_a_network_to_the_registry_once(owner, network, fake):
    url = f"/api/v1/networks/{network.pk}/did-registry/"
    assert client(owner).get(url).status_code == 404
    res = client(owner).put(url, {"namespace": "seoul-welfare", "public": True}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["did_prefix"] == "did:baas:seoul-welfare:"
    assert fake.namespaces[network.chain_id] == "seoul-welfare"
    assert AuditEvent.objects.filter(action="did.registry_create").count() == 1
    # the same again is a no-op; another namespace is refused, the chain is not asked
    assert client(owner).put(url, {"namespace": "seoul-welfare", "public": True},
                             format="json").status_code == 200
    res = client(owner).put(url, {"namespace": "busan"}, format="json")
    assert res.status_code == 409 and err(res) == "namespace_fixed"
    assert [t["function"] for t in fake.txs] == ["set_namespace"]
    res = client(owner).patch(url, {"public": False}, format="json")
    assert res.status_code == 200 and res.json()["public"] is False
    assert DidRegistry.objects.get().public is False
    assert client(member(owner, "viewer")).get(url).json()["namespace"] == "seoul-welfare"


@pytest.mark.parametrize("namespace", ["", "-a", "a-", "A", "a_b", "x" * 33, "한국", "a b",
                                       "a\x00"])
def test_a_bad_namespace_is_400_and_nothing_is_written(owner, network, fake, namespace):
    res = client(owner).put(f"/api/v1/networks/{network.pk}/did-registry/",
                            {"namespace": namespace}, format="json")
    assert res.status_code == 400, res.content
    assert not DidRegistry.objects.exists() and not fake.txs


def test_a_namespace_is_unique_across_the_platform(owner, network, fake, registry):
    other = NetworkFactory(tenant=owner.tenant)
    res = client(owner).put(f"/api/v1/networks/{other.pk}/did-registry/",
                            {"namespace": "seoul-welfare"}, format="json")
    assert res.status_code == 409 and err(res) == "namespace_taken"


def test_a_ledger_without_did_needs_an_upgrade(owner, network, fake):
    fake.without_did = True
    res = client(owner).put(f"/api/v1/networks/{network.pk}/did-registry/",
                            {"namespace": "seoul"}, format="json")
    assert res.status_code == 409 and err(res) == "did_upgrade_needed"
    assert not DidRegistry.objects.exists()


def test_an_unreachable_network_leaves_no_registry(owner, network, fake):
    fake.down = True
    res = client(owner).put(f"/api/v1/networks/{network.pk}/did-registry/",
                            {"namespace": "seoul"}, format="json")
    assert res.status_code == 503 and not DidRegistry.objects.exists()


def test_a_namespace_already_on_chain_is_adopted_not_sent_again(owner, network, fake):
    fake.namespaces[network.chain_id] = "seoul"  # an earlier attempt committed late
    res = client(owner).put(f"/api/v1/networks/{network.pk}/did-registry/",
                            {"namespace": "seoul"}, format="json")
    assert res.status_code == 200 and not fake.txs
    res = client(owner).put(f"/api/v1/networks/{NetworkFactory(tenant=owner.tenant).pk}"
                            "/did-registry/", {"namespace": "x"}, format="json")
    assert res.status_code == 200  # another network, its own namespace


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_below_admin_nobody_changes_the_registry(owner, network, fake, role):
    res = client(member(owner, role)).put(f"/api/v1/networks/{network.pk}/did-registry/",
                                          {"namespace": "seoul"}, format="json")
    assert res.status_code == 403 and not fake.txs


def test_a_consortium_member_cannot_set_the_owners_registry(owner, network, fake):
    from deploy.models import NetworkMembership

    guest = MembershipFactory(role="owner")
    NetworkMembership.objects.create(network=network, tenant=guest.tenant)
    res = client(guest).put(f"/api/v1/networks/{network.pk}/did-registry/",
                            {"namespace": "seoul"}, format="json")
    assert res.status_code == 403 and err(res) == "network_owner_only"


def test_the_registry_needs_the_deploy_scope_on_tokens(owner, network, fake):
    _t, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                           name="app", scopes=["read", "write"])
    res = token_client(raw).put(f"/api/v1/networks/{network.pk}/did-registry/",
                                {"namespace": "seoul"}, format="json")
    assert res.status_code == 403 and err(res) == "insufficient_scope"
    _t, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                           name="ops", scopes=["read", "write", "deploy"])
    assert token_client(raw).put(f"/api/v1/networks/{network.pk}/did-registry/",
                                 {"namespace": "seoul"}, format="json").status_code == 200


def test_another_tenant_sees_no_registry(owner, network, registry):
    stranger = MembershipFactory(role="owner")
    for method, body in (("get", None), ("put", {"namespace": "x"}), ("patch", {"public": True})):
        res = getattr(client(stranger), method)(
            f"/api/v1/networks/{network.pk}/did-registry/", body, format="json")
        assert res.status_code == 404, (method, res.content)


# -- DIDs, platform custody ----------------------------------------------------------------
def create(membership, network, **body):
    return client(membership).post("/api/v1/dids/", {"network": str(network.pk), **body},
                                   format="json")


def test_an_admin_creates_the_organisations_did_and_it_resolves(owner, network, registry,
                                                                fake):
    res = create(owner, network, subject="organisation", custody="platform", label="Main")
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["did"].startswith("did:baas:seoul-welfare:") and len(body["did"]) == 49
    assert body["status"] == "active" and body["version"] == 1 and body["subject"] == \
        "organisation" and body["person"] is None
    doc = body["document"]
    assert doc["id"] == body["did"]
    assert doc["verificationMethod"][0]["publicKeyMultibase"].startswith("z6Mk")
    assert doc["capabilityInvocation"] == [f"{body['did']}#key-1"]
    assert body["metadata"]["versionId"] == "1" and body["versions"][0]["version"] == 1
    row = Did.objects.get()
    assert row.sealed_private_key and row.user is None
    # signed by the admin's own key, not the organisation's admin identity
    assert fake.txs[-1]["function"] == "create"
    assert fake.txs[-1]["signer"] == next(iter(fake.signers.values())).public_key_hex
    assert AuditEvent.objects.filter(action="did.create").exists()
    # viewers read it
    viewer = member(owner, "viewer")
    assert client(viewer).get(f"/api/v1/dids/{row.pk}/").json()["document"]["id"] == row.did
    assert [d["id"] for d in client(viewer).get("/api/v1/dids/").json()] == [str(row.pk)]


def test_one_live_organisation_did(owner, network, registry, fake):
    assert create(owner, network, subject="organisation").status_code == 201
    res = create(owner, network, subject="organisation")
    assert res.status_code == 409 and err(res) == "did_exists"
    assert [t["function"] for t in fake.txs].count("create") == 1


def test_rotate_replaces_the_key_and_the_old_one_no_longer_signs(owner, network, registry,
                                                                 fake):
    row_id = create(owner, network, subject="organisation").json()["id"]
    old = Did.objects.get().sealed_private_key
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["version"] == 2 and body["metadata"]["versionId"] == "2"
    assert body["document"]["capabilityInvocation"][0].endswith("#key-2")
    assert [v["version"] for v in body["versions"]] == [2, 1]
    row = Did.objects.get()
    assert bytes(row.sealed_private_key) != bytes(old)
    # the rotated-out key: the chain refuses it (as a holder's stale signature would be)
    row.sealed_private_key = old
    row.save()
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {}, format="json")
    assert res.status_code == 409 and err(res) == "did_key_mismatch"


def test_deactivate_is_final_and_frees_the_slot(owner, network, registry, fake):
    row_id = create(owner, network, subject="organisation").json()["id"]
    res = client(owner).post(f"/api/v1/dids/{row_id}/deactivate/", {}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "deactivated" and body["document"] is None
    assert body["metadata"]["deactivated"] is True
    assert Did.objects.get().sealed_private_key is None
    for action in ("rotate", "deactivate"):
        res = client(owner).post(f"/api/v1/dids/{row_id}/{action}/", {}, format="json")
        assert res.status_code == 409 and err(res) == "did_deactivated"
    assert create(owner, network, subject="organisation").status_code == 201


def test_roles(owner, network, registry, fake):
    dev, viewer = member(owner, "developer"), member(owner, "viewer")
    res = create(dev, network, subject="organisation")
    assert res.status_code == 403 and err(res) == "permission_denied"
    res = create(viewer, network, subject="me")
    assert res.status_code == 403
    mine = create(dev, network, subject="me")
    assert mine.status_code == 201 and mine.json()["person"] == dev.user.email
    # one live DID per person per organisation
    assert err(create(dev, network, subject="me")) == "did_exists"
    # not even an admin or the owner changes a person's own DID
    res = client(owner).post(f"/api/v1/dids/{mine.json()['id']}/rotate/", {}, format="json")
    assert res.status_code == 403 and err(res) == "did_not_yours"
    res = client(viewer).post(f"/api/v1/dids/{mine.json()['id']}/deactivate/", {},
                              format="json")
    assert res.status_code == 403
    assert client(dev).post(f"/api/v1/dids/{mine.json()['id']}/rotate/", {},
                            format="json").status_code == 200
    # the organisation's DID: admins only
    org = create(owner, network, subject="organisation").json()["id"]
    assert client(dev).post(f"/api/v1/dids/{org}/rotate/", {}, format="json") \
        .status_code == 403
    assert client(member(owner, "admin")).post(f"/api/v1/dids/{org}/rotate/", {},
                                               format="json").status_code == 200


def test_tokens_read_with_read_and_write_with_write(owner, network, registry, fake):
    row_id = create(owner, network, subject="organisation").json()["id"]
    _t, read = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                            name="reader", scopes=["read"])
    assert token_client(read).get(f"/api/v1/dids/{row_id}/").status_code == 200
    res = token_client(read).post(f"/api/v1/dids/{row_id}/rotate/", {}, format="json")
    assert res.status_code == 403 and err(res) == "insufficient_scope"
    token, write = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                                name="writer", scopes=["read", "write"])
    mine = create(owner, network, subject="me").json()["id"]
    assert token_client(write).post(f"/api/v1/dids/{mine}/rotate/", {},
                                    format="json").status_code == 200
    # the token signed the transaction with its own key
    signer = fake.signers[(network.pk, owner.tenant.pk, f"token-{token.prefix}")]
    assert fake.txs[-1]["signer"] == signer.public_key_hex


def test_the_organisations_did_needs_the_deploy_scope_on_tokens(owner, network, registry,
                                                                fake):
    # The organisation's identity is governance, as its registry is: an application's
    # write token neither creates, rotates nor ends it.
    _t, write = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                             name="writer", scopes=["read", "write"])
    res = token_client(write).post("/api/v1/dids/", {"network": str(network.pk),
                                   "subject": "organisation"}, format="json")
    assert res.status_code == 403 and err(res) == "insufficient_scope"
    row_id = create(owner, network, subject="organisation").json()["id"]
    for action in ("rotate", "deactivate"):
        res = token_client(write).post(f"/api/v1/dids/{row_id}/{action}/", {},
                                       format="json")
        assert res.status_code == 403 and err(res) == "insufficient_scope", action
    assert Did.objects.get(pk=row_id).status == "active" and Did.objects.get(pk=row_id) \
        .version == 1
    _t, deploy = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                              name="ops", scopes=["read", "write", "deploy"])
    assert token_client(deploy).post(f"/api/v1/dids/{row_id}/rotate/", {},
                                     format="json").status_code == 200


def test_another_tenant_gets_404_everywhere(owner, network, registry, fake):
    row_id = create(owner, network, subject="organisation").json()["id"]
    stranger = MembershipFactory(role="owner")
    for path in ("", "rotate/", "deactivate/", "prepare/"):
        method = "get" if not path else "post"
        res = getattr(client(stranger), method)(f"/api/v1/dids/{row_id}/{path}",
                                                {"op": "deactivate"}, format="json")
        assert res.status_code == 404, (path, res.content)
    assert client(stranger).get("/api/v1/dids/").json() == []
    # nor can it put a DID on the owner's network
    res = create(stranger, network, subject="organisation")
    assert res.status_code == 404


@pytest.mark.parametrize("body, status, code", [
    ({"subject": "team"}, 400, None),
    ({"subject": "me", "custody": "paper"}, 400, None),
    ({"subject": "me", "label": "a\u202eb"}, 400, None),
    ({"subject": "me", "custody": "holder"}, 400, "invalid_public_key"),
    ({"subject": "me", "custody": "holder", "public_key": "zz" * 32}, 400,
     "invalid_public_key"),
    ({"subject": "me", "custody": "holder", "public_key": "ff" * 32, "signature": "00" * 64},
     400, "invalid_public_key"),  # not on the curve
])
def test_bad_input_is_a_4xx_and_nothing_is_written(owner, network, registry, fake, body,
                                                   status, code):
    res = create(owner, network, **body)
    assert res.status_code == status, res.content
    if code:
        assert err(res) == code
    assert not Did.objects.exists() and [t["function"] for t in fake.txs] == ["set_namespace"]


def test_a_network_without_registry_or_not_running(owner, fake):
    network = NetworkFactory(tenant=owner.tenant)
    res = create(owner, network, subject="organisation")
    assert res.status_code == 409 and err(res) == "did_registry_missing"
    res = client(owner).post("/api/v1/dids/", {"network": "nope", "subject": "me"},
                             format="json")
    assert res.status_code == 400
    services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                          namespace="n1")
    network.status = "stopped"
    network.save()
    res = create(owner, network, subject="organisation")
    assert res.status_code == 409 and err(res) == "network_not_running"


# -- holder custody --------------------------------------------------------------------------
def holder_create(membership, network, key: Signer, *, b64: bool = False):
    prepared = client(membership).post("/api/v1/dids/prepare/", {
        "network": str(network.pk), "subject": "me", "public_key": key.public_key_hex},
        format="json")
    assert prepared.status_code == 200, prepared.content
    message = base64.b64decode(prepared.json()["message_base64"])
    assert message.hex() == prepared.json()["message_hex"]
    assert message.startswith(b"ledger/did/v1\x00")
    signature = key.sign(message)
    sig = base64.b64encode(signature).decode() if b64 else signature.hex()
    return prepared.json(), create(membership, network, subject="me", custody="holder",
                                   public_key=key.public_key_hex, signature=sig)


def test_a_holder_prepares_signs_and_creates(owner, network, registry, fake):
    key = Signer.generate()
    prepared, res = holder_create(owner, network, key, b64=True)
    assert res.status_code == 201, res.content
    assert res.json()["did"] == prepared["did"]
    assert res.json()["custody"] == "holder"
    assert Did.objects.get().sealed_private_key is None
    assert prepared["did"].endswith(":" + services.derive_suffix(bytes.fromhex(
        key.public_key_hex)))


def test_a_holder_signature_over_anything_else_is_refused(owner, network, registry, fake):
    key = Signer.generate()
    res = create(owner, network, subject="me", custody="holder",
                 public_key=key.public_key_hex, signature=key.sign(b"other").hex())
    assert res.status_code == 400 and err(res) == "invalid_signature"
    res = create(owner, network, subject="me", custody="holder",
                 public_key=key.public_key_hex, signature="12")
    assert res.status_code == 400 and err(res) == "invalid_signature"
    assert not Did.objects.exists()


def test_a_holder_rotates_and_deactivates_with_the_current_key(owner, network, registry,
                                                              fake):
    key = Signer.generate()
    row_id = holder_create(owner, network, key)[1].json()["id"]
    new = Signer.generate()
    prepared = client(owner).post(f"/api/v1/dids/{row_id}/prepare/",
                                  {"op": "update", "public_key": new.public_key_hex},
                                  format="json").json()
    assert prepared["prev"] == 1
    message = bytes.fromhex(prepared["message_hex"])
    # signed by the new key (which does not control the DID yet): refused
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {
        "public_key": new.public_key_hex, "signature": new.sign(message).hex()},
        format="json")
    assert res.status_code == 400 and err(res) == "invalid_signature"
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {
        "public_key": new.public_key_hex, "signature": key.sign(message).hex(), "prev": 1},
        format="json")
    assert res.status_code == 200 and res.json()["version"] == 2, res.content
    # the same signed rotation again: prepared against version 1, now stale
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {
        "public_key": new.public_key_hex, "signature": key.sign(message).hex(), "prev": 1},
        format="json")
    assert res.status_code == 409 and err(res) == "did_version_conflict"
    prepared = client(owner).post(f"/api/v1/dids/{row_id}/prepare/", {"op": "deactivate"},
                                  format="json").json()
    message = bytes.fromhex(prepared["message_hex"])
    res = client(owner).post(f"/api/v1/dids/{row_id}/deactivate/",
                             {"signature": key.sign(message).hex()}, format="json")
    assert res.status_code == 400  # the old key is rotated out
    res = client(owner).post(f"/api/v1/dids/{row_id}/deactivate/",
                             {"signature": new.sign(message).hex()}, format="json")
    assert res.status_code == 200 and res.json()["status"] == "deactivated"


# -- failures and races ----------------------------------------------------------------------
def test_a_refused_create_leaves_no_row_and_says_why(owner, network, registry, fake):
    fake.fail_next = "reject"
    res = create(owner, network, subject="organisation")
    assert res.status_code == 422 and err(res) == "did_op_rejected"
    assert "refused" in res.json()["error"]["details"]["log"]
    assert not Did.objects.exists()
    assert create(owner, network, subject="organisation").status_code == 201


def test_a_create_without_answer_is_failed_and_does_not_block_the_next(owner, network,
                                                                       registry, fake):
    fake.fail_next = "timeout"
    res = create(owner, network, subject="organisation")
    assert res.status_code == 504 and err(res) == "commit_timeout"
    failed = Did.objects.get()
    assert failed.status == "failed"
    assert client(owner).get(f"/api/v1/dids/{failed.pk}/").json()["status"] == "failed"
    assert create(owner, network, subject="organisation").status_code == 201


def test_a_create_that_committed_late_is_found_on_read(owner, network, registry, fake):
    key = Signer.generate()
    prepared = services.did_prepare(tenant=owner.tenant, actor=owner.user, network=network,
                                    subject="me", public_key=key.public_key_hex)
    sig = key.sign(bytes.fromhex(prepared["message_hex"])).hex()
    fake.fail_next = "timeout"
    with pytest.raises(Exception):  # noqa: B017 -- commit_timeout
        services.did_create(tenant=owner.tenant, actor=owner.user, network=network,
                            subject="me", custody="holder", public_key=key.public_key_hex,
                            signature=sig)
    fake.apply(network.chain_id, "create", [{
        "did": prepared["did"].rsplit(":", 1)[1], "op": "create", "prev": 0,
        "state": prepared["state"], "key": "key-1", "sig": sig}], "late")
    row = Did.objects.get()
    assert client(owner).get(f"/api/v1/dids/{row.pk}/").json()["status"] == "active"


def test_a_create_racing_another_for_the_organisation_sends_nothing(owner, network, registry,
                                                                   fake):
    # the other request, in flight
    Did.objects.create(tenant=owner.tenant, network=network, did="did:baas:x:y",
                       subject="organisation", custody="platform", status="pending")
    res = create(owner, network, subject="organisation")
    assert res.status_code == 409 and err(res) == "did_exists"
    assert [t["function"] for t in fake.txs] == ["set_namespace"]


def test_a_rotation_racing_another_is_refused_by_the_chain(owner, network, registry, fake,
                                                          monkeypatch):
    row_id = create(owner, network, subject="organisation").json()["id"]
    real = services._send

    def twice(**kwargs):  # another rotation commits between our read and our write
        other = {**kwargs["op"]}
        real(**{**kwargs, "op": other})
        return real(**kwargs)

    monkeypatch.setattr(services, "_send", twice)
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {}, format="json")
    assert res.status_code == 409 and err(res) == "did_version_conflict"


def test_no_node_answers_the_detail_still_renders(owner, network, registry, fake):
    row_id = create(owner, network, subject="organisation").json()["id"]
    fake.down = True
    body = client(owner).get(f"/api/v1/dids/{row_id}/").json()
    assert body["document"] is None and body["chain_error"]["code"] == "gateway_unavailable"
    res = client(owner).post(f"/api/v1/dids/{row_id}/rotate/", {}, format="json")
    assert res.status_code == 503
