"""The election pages with Django's test client, on a stand-in chain that applies the
voting contract's rules with the reference protocol (``fakechain``): the commission's
pages by role and tenant, bad input with stable codes, a whole election (trustee keys
posted through the trustee page, ballots cast through the public prepare/submit
endpoints with browser-like keys, shares posted, the result published by the server from
the chain), the results page with its bulletin board, search and verdict, and the record
download checked by the independent verifier.

What the browser computes (key shares, ballots, partial decryptions) is computed here with
``elections.protocol``, the reference ``voting.js`` follows byte for byte; the Chromium test
(tests/browser) runs the real script.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from deploy.tests.factories import MembershipFactory
from elections import protocol as P
from elections.tests.conftest import signed_in
from elections.verify import verify_record
from ledger.tx import Signer
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

QUESTIONS = ("Who chairs the council? [1]\n- Kim\n- Lee\n- Park\n\n"
             "Which parks get benches? [0-2]\n- North\n- South\n- River")


def stamp(seconds: int, zone=UTC) -> str:
    return datetime.fromtimestamp(seconds, tz=zone).strftime("%Y-%m-%dT%H:%M")


def create(client, deployment, chain, zone=UTC, **fields):
    data = {"election_id": "e1", "title": "Council 2027", "questions": QUESTIONS,
            "trustees": chain.roles["trustee"], "opens": stamp(chain.now - 120, zone),
            "closes": stamp(chain.now + 3600, zone), **fields}
    return client.post(f"/deployments/{deployment.pk}/elections/new/", data)


def url(deployment, tail=""):
    return f"/deployments/{deployment.pk}/elections/e1/{tail}"


def public(deployment, tail=""):
    return f"/p/{deployment.pk}/elections/e1/{tail}"


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- the browser's part, done with the reference protocol --------------------------------------
def post_trustee_key(client, deployment, chain, org):
    eh = chain.elections["e1"]["election"]["eh"]
    key = P.trustee_keygen(eh, org)
    posted = key.posted()
    response = client.post(url(deployment, "trustee/"), {
        "action": "key", "public": posted["public"], "proof": json.dumps(posted["proof"]),
        "saved": "on"})
    return key, response


def cast(deployment, chain, voter: Signer, choices, client=None):
    """What the voter page does: encrypt, prepare, check, sign, submit."""
    client = client or Client()
    e = chain.elections["e1"]
    el = e["election"]
    sealed = P.encrypt_ballot(el["eh"], voter.public_key_hex, e["joint"], P.questions_of(el),
                              choices)
    args = {"id": "e1", "ballot": sealed.ballot}
    prepared = client.post(f"/p/{deployment.pk}/prepare/", json.dumps({
        "function": "cast", "args": args, "public_key": voter.public_key_hex}),
        content_type="application/json")
    assert prepared.status_code == 200, prepared.content
    body = prepared.json()["body"]
    signature = voter.sign(base64.b64decode(prepared.json()["sign_bytes"])).hex()
    response = client.post(f"/p/{deployment.pk}/submit/", json.dumps(
        {"body": body, "signature": signature}), content_type="application/json")
    return sealed, response


def decrypt(client, deployment, chain, org, key):
    e = chain.elections["e1"]
    shares = P.partial_decrypt(e["election"]["eh"], org, key, e["tally"], e["board"])
    return client.post(url(deployment, "trustee/"), {"action": "decryption",
                                                     "shares": json.dumps(shares)})


# --- the commission's pages ----------------------------------------------------------------
@pytest.mark.parametrize("lang, words", [
    ("en", ["Elections", "Council 2027", "Being set up", "Trustees", "Add voters", "UTC"]),
    # (the new Korean texts arrive with the compiled catalogue; the date order is here now)
    ("ko", ['<html lang="ko">', "Council 2027", "KST"]),
])
def test_the_commission_creates_an_election_and_reads_it_in_its_language(
        owner, deployment, chain, lang, words):
    client = signed_in(owner, lang)
    # Korean readers enter (and read) Korea's time, others UTC
    zone = ZoneInfo("Asia/Seoul") if lang == "ko" else UTC
    response = create(client, deployment, chain, zone=zone)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == url(deployment)
    function, caller, args = chain.sent[-1]
    assert (function, caller) == ("create_election", owner.tenant.slug)
    assert args["questions"][0] == {
        "id": "q1", "title": "Who chairs the council?", "min_choices": 1, "max_choices": 1,
        "options": [{"id": "o1", "title": "Kim"}, {"id": "o2", "title": "Lee"},
                    {"id": "o3", "title": "Park"}]}
    assert (args["questions"][1]["min_choices"], args["questions"][1]["max_choices"]) == (0, 2)
    # the same instant whatever the reader's zone (minutes: the form has no seconds)
    assert args["opens_at"] == (chain.now - 120) // 60 * 60
    assert AuditEvent.objects.filter(action="election.create", tenant=owner.tenant).exists()
    body = client.get(url(deployment)).content.decode()
    for word in words:
        assert word in body, word
    opens = datetime.fromtimestamp(args["opens_at"], tz=zone)
    if lang == "ko":  # year first, 24-hour clock, in Korea's time
        assert f"{opens.year}년 {opens.month}월 {opens.day}일 {opens:%H:%M}" in body
    else:
        assert f'<time datetime="{opens.isoformat()}">' in body
    listing = client.get(f"/deployments/{deployment.pk}/elections/").content.decode()
    assert 'data-election="e1"' in listing


def test_a_viewer_reads_but_creates_nothing(owner, deployment, chain):
    create(signed_in(owner), deployment, chain)
    viewer = signed_in(MembershipFactory(tenant=owner.tenant, role="viewer"))
    listing = viewer.get(f"/deployments/{deployment.pk}/elections/").content.decode()
    assert "e1" in listing and 'id="new-election"' not in listing
    detail = viewer.get(url(deployment)).content.decode()
    assert 'id="voters-form"' not in detail and 'id="open-button"' not in detail
    sent = len(chain.sent)
    assert create(viewer, deployment, chain, election_id="e2").status_code == 404
    assert viewer.post(url(deployment, "open/")).status_code == 404
    assert viewer.post(url(deployment, "voters/"), {"voters": "ab" * 32}).status_code == 404
    assert viewer.post(url(deployment, "trustee/"), {"action": "key"}).status_code == 404
    assert len(chain.sent) == sent


def test_an_organisation_without_the_commission_role_only_reads(owner, partner, deployment,
                                                                 chain):
    create(signed_in(owner), deployment, chain)
    client = signed_in(partner)
    assert client.get(url(deployment)).status_code == 200
    assert client.get(f"/deployments/{deployment.pk}/elections/new/").status_code == 404
    assert client.post(url(deployment, "publish/")).status_code == 404


def test_another_tenant_gets_404_everywhere(owner, deployment, chain):
    create(signed_in(owner), deployment, chain)
    stranger = signed_in(MembershipFactory(role="owner"))
    reads = chain.reads
    for tail in ("", "trustee/"):
        assert stranger.get(url(deployment, tail)).status_code == 404
    assert stranger.get(f"/deployments/{deployment.pk}/elections/").status_code == 404
    assert stranger.get(f"/deployments/{deployment.pk}/elections/new/").status_code == 404
    for tail in ("voters/", "open/", "close/", "publish/", "trustee/"):
        assert stranger.post(url(deployment, tail)).status_code == 404
    assert chain.reads == reads and len(chain.sent) == 1


def test_a_deployment_of_another_bundle_has_no_election_pages(owner, deployment, chain):
    manifest = dict(deployment.active.manifest)
    manifest["functions"] = [f for f in manifest["functions"] if f["name"] != "cast"]
    deployment.active.manifest = manifest
    deployment.active.save()
    assert signed_in(owner).get(f"/deployments/{deployment.pk}/elections/").status_code == 404
    assert Client().get(public(deployment)).status_code == 404


@pytest.mark.parametrize("fields, said", [
    ({"questions": "Only a title [1]\n- one"}, "Question 1 needs 2 to 20 options."),
    ({"questions": "Q [3]\n- a\n- b"}, "Question 1: the number of choices"),
    ({"questions": "\n".join(["Q [1]"] + [f"- o{i}" for i in range(20)]
                             + [""] + ["R [0-20]"] + [f"- p{i}" for i in range(20)]
                             + [""] + ["S [0-20]"] + [f"- s{i}" for i in range(20)]
                             + [""] + ["T [0-20]"] + [f"- t{i}" for i in range(20)]
                             + [""] + ["U [0-20]"] + [f"- u{i}" for i in range(20)]
                             + [""] + ["W [0-20]"] + [f"- w{i}" for i in range(20)])},
     "too large for the chain to check in one transaction (120 options in all"),
    ({"closes": "2001-01-01T00:00"}, "Voting must close after it opens, and in the future."),
    ({"election_id": "new"}, "An election id is 1 to 40 letters"),
])
def test_a_bad_election_is_refused_with_its_reason_and_nothing_is_sent(
        owner, deployment, chain, fields, said):
    response = create(signed_in(owner), deployment, chain, **fields)
    assert response.status_code == 400
    assert said in response.content.decode()
    assert chain.sent == []


@pytest.mark.parametrize("fields", [
    {"election_id": "bad id!"}, {"trustees": ["nobody"]}, {"opens": "tomorrow"},
    {"title": "evil\u202etext"}, {"questions": "Q\u200b [1]\n- a\n- b"}, {"questions": ""},
])
def test_malformed_fields_are_field_errors(owner, deployment, chain, fields):
    response = create(signed_in(owner), deployment, chain, **fields)
    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert chain.sent == []


def test_the_roll_goes_in_batches_of_500_and_bad_lines_are_refused(owner, deployment, chain):
    client = signed_in(owner)
    create(client, deployment, chain)
    voters = [f"{n:064x}" for n in range(1, 1201)]
    pasted = "\n".join(voters[:700] + ["", "# a comment", voters[0].upper()] + voters[700:])
    response = client.post(url(deployment, "voters/"), {"voters": pasted}, follow=True)
    assert "1200 voters added to the roll (0 were on it already), in 3 transaction(s)." \
        in messages_of(response)
    assert [len(a["voters"]) for f, _c, a in chain.sent if f == "add_voters"] == [500, 500, 200]
    assert chain.elections["e1"]["roll"] == voters
    assert AuditEvent.objects.filter(action="election.voters_add").count() == 3
    sent = len(chain.sent)
    response = client.post(url(deployment, "voters/"), {
        "voters": f"{voters[0]}\nnot-a-key\ndid:baas:city:abc"}, follow=True)
    assert "Line 2 is neither a public key" in messages_of(response)
    assert len(chain.sent) == sent
    response = client.post(url(deployment, "voters/"), {
        "voters": f"{voters[0]}\n{'ef' * 32}"}, follow=True)
    assert "1 voters added to the roll (1 were on it already)" in messages_of(response)


def test_a_chain_refusal_reads_as_the_contracts_reason(owner, deployment, chain):
    client = signed_in(owner)
    create(client, deployment, chain)
    response = client.post(url(deployment, "open/"), follow=True)
    assert "The chain refused it: waiting for trustee keys" in messages_of(response)
    assert "FinalizeBlock" not in messages_of(response)
    response = client.post(url(deployment, "publish/"), follow=True)
    assert "Results are published once voting has closed." in messages_of(response)


def test_the_trustee_page_refuses_a_wrong_proof_and_a_non_trustee(owner, partner, deployment,
                                                                  chain):
    client = signed_in(owner)
    create(client, deployment, chain, trustees=[owner.tenant.slug])
    body = client.get(url(deployment, "trustee/")).content.decode()
    assert 'id="make-key"' in body and "never sent to the platform" in body
    eh = chain.elections["e1"]["election"]["eh"]
    # a key share proven for another organisation does not verify for this one
    other = P.trustee_keygen(eh, partner.tenant.slug).posted()
    response = client.post(url(deployment, "trustee/"), {
        "action": "key", "public": other["public"], "proof": json.dumps(other["proof"]),
        "saved": "on"})
    assert response.status_code == 400
    assert "proof does not verify" in response.content.decode()
    response = client.post(url(deployment, "trustee/"), {
        "action": "key", "public": "zz", "proof": "[", "saved": "on"})
    assert response.status_code == 400
    assert chain.sent[-1][0] == "create_election"
    # the partner's organisation holds the trustee role but is not in this election
    page = signed_in(partner).get(url(deployment, "trustee/"))
    assert 'id="not-trustee"' in page.content.decode() and 'id="make-key"' not in \
        page.content.decode()
    assert signed_in(partner).post(url(deployment, "trustee/"), {
        "action": "key", **other, "proof": json.dumps(other["proof"]),
        "saved": "on"}).status_code == 404


# --- a whole election -------------------------------------------------------------------------
@pytest.fixture
def opened(owner, partner, deployment, chain):
    """e1 with two trustees' keys, four voters on the roll, open."""
    commission, trustee2 = signed_in(owner), signed_in(partner)
    assert create(commission, deployment, chain).status_code == 302
    keys = {}
    for client, org in ((commission, owner.tenant.slug), (trustee2, partner.tenant.slug)):
        keys[org], response = post_trustee_key(client, deployment, chain, org)
        assert response.status_code == 302, response.content.decode()[:3000]
    voters = [Signer.generate() for _ in range(4)]
    commission.post(url(deployment, "voters/"),
                    {"voters": "\n".join(v.public_key_hex for v in voters)})
    response = commission.post(url(deployment, "open/"), follow=True)
    assert "Voting is open." in messages_of(response)
    return {"commission": commission, "trustee2": trustee2, "keys": keys, "voters": voters}


