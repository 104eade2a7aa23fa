"""Writes that commit without an answer, retries, people who leave, and who may govern the
organisation's DID (review 13, control plane). The chain is ``fakechain``."""

from __future__ import annotations

import pytest

from baas.errors import AppError
from baas.testing import api_client_for, token_client
from deploy.tests.factories import MembershipFactory
from identity import selectors, services
from identity.models import Did, DidRegistry
from ledger.tx import Signer

pytestmark = pytest.mark.django_db


def client(membership):
    return api_client_for(membership.user, membership.tenant)


def err(response):
    return response.json()["error"]["code"]


@pytest.fixture
def commit_then_timeout(monkeypatch, fake):
    """The next ``_did`` write commits, then the answer is lost (no block in time)."""
    import deploy.gateway as gw

    real = gw.broadcast_committed

    def once(*, network, raw, timeout):
        monkeypatch.setattr("deploy.gateway.broadcast_committed", real)
        real(network=network, raw=raw, timeout=timeout)
        raise AppError("commit_timeout", "no block in time", status=504,
                       details={"hash": "ab" * 32})

    return lambda: monkeypatch.setattr("deploy.gateway.broadcast_committed", once)


def org_did(owner, network):
    return services.did_create(tenant=owner.tenant, actor=owner.user, network=network,
                               subject="organisation", custody="platform")


def on_chain(network, did):
    return selectors.chain_record(network, selectors.suffix_of(did.did))


# -- finding 1: a rotation that commits without an answer ------------------------------------
def test_a_rotation_committed_without_answer_keeps_the_platform_in_control(
        owner, network, registry, fake, commit_then_timeout):
    did = org_did(owner, network)
    commit_then_timeout()
    with pytest.raises(AppError):
        services.did_rotate(tenant=owner.tenant, actor=owner.user, did=did)
    assert on_chain(network, did)["version"] == 2
    did = Did.objects.get(pk=did.pk)
    # the key the chain now shows was stored before the rotation was sent
    assert did.pending_private_key
    services.did_rotate(tenant=owner.tenant, actor=owner.user, did=did)
    assert on_chain(network, did)["version"] == 3
    services.did_deactivate(tenant=owner.tenant, actor=owner.user, did=did)
    assert on_chain(network, did)["deactivated"]


def test_reading_the_did_promotes_a_rotated_key_the_chain_shows(owner, network, registry,
                                                                fake, commit_then_timeout):
    did = org_did(owner, network)
    commit_then_timeout()
    with pytest.raises(AppError):
        services.did_rotate(tenant=owner.tenant, actor=owner.user, did=did)
    pending = bytes(Did.objects.get(pk=did.pk).pending_private_key)
    body = client(owner).get(f"/api/v1/dids/{did.pk}/").json()
    assert body["version"] == 2
    row = Did.objects.get(pk=did.pk)
    assert bytes(row.sealed_private_key) == pending and row.pending_private_key is None


def test_a_rotation_without_answer_that_did_not_commit_is_sent_again_to_the_same_key(
        owner, network, registry, fake):
    did = org_did(owner, network)
    fake.fail_next = "timeout"  # never reaches the chain (or not yet)
    with pytest.raises(AppError):
        services.did_rotate(tenant=owner.tenant, actor=owner.user, did=did)
    pending = bytes(Did.objects.get(pk=did.pk).pending_private_key)
    did = services.did_rotate(tenant=owner.tenant, actor=owner.user,
                              did=Did.objects.get(pk=did.pk))
    # the same new key: the first rotation, should it still commit, hands over to it too
    assert bytes(Did.objects.get(pk=did.pk).sealed_private_key) == pending
    assert on_chain(network, did)["version"] == 2


# -- finding 2: a holder's create retried after an ambiguous failure -------------------------
def holder_op(owner, network, key, subject="me"):
    prepared = services.did_prepare(tenant=owner.tenant, actor=owner.user, network=network,
                                    subject=subject, public_key=key.public_key_hex)
    return key.sign(bytes.fromhex(prepared["message_hex"])).hex()


def test_a_holder_create_retried_after_a_lost_answer_keeps_the_live_did(
        owner, network, registry, fake, commit_then_timeout):
    key = Signer.generate()
    sig = holder_op(owner, network, key)
    commit_then_timeout()
    kwargs = {"tenant": owner.tenant, "actor": owner.user, "network": network,
              "subject": "me", "custody": "holder", "public_key": key.public_key_hex,
              "signature": sig}
    with pytest.raises(AppError):
        services.did_create(**kwargs)
    assert Did.objects.get().status == "failed"
    sent = len(fake.txs)
    row = services.did_create(**kwargs)
    assert row.status == "active" and row.version == 1
    assert Did.objects.get().pk == row.pk and len(fake.txs) == sent  # adopted, not re-sent