def test_a_whole_election_through_the_pages(owner, partner, deployment, chain, opened):
    commission = opened["commission"]
    picks = [[[1, 0, 0], [1, 1, 0]], [[0, 1, 0], [0, 0, 0]], [[1, 0, 0], [0, 1, 1]]]
    trackers = []
    for voter, choices in zip(opened["voters"], picks, strict=False):
        sealed, response = cast(deployment, chain, voter, choices)
        assert response.status_code == 200, response.content
        trackers.append(sealed.tracker)
    # one ballot per voter; a key not on the roll is refused, in the contract's words
    _sealed, again = cast(deployment, chain, opened["voters"][0], picks[1])
    assert again.status_code == 422 and again.json()["error"]["message"] == \
        "The transaction was refused: already voted"
    _sealed, stranger = cast(deployment, chain, Signer.generate(), picks[1])
    assert "voter not on the roll" in stranger.json()["error"]["message"]

    # the voter finds the tracker on the board
    page = Client().get(public(deployment, "results/"), {"tracker": trackers[1].upper()})
    body = page.content.decode()
    assert page.status_code == 200 and 'id="tracker-found"' in body
    assert all(f'data-tracker="{t}"' in body for t in trackers)
    assert 'data-valid="true"' in body  # open: everything so far verifies
    missing = Client().get(public(deployment, "results/"), {"tracker": "ab" * 32})
    assert 'id="tracker-missing"' in missing.content.decode()

    # close (the closing time has come), each trustee decrypts, the commission publishes
    chain.now += 7200
    commission.post(url(deployment, "close/"))
    assert chain.elections["e1"]["state"] == "closed"
    response = commission.post(url(deployment, "publish/"), follow=True)
    assert "Waiting for the partial decryption of" in messages_of(response)
    for client, org in ((commission, owner.tenant.slug), (opened["trustee2"],
                                                          partner.tenant.slug)):
        assert decrypt(client, deployment, chain, org, opened["keys"][org]).status_code == 302
    response = commission.post(url(deployment, "publish/"), follow=True)
    assert "The result is published." in messages_of(response)
    expected = [[sum(p[q][o] for p in picks) for o in range(3)] for q in range(2)]
    assert chain.elections["e1"]["result"] == expected == [[2, 1, 0], [1, 2, 1]]
    assert AuditEvent.objects.filter(action="election.publish").exists()

    # the results page shows the counts and the verifier's verdict on the record
    body = Client(HTTP_ACCEPT_LANGUAGE="ko").get(public(deployment, "results/")).content.decode()
    assert 'data-valid="true"' in body and 'lang="ko"' in body
    assert '<td class="count">2</td>' in body
    detail = commission.get(url(deployment)).content.decode()
    assert 'id="results"' in detail and 'data-valid="true"' in detail

    # the record download is what the independent verifier accepts
    record = Client().get(public(deployment, "record.json"))
    assert record.status_code == 200
    assert record["Content-Disposition"] == 'attachment; filename="election-e1-record.json"'
    data = json.loads(record.content)
    assert data["format"] == "baas-election-record/1" and len(data["ballots"]) == 3
    assert data["result"] == expected
    verify_record(data)  # raises Invalid on any failure


def test_a_wrong_partial_decryption_is_refused_before_it_is_sent(owner, deployment, chain,
                                                                 opened):
    cast(deployment, chain, opened["voters"][0], [[1, 0, 0], [0, 0, 0]])
    chain.now += 7200
    opened["commission"].post(url(deployment, "close/"))
    org = owner.tenant.slug
    e = chain.elections["e1"]
    wrong = P.trustee_keygen(e["election"]["eh"], org)  # not the posted key's secret
    sent = len(chain.sent)
    response = decrypt(opened["commission"], deployment, chain, org, wrong)
    assert response.status_code == 400
    assert "The partial decryption does not verify" in response.content.decode()
    response = opened["commission"].post(url(deployment, "trustee/"),
                                         {"action": "decryption", "shares": "{not json"})
    assert response.status_code == 400
    deep = "[" * 99_999 + "]" * 99_999  # within the field's length; the parser recurses
    response = opened["commission"].post(url(deployment, "trustee/"),
                                         {"action": "decryption", "shares": deep})
    assert response.status_code == 400
    assert "The partial decryption is not readable." in response.content.decode()
    assert len(chain.sent) == sent


def test_the_verdict_is_cached_per_election_state_and_catches_tampering(
        deployment, chain, opened, monkeypatch):
    from elections import selectors

    cast(deployment, chain, opened["voters"][0], [[1, 0, 0], [0, 0, 0]])
    runs = []
    real = selectors.verify_record
    monkeypatch.setattr(selectors, "verify_record", lambda r: runs.append(1) or real(r))
    first = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert first.valid and first.ballots == 1 and runs == [1]
    selectors.election_verdict(deployment=deployment, election_id="e1")
    assert runs == [1]  # same height
    chain.block += 3  # empty blocks: a new height, the same election
    reads = chain.reads
    again = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert again.valid and runs == [1]
    assert chain.reads - reads == 1  # get_election only: no ballot read again
    body = Client().get(public(deployment, "results/")).content.decode()
    assert 'data-valid="true"' in body and runs == [1]
    # a ballot changed on the board, then another cast: a new state, checked again, and the
    # changed ballot is found out
    entry = chain.elections["e1"]["ballots"][0]
    entry["ballot"]["answers"][0]["choices"][0]["proof"][0][0] = "00" * 32
    cast(deployment, chain, opened["voters"][1], [[0, 1, 0], [0, 0, 0]])
    bad = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert runs == [1, 1] and not bad.valid and bad.ballots == 2
    assert "ballot 1" in bad.message and "proof invalid for q0/o0" in bad.message
    body = Client().get(public(deployment, "results/")).content.decode()
    assert 'data-valid="false"' in body and "proof invalid for q0/o0" in body