def test_a_holder_create_retried_when_the_chain_does_not_know_it_is_sent_again(
        owner, network, registry, fake):
    key = Signer.generate()
    sig = holder_op(owner, network, key)
    kwargs = {"tenant": owner.tenant, "actor": owner.user, "network": network,
              "subject": "me", "custody": "holder", "public_key": key.public_key_hex,
              "signature": sig}
    fake.fail_next = "timeout"
    with pytest.raises(AppError):
        services.did_create(**kwargs)
    fake.down = True  # no answer, no decision: the failed row stays
    with pytest.raises(AppError):
        services.did_create(**kwargs)
    assert Did.objects.get().status == "failed"
    fake.down = False
    assert services.did_create(**kwargs).status == "active"


def test_a_colleague_cannot_retry_anothers_failed_create(owner, network, registry, fake):
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    key = Signer.generate()
    sig = holder_op(dev, network, key)
    fake.fail_next = "timeout"
    with pytest.raises(AppError):
        services.did_create(tenant=owner.tenant, actor=dev.user, network=network,
                            subject="me", custody="holder", public_key=key.public_key_hex,
                            signature=sig)
    other = MembershipFactory(tenant=owner.tenant, role="developer")
    with pytest.raises(AppError) as exc:
        services.did_create(tenant=owner.tenant, actor=other.user, network=network,
                            subject="me", custody="holder", public_key=key.public_key_hex,
                            signature=sig)
    assert exc.value.code == "did_exists"
    row = Did.objects.get()
    assert row.user_id == dev.user_id and row.status == "failed"


# -- a failed create that committed late, and a deactivation without answer -----------------
def test_a_failed_create_that_committed_late_can_still_be_deactivated(
        owner, network, registry, fake, commit_then_timeout):
    commit_then_timeout()
    with pytest.raises(AppError):
        org_did(owner, network)
    late = Did.objects.get()
    newer = org_did(owner, network)  # a failed create does not hold the slot
    # on chain, but the organisation's one live DID is the newer: it stays failed ...
    assert services.did_refresh(did=late).status == "failed"
    res = client(owner).post(f"/api/v1/dids/{late.pk}/rotate/", {}, format="json")
    assert res.status_code == 409 and err(res) == "did_not_active"
    # ... and can be ended, so it does not stay live and unmanaged
    res = client(owner).post(f"/api/v1/dids/{late.pk}/deactivate/", {}, format="json")
    assert res.status_code == 200 and res.json()["status"] == "deactivated", res.content
    assert on_chain(network, late)["deactivated"]
    assert Did.objects.get(pk=newer.pk).status == "active"


def test_a_deactivation_seen_on_chain_wipes_the_platforms_key(owner, network, registry, fake,
                                                              commit_then_timeout):
    did = org_did(owner, network)
    commit_then_timeout()
    with pytest.raises(AppError):
        services.did_deactivate(tenant=owner.tenant, actor=owner.user, did=did)
    assert Did.objects.get(pk=did.pk).sealed_private_key  # not known yet
    assert client(owner).get(f"/api/v1/dids/{did.pk}/").json()["status"] == "deactivated"
    row = Did.objects.get(pk=did.pk)
    assert row.sealed_private_key is None and row.pending_private_key is None


def test_a_lagging_nodes_record_never_moves_a_did_back(owner, network, registry, fake):
    """A node behind the chain answers an older record: a deactivated DID stays
    deactivated, and a row never goes back to an older version."""
    did = org_did(owner, network)
    before = selectors.chain_record(did.network, selectors.suffix_of(did.did))
    services.did_deactivate(tenant=owner.tenant, actor=owner.user, did=did)
    row = Did.objects.get(pk=did.pk)
    assert row.status == "deactivated"
    services.did_refresh(did=row, record=before)
    assert Did.objects.get(pk=did.pk).status == "deactivated"


# -- finding 3: the registry's namespace is the chain's --------------------------------------
def test_a_namespace_committed_late_is_not_replaced_by_another_in_the_database(
        owner, network, fake, monkeypatch):
    late_governance(monkeypatch, fake)
    fake.fail_next_governance = "timeout_then_commit"
    with pytest.raises(AppError):
        services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                              namespace="aaa")
    assert not DidRegistry.objects.exists()
    # the first attempt commits just after the retry read the chain
    real_cfg = selectors.chain_config

    def late(net):
        out = real_cfg(net)
        fake.namespaces[net.chain_id] = fake.in_flight
        return out

    monkeypatch.setattr("identity.selectors.chain_config", late)
    with pytest.raises(AppError) as exc:
        services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                              namespace="bbb")
    assert exc.value.code == "namespace_fixed" and exc.value.details["namespace"] == "aaa"
    assert not DidRegistry.objects.exists()
    monkeypatch.setattr("identity.selectors.chain_config", real_cfg)
    assert services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                                 namespace="aaa").namespace == "aaa"