def test_one_request_verifies_and_the_others_do_not_pile_up(deployment, chain, opened,
                                                            monkeypatch):
    from django.core.cache import cache

    from elections import selectors

    runs = []
    real = selectors.verify_record
    monkeypatch.setattr(selectors, "verify_record", lambda r: runs.append(1) or real(r))
    cache.clear()  # (the fixture's last page view verified the open election)
    lock = selectors._key("verdict-lock", deployment, "e1", "")
    # another request is verifying and no verdict exists yet: "in progress", nothing read
    assert cache.add(lock, 1, 60)
    reads = chain.reads
    pending = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert pending.pending and runs == [] and chain.reads - reads == 1
    body = Client().get(public(deployment, "results/")).content.decode()
    assert 'data-valid="pending"' in body and "The record is being verified" in body
    cache.delete(lock)
    first = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert first.valid and not first.pending and runs == [1]
    assert cache.get(lock) is None  # released
    # a new ballot while another request verifies: the last verdict, marked stale
    cast(deployment, chain, opened["voters"][0], [[1, 0, 0], [0, 0, 0]])
    assert cache.add(lock, 1, 60)
    stale = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert stale.valid and stale.stale and stale.ballots == 0 and runs == [1]
    body = Client().get(public(deployment, "results/")).content.decode()
    assert 'data-stale="true"' in body and "A newer record is being verified" in body
    cache.delete(lock)
    fresh = selectors.election_verdict(deployment=deployment, election_id="e1")
    assert fresh.valid and not fresh.stale and fresh.ballots == 1 and runs == [1, 1]


def test_a_roll_above_1000_voters_is_read_with_list_voters_and_verifies(
        deployment, chain, opened):
    # the contract's election_record leaves the roll out above 1,000 voters (roll: null)
    e = chain.elections["e1"]
    e["roll"].extend(f"{i:064x}" for i in range(1, 1200))
    assert chain.read_election_record(id="e1")["roll"] is None
    cast(deployment, chain, opened["voters"][0], [[1, 0, 0], [0, 0, 0]])
    body = Client().get(public(deployment, "results/")).content.decode()
    assert 'data-valid="true"' in body
    data = json.loads(Client().get(public(deployment, "record.json")).content)
    assert sorted(data["roll"]) == sorted(e["roll"]) and len(data["roll"]) == 1203
    verify_record(data)


# --- the public pages ---------------------------------------------------------------------------
def test_the_voter_page_needs_no_login_and_carries_what_the_browser_needs(deployment, chain,
                                                                          opened):
    response = Client(HTTP_ACCEPT_LANGUAGE="ko").get(public(deployment))
    body = response.content.decode()
    assert response.status_code == 200 and "csrftoken" in response.cookies
    assert 'id="voter-id"' in body and "elections/pages.js" in body and "<script>" not in body
    assert 'type="module"' in body
    data = response.context["ballot_data"]
    e = chain.elections["e1"]
    assert data["eh"] == e["election"]["eh"] and data["joint_key"] == e["joint"].hex()
    # what the browser recomputes eh from (pages.js checkedElection), not trusting data["eh"]
    assert data["tx_hash"] == e["election"]["tx_hash"]
    assert set(data["definition"]) == {"id", "title", "questions", "trustees", "opens_at",
                                       "closes_at"}
    assert P.election_hash(data["tx_hash"], data["definition"]) == data["eh"]
    assert data["questions"] == [{"options": 3, "min_choices": 1, "max_choices": 1},
                                 {"options": 3, "min_choices": 0, "max_choices": 2}]
    assert f'data-prepare-url="/p/{deployment.pk}/prepare/"' in body