def late_governance(monkeypatch, fake):
    """``governance_tx`` with the real rule for ``already_done`` over the chain's own
    refusal text, and a first call that is lost in flight (committed later by the test)."""
    fake.in_flight = None

    def gtx(net, chaincode, function, args, *, already_done=""):
        held = fake.namespaces.get(net.chain_id)
        if held:
            log = f"INVALID_ARGUMENT: the namespace is already {held!r}; it never changes"
            if already_done and already_done in log:
                return {}
            raise AppError("tx_rejected", log, status=422, details={"log": log})
        if getattr(fake, "fail_next_governance", None):
            fake.fail_next_governance = None
            fake.in_flight = args[0]
            raise AppError("commit_timeout", "no block in time", status=504, details={})
        fake.namespaces[net.chain_id] = args[0]
        return {"hash": "00" * 32}

    monkeypatch.setattr("deploy.chain.governance_tx", gtx)


def test_a_set_namespace_without_answer_that_committed_keeps_the_registry(
        owner, network, fake, monkeypatch):
    def gtx(net, chaincode, function, args, *, already_done=""):
        fake.namespaces[net.chain_id] = args[0]
        raise AppError("commit_timeout", "no block in time", status=504, details={})

    monkeypatch.setattr("deploy.chain.governance_tx", gtx)
    registry = services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                                     namespace="seoul")
    assert registry.namespace == "seoul" and DidRegistry.objects.get().namespace == "seoul"


# -- people whose account is deleted, or who leave -------------------------------------------
def test_deleting_a_person_never_makes_their_did_the_organisations(owner, network, registry,
                                                                   fake):
    org = org_did(owner, network)
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    mine = services.did_create(tenant=owner.tenant, actor=dev.user, network=network,
                               subject="me", custody="platform")
    dev.user.delete()  # before: IntegrityError (a second "organisation" DID)
    mine.refresh_from_db()
    assert mine.user_id is None and mine.subject == "person"
    assert selectors.organisation_did(tenant=owner.tenant).pk == org.pk
    res = client(owner).get(f"/api/v1/dids/{mine.pk}/")
    assert res.json()["subject"] == "me" and res.json()["person"] is None
    # nobody takes it over by rotating it; its admins may end it
    res = client(owner).post(f"/api/v1/dids/{mine.pk}/rotate/", {}, format="json")
    assert res.status_code == 403 and err(res) == "did_not_yours"
    res = client(owner).post(f"/api/v1/dids/{mine.pk}/deactivate/", {}, format="json")
    assert res.status_code == 200 and res.json()["status"] == "deactivated"


def test_the_did_of_a_member_who_left_is_ended_by_an_admin_not_rotated(owner, network,
                                                                      registry, fake):
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    mine = services.did_create(tenant=owner.tenant, actor=dev.user, network=network,
                               subject="me", custody="platform")
    colleague = MembershipFactory(tenant=owner.tenant, role="developer")
    res = client(owner).post(f"/api/v1/dids/{mine.pk}/deactivate/", {}, format="json")
    assert res.status_code == 403 and err(res) == "did_not_yours"  # still a member
    dev.delete()  # leaves the organisation
    for who in (owner, colleague):
        res = client(who).post(f"/api/v1/dids/{mine.pk}/rotate/", {}, format="json")
        assert res.status_code == 403, who
    res = client(colleague).post(f"/api/v1/dids/{mine.pk}/deactivate/", {}, format="json")
    assert res.status_code == 403  # admins only
    res = client(owner).post(f"/api/v1/dids/{mine.pk}/deactivate/", {}, format="json")
    assert res.status_code == 200 and res.json()["status"] == "deactivated"


def test_the_portal_offers_an_admin_only_the_deactivation_of_a_leavers_did(owner, network,
                                                                          registry, fake):
    from identity.tests.test_pages import signed_in

    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    mine = services.did_create(tenant=owner.tenant, actor=dev.user, network=network,
                               subject="me", custody="platform")
    dev.delete()
    html = signed_in(owner).get(f"/identity/{mine.pk}/").content.decode()
    assert "did-deactivate-form" in html and "did-rotate-form" not in html


# -- small-order keys ------------------------------------------------------------------------
@pytest.mark.parametrize("key", [
    "01" + "00" * 31,            # the identity point
    "00" * 32,                   # order 4
    "ec" + "ff" * 30 + "7f",     # order 2
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
])
def test_a_small_order_public_key_is_refused(owner, network, registry, fake, key):
    res = client(owner).post("/api/v1/dids/prepare/", {
        "network": str(network.pk), "subject": "me", "public_key": key}, format="json")
    assert res.status_code == 400 and err(res) == "invalid_public_key", res.content


def test_tokens_are_needed_with_deploy_for_the_organisations_did_prepare(owner, network,
                                                                        registry, fake):
    from tenants.services import token_create

    row = org_did(owner, network)
    _t, write = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                             name="writer", scopes=["read", "write"])
    res = token_client(write).post(f"/api/v1/dids/{row.pk}/prepare/", {"op": "deactivate"},
                                   format="json")
    assert res.status_code == 403 and err(res) == "insufficient_scope"