def test_the_voter_page_after_the_closing_time_offers_no_ballot(deployment, chain, opened):
    assert 'id="ballot-form"' in Client().get(public(deployment)).content.decode()
    chain.elections["e1"]["election"]["closes_at"] = chain.now - 1  # time is up, still open
    body = Client().get(public(deployment)).content.decode()
    assert 'id="ballot-form"' not in body and 'id="not-open"' in body


def test_the_voter_page_before_opening_offers_no_ballot(owner, deployment, chain):
    create(signed_in(owner), deployment, chain)
    body = Client().get(public(deployment)).content.decode()
    assert 'id="not-open"' in body and 'id="ballot-form"' not in body
    assert 'id="voter-id"' in body  # the voter can copy the id to register


@pytest.mark.parametrize("query, code", [
    ({"tracker": "xyz"}, 400), ({"tracker": "ab" * 33}, 400), ({"after": "abc"}, 400),
    ({"after": "9" * 40}, 400), ({"after": "\u00b2"}, 400), ({"after": "\u2460"}, 400),
    ({"after": "\u0663"}, 400), ({"after": "9" * 11}, 400), ({"after": "9" * 12}, 400),
    ({"after": "9999999999"}, 400), ({"after": "1\n"}, 400), ({"after": ""}, 400),
    ({"after": "9999999998"}, 200)])
def test_bad_board_queries_are_400_not_500(deployment, chain, opened, query, code):
    response = Client().get(public(deployment, "results/"), query)
    assert response.status_code == code
    assert ('id="problem"' in response.content.decode()) == (code == 400)


def test_public_pages_of_unknown_or_private_elections_are_404(deployment, chain, opened):
    for tail in ("", "results/", "record.json"):
        assert Client().get(f"/p/{deployment.pk}/elections/nope/{tail}").status_code == 404
        assert Client().get(f"/p/{deployment.pk}/elections/bad%20id/{tail}").status_code == 404
    deployment.network.public_access = False
    deployment.network.save()
    for tail in ("", "results/", "record.json"):
        assert Client().get(public(deployment, tail)).status_code == 404


def test_the_record_download_and_results_are_rate_limited(deployment, chain, opened, settings):
    settings.BAAS_PUBLIC_PAGE_THROTTLE_RATE = "2/minute"
    client = Client()
    assert client.get(public(deployment, "record.json")).status_code == 200
    assert client.get(public(deployment, "results/")).status_code == 200
    refused = client.get(public(deployment, "record.json"))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0


def test_no_node_answering_is_a_503_not_a_500(owner, deployment, chain, opened, monkeypatch):
    from baas.errors import AppError

    def down(network, call, **kwargs):
        raise AppError("gateway_unavailable", "No node of this network answered.", status=503)

    monkeypatch.setattr("elections.selectors.gateway.with_failover", down)
    response = Client().get(public(deployment, "record.json"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "gateway_unavailable"
    for client, path in ((Client(), public(deployment)), (Client(), public(deployment, "results/")),
                         (signed_in(owner), url(deployment)),
                         (signed_in(owner), url(deployment, "trustee/"))):
        response = client.get(path)
        assert response.status_code == 503, path
        assert 'data-code="gateway_unavailable"' in response.content.decode()
    listing = signed_in(owner).get(f"/deployments/{deployment.pk}/elections/")
    assert "No node of this network answered." in listing.content.decode()


def test_a_trustee_post_without_a_known_action_is_a_400(owner, deployment, chain):
    client = signed_in(owner)
    create(client, deployment, chain)
    sent = len(chain.sent)
    assert client.post(url(deployment, "trustee/"), {"action": "steal"}).status_code == 400
    assert client.post(url(deployment, "trustee/"), {}).status_code == 400
    assert len(chain.sent) == sent


def test_the_public_list_and_the_deployment_pages_lead_to_the_elections(owner, deployment,
                                                                        chain):
    create(signed_in(owner), deployment, chain)
    body = Client().get(f"/p/{deployment.pk}/elections/").content.decode()
    assert f'href="/p/{deployment.pk}/elections/e1/"' in body
    assert f'href="/p/{deployment.pk}/elections/e1/results/"' in body
    page = signed_in(owner).get(f"/deployments/{deployment.pk}/").content.decode()
    assert f'href="/deployments/{deployment.pk}/elections/"' in page
    public_page = Client().get(f"/p/{deployment.pk}/").content.decode()
    assert f'href="/p/{deployment.pk}/elections/"' in public_page


@pytest.mark.parametrize("answer", [7, {"voters": []}, "abc", None])
def test_a_custom_bundles_malformed_answers_never_give_a_500(deployment, chain, opened,
                                                              monkeypatch, answer):
    """A deployment may run any bundle that names the voting functions; whatever its
    list functions answer, the public pages answer 200."""
    e = chain.elections["e1"]
    e["roll"].extend(f"{i:064x}" for i in range(1, 1200))  # the roll is read by pages
    for function in ("list_voters", "list_ballots", "list_elections"):
        monkeypatch.setattr(chain, "read_" + function, lambda **_: answer)
    from django.core.cache import cache

    cache.clear()
    for path in ("results/", "record.json", "", "results/?after=3"):
        assert Client().get(public(deployment, path)).status_code == 200, path


def test_a_verification_that_outlived_its_lock_leaves_the_next_ones_lock(
        deployment, chain, opened, monkeypatch):
    from django.core.cache import cache

    from elections import selectors

    cache.clear()
    lock = selectors._key("verdict-lock", deployment, "e1", "")
    real = selectors.verify_record

    def slow(record):
        # this verification's lock expired meanwhile and another request took it
        cache.delete(lock)
        assert cache.add(lock, "the-next-request", 60)
        return real(record)

    monkeypatch.setattr(selectors, "verify_record", slow)
    assert selectors.election_verdict(deployment=deployment, election_id="e1").valid
    assert cache.get(lock) == "the-next-request"
