"""_did system chaincode on the in-process chain: the did:baas lifecycle, every refusal
(with nothing written), version selection, state proofs and the namespace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import canonical
from ledger.errors import Code
from ledger.state import verify_proof
from ledger.system import did as did_cc
from ledger.testing import BLOCK_NS, Chain, seeded, start_chain
from ledger.tests.did_helpers import (
    NAMESPACE,
    create_op,
    did_of,
    key_state,
    run,
    signed,
    with_namespace,
)

OWNER, NEXT = seeded("did-owner"), seeded("did-next")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = with_namespace(start_chain(tmp_path / "app"))
    yield c
    c.app.close()


def created(chain: Chain, signer=OWNER) -> str:
    result = run(chain, "create", create_op(signer))
    assert result.code == 0, result.log
    return did_of(signer)


def refused(chain: Chain, function: str, op, code: Code, words: str = "",
            signer: str = "user1") -> None:
    """The op fails with ``code`` and the state (hence the app hash) does not change."""
    before = chain.app.store.root()
    block = chain.block(chain.tx(signer, "_did", function, [op]))
    result = block.tx_results[0]
    assert result.code == code, result.log
    assert words in result.log
    assert block.app_hash == before


def resolve(chain: Chain, did: str, **kw):
    return chain.call("_did", "resolve", {"did": did, **kw})


def test_create_rotate_deactivate_and_resolve_every_version(chain: Chain) -> None:
    did = did_of(OWNER)
    result = run(chain, "create", create_op(OWNER))
    assert result.code == 0, result.log
    events = {e.type: dict(e.attributes) for e in result.events}
    assert events["did_created"] == {"did": did, "version": "1", "chaincode": "_did"}
    v1 = chain.value("_did", "resolve", [did])
    assert v1 == {**json.loads(result.data), "versions": 1}
    assert (v1["namespace"], v1["version"], v1["deactivated"], v1["next_updated"]) == \
        (NAMESPACE, 1, False, None)
    assert v1["state"] == key_state(OWNER) and v1["created"] == v1["updated"]
    assert v1["state_key"] == f"did/{did}/v/0000000001" and v1["height"] == chain.height
    chain.block()  # a block in between: version 2 gets a later block time

    # rotate: key-1 is replaced by another key under a new id
    rotated = key_state(NEXT, "key-2")
    result = run(chain, "update", signed(OWNER, did, "update", 1, rotated))
    assert result.code == 0, result.log
    assert [dict(e.attributes) for e in result.events if e.type == "did_updated"] == \
        [{"did": did, "version": "2", "chaincode": "_did"}]
    v2 = chain.value("_did", "resolve", [did])
    assert (v2["version"], v2["versions"], v2["state"]) == (2, 2, rotated)
    assert v2["created"] == v1["created"] and v2["updated"] == v1["updated"] + 2 * BLOCK_NS

    # earlier versions by id and by time; next_updated links them
    old = chain.value("_did", "resolve", {"did": did, "version_id": 1})
    assert old == {**v1, "versions": 2, "next_updated": v2["updated"]}
    for at, version in ((v1["updated"], 1), (v2["updated"] - 1, 1), (v2["updated"], 2),
                        (v2["updated"] + 10**12, 2)):
        picked = chain.value("_did", "resolve", {"did": did, "version_time": at})
        assert picked["version"] == version, at
    assert resolve(chain, did, version_time=v1["created"] - 1).code == Code.NOT_FOUND
    assert resolve(chain, did, version_id=3).code == Code.NOT_FOUND
    assert resolve(chain, did_of(NEXT)).code == Code.NOT_FOUND  # never created

    refused(chain, "deactivate", signed(OWNER, did, "deactivate", 2, None), Code.UNAUTHORIZED,
            "not a capabilityInvocation key")  # key-1 was rotated out
    # deactivate (signed by the new key): no state, versions stay readable
    result = run(chain, "deactivate", signed(NEXT, did, "deactivate", 2, None, "key-2"))
    assert result.code == 0, result.log
    assert [e.type for e in result.events][1:] == ["did_deactivated"]
    v3 = chain.value("_did", "resolve", [did])
    assert (v3["version"], v3["state"], v3["deactivated"]) == (3, None, True)
    assert chain.value("_did", "resolve", {"did": did, "version_id": 2})["state"] == rotated
    assert chain.value("_did", "config") == {"namespace": NAMESPACE, "dids": 1}


def test_signature_refusals_leave_the_did_unchanged(chain: Chain) -> None:
    did = created(chain)
    stranger = seeded("stranger")
    state = key_state(OWNER, service=[{"id": "home", "type": "LinkedDomains",
                                       "serviceEndpoint": "https://example.org/"}])
    update = signed(OWNER, did, "update", 1, state)
    refused(chain, "update", {**update, "sig": signed(stranger, did, "update", 1, state)["sig"]},
            Code.UNAUTHORIZED, "is not a signature")
    refused(chain, "update", signed(OWNER, did, "update", 1, state, chain_id="other-chain"),
            Code.UNAUTHORIZED, "is not a signature")  # replay from another network
    refused(chain, "update", signed(OWNER, did, "update", 1, state, key="nope"),
            Code.UNAUTHORIZED, "not a capabilityInvocation key")
    refused(chain, "update", {**update, "state": key_state(OWNER)}, Code.UNAUTHORIZED)
    assert run(chain, "update", update).code == 0
    # the same op again (a new tx): prev is no longer the current version
    refused(chain, "update", update, Code.INVALID_ARGUMENT, "prev 1 is not the current")
    refused(chain, "update", signed(OWNER, did, "update", 5, state), Code.INVALID_ARGUMENT,
            "prev 5")
    refused(chain, "update", signed(OWNER, did, "create", 2, state), Code.INVALID_ARGUMENT,
            '"op": "update"')
    refused(chain, "update", signed(OWNER, did_of(stranger), "update", 2, state),
            Code.NOT_FOUND)

    # rotation: the rotated-out key (same id, other key) cannot sign any more
    rotated = key_state(NEXT)
    assert run(chain, "update", signed(OWNER, did, "update", 2, rotated)).code == 0
    refused(chain, "update", signed(OWNER, did, "update", 3, state), Code.UNAUTHORIZED)
    refused(chain, "deactivate", signed(OWNER, did, "deactivate", 3, None),
            Code.UNAUTHORIZED)
    # a key that is in the state but not in capabilityInvocation does not control it
    both = {**rotated, "verificationMethod": [*rotated["verificationMethod"], {
        "id": "auth", "type": "Ed25519", "publicKey": OWNER.public_key_hex}],
        "authentication": ["auth"]}
    assert run(chain, "update", signed(NEXT, did, "update", 3, both)).code == 0
    refused(chain, "update", signed(OWNER, did, "update", 4, state, key="auth"),
            Code.UNAUTHORIZED, "not a capabilityInvocation key")
    assert resolve(chain, did).code == 0
    assert chain.value("_did", "resolve", [did])["version"] == 4


def test_nothing_applies_after_deactivation_and_suffixes_are_never_reused(
        chain: Chain) -> None:
    did = created(chain)
    refused(chain, "create", create_op(OWNER), Code.INVALID_ARGUMENT, "exists")
    refused(chain, "deactivate", {**signed(OWNER, did, "deactivate", 1, None),
                                  "state": key_state(OWNER)}, Code.INVALID_ARGUMENT)
    assert run(chain, "deactivate", signed(OWNER, did, "deactivate", 1, None)).code == 0
    refused(chain, "update", signed(OWNER, did, "update", 2, key_state(OWNER)),
            Code.INVALID_ARGUMENT, "deactivated")
    refused(chain, "deactivate", signed(OWNER, did, "deactivate", 2, None),
            Code.INVALID_ARGUMENT, "deactivated")
    refused(chain, "create", create_op(OWNER), Code.INVALID_ARGUMENT, "never reused")


def test_squatting_and_malformed_ops_are_refused(chain: Chain) -> None:
    squatter, victim = seeded("squatter"), seeded("victim")
    # a suffix that is not derived from the signing key, properly signed by that key
    op = signed(squatter, did_of(victim), "create", 0, key_state(squatter))
    refused(chain, "create", op, Code.UNAUTHORIZED, "derived")
    own = create_op(squatter)
    refused(chain, "create", {**own, "prev": 1}, Code.INVALID_ARGUMENT, "prev must be 0")
    refused(chain, "create", {**own, "extra": 1}, Code.INVALID_ARGUMENT, "exactly the keys")
    refused(chain, "create", {**own, "did": own["did"].upper()}, Code.INVALID_ARGUMENT)
    refused(chain, "create", {**own, "sig": own["sig"][:-2]}, Code.INVALID_ARGUMENT)
    refused(chain, "create", {**own, "key": "a b"}, Code.INVALID_ARGUMENT)
    refused(chain, "create", {**own, "did": own["did"] + "\n"}, Code.INVALID_ARGUMENT)
    refused(chain, "create", {**own, "prev": True}, Code.INVALID_ARGUMENT)
    refused(chain, "create", "not an op", Code.INVALID_ARGUMENT)
    # the signing key must control the new DID: listed in its capabilityInvocation
    state = {**key_state(squatter), "capabilityInvocation": ["key-2"],
             "verificationMethod": [*key_state(squatter)["verificationMethod"],
                                    {"id": "key-2", "type": "Ed25519",
                                     "publicKey": victim.public_key_hex}]}
    refused(chain, "create", create_op(squatter, state), Code.UNAUTHORIZED,
            "not a capabilityInvocation key")
    assert chain.value("_did", "config")["dids"] == 0


def bad_states() -> list[tuple[str, dict, Code, str]]:
    key = key_state(OWNER)
    method = key["verificationMethod"][0]
    x25519 = {"id": "agree-1", "type": "X25519", "publicKey": "11" * 32}
    big = [{"id": f"s{i}", "type": "LinkedDomains",
            "serviceEndpoint": "https://example.org/" + "a" * 480} for i in range(16)]
    return [
        ("oversized", {**key, "service": big}, Code.RESOURCE_LIMIT, "at most 8192"),
        ("unknown key", {**key, "controller": []}, Code.INVALID_ARGUMENT, "unknown keys"),
        ("no methods", {**key, "verificationMethod": []}, Code.INVALID_ARGUMENT,
         "at least one"),
        ("off curve", {**key, "verificationMethod": [{**method, "publicKey": "02" + "00" * 31}]},
         Code.INVALID_ARGUMENT, "not a usable Ed25519 key"),
        ("small order", {**key, "verificationMethod": [{**method, "publicKey": "01" + "00" * 31}]},
         Code.INVALID_ARGUMENT, "small order"),
        ("upper hex", {**key, "verificationMethod": [
            {**method, "publicKey": OWNER.public_key_hex.upper()}]},
         Code.INVALID_ARGUMENT, "lower-case hex"),
        ("bad type", {**key, "verificationMethod": [{**method, "type": "RSA"}]},
         Code.INVALID_ARGUMENT, "Ed25519 or X25519"),
        ("list type", {**key, "verificationMethod": [{**method, "type": ["Ed25519"]}]},
         Code.INVALID_ARGUMENT, "Ed25519 or X25519"),
        ("bad id", {**key, "verificationMethod": [{**method, "id": "key 1"}]},
         Code.INVALID_ARGUMENT, "ids must match"),
        ("newline id", {**key, "verificationMethod": [{**method, "id": "key-1\n"}]},
         Code.INVALID_ARGUMENT, "ids must match"),
        ("duplicate id", {**key, "service": [{"id": "key-1", "type": "T",
                                              "serviceEndpoint": "https://a.example/"}]},
         Code.INVALID_ARGUMENT, "unique"),
        ("unknown ref", {**key, "assertionMethod": ["key-9"]}, Code.INVALID_ARGUMENT,
         "no verification method"),
        ("X25519 signs", {**key, "verificationMethod": [method, x25519],
                          "authentication": ["agree-1"]}, Code.INVALID_ARGUMENT, "X25519"),
        ("Ed25519 agrees", {**key, "keyAgreement": ["key-1"]}, Code.INVALID_ARGUMENT, "X25519"),
        ("no controller", {**key, "capabilityInvocation": []}, Code.INVALID_ARGUMENT,
         "capabilityInvocation"),
        ("ftp endpoint", {**key, "service": [{"id": "s", "type": "T",
                                              "serviceEndpoint": "ftp://example.org/"}]},
         Code.INVALID_ARGUMENT, "serviceEndpoint"),
        ("space in url", {**key, "service": [{"id": "s", "type": "T",
                                              "serviceEndpoint": "https://a b/"}]},
         Code.INVALID_ARGUMENT, "serviceEndpoint"),
    ]


@pytest.mark.parametrize("name,state,code,words", bad_states(), ids=[c[0] for c in bad_states()])
def test_bad_states_are_refused_on_create_and_update(chain: Chain, name, state, code,
                                                     words) -> None:
    refused(chain, "create", create_op(OWNER, state), code, words)
    other = seeded("other")
    did = created(chain, other)
    refused(chain, "update", signed(other, did, "update", 1, state), code, words)


def test_valid_full_state_with_key_agreement_and_services(chain: Chain) -> None:
    state = {**key_state(OWNER), "capabilityDelegation": [],
             "verificationMethod": [*key_state(OWNER)["verificationMethod"],
                                    {"id": "agree-1", "type": "X25519",
                                     "publicKey": "11" * 32}],
             "keyAgreement": ["agree-1"],
             "service": [{"id": "files", "type": "LinkedDomains",
                          "serviceEndpoint": "http://example.org/files"}]}
    assert run(chain, "create", create_op(OWNER, state)).code == 0
    assert chain.value("_did", "resolve", [did_of(OWNER)])["state"] == state


def test_version_and_network_limits(chain: Chain, monkeypatch) -> None:
    monkeypatch.setattr(did_cc, "MAX_VERSIONS", 3)
    monkeypatch.setattr(did_cc, "MAX_DIDS", 1)
    did = created(chain)
    refused(chain, "create", create_op(NEXT), Code.RESOURCE_LIMIT, "DIDs")
    assert run(chain, "update", signed(OWNER, did, "update", 1, key_state(OWNER))).code == 0
    # the last version is kept for deactivation, so a DID can always be shut down
    refused(chain, "update", signed(OWNER, did, "update", 2, key_state(OWNER)),
            Code.RESOURCE_LIMIT, "at most 3 versions")
    assert run(chain, "deactivate", signed(OWNER, did, "deactivate", 2, None)).code == 0


def test_resolve_arguments(chain: Chain) -> None:
    did = created(chain)
    for kw in ({"version_id": 0}, {"version_id": "1"}, {"version_time": -1},
               {"version_id": 1, "version_time": 1}):
        assert resolve(chain, did, **kw).code == Code.INVALID_ARGUMENT, kw
    assert resolve(chain, f"did:baas:{NAMESPACE}:{did}").code == Code.INVALID_ARGUMENT


def test_namespace_is_set_once_by_a_governing_admin(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "app")
    assert chain.value("_did", "config") == {"namespace": None, "dids": 0}
    refused(chain, "create", create_op(OWNER), Code.INVALID_ARGUMENT, "no DID namespace")
    refused(chain, "set_namespace", NAMESPACE, Code.UNAUTHORIZED, signer="user1")
    boss = seeded("org4-admin")
    assert chain.block(chain.tx("admin1", "_identity", "add_org",
                                ["org4", "Org Four", boss.public_key_hex, False,
                                 chain.proof(boss, "org4")])).tx_results[0].code == 0
    refused(chain, "set_namespace", NAMESPACE, Code.UNAUTHORIZED, "governance", signer=boss)
    for bad in ("", "-ab", "ab-", "Seoul", "a" * 33, "a_b", 7):
        refused(chain, "set_namespace", bad, Code.INVALID_ARGUMENT, signer="admin1")
    result = run(chain, "set_namespace", "a", signer="admin2")  # 1 character is enough
    assert result.code == 0, result.log
    assert [dict(e.attributes) for e in result.events if e.type == "did_namespace_set"] == \
        [{"namespace": "a", "chaincode": "_did"}]
    refused(chain, "set_namespace", "b", Code.INVALID_ARGUMENT, "never changes",
            signer="admin1")
    assert chain.value("_did", "config") == {"namespace": "a", "dids": 0}
    chain.app.close()


def test_every_version_has_a_state_proof(chain: Chain) -> None:
    did = created(chain)
    assert run(chain, "update", signed(OWNER, did, "update", 1, key_state(NEXT))).code == 0
    latest = chain.block()  # later blocks: a version record never changes
    for version in (1, 2):
        record = chain.value("_did", "resolve", {"did": did, "version_id": version})
        key = b"_did/" + record["state_key"].encode()
        answer = chain.app.query(path="/state", data=key, height=chain.height, prove=True)
        assert answer.code == 0, answer.log
        stored = canonical.decode(answer.value, max_depth=64)
        assert (stored["state"], stored["version"], stored["tx"], stored["height"]) == \
            (record["state"], version, record["tx"], record["height"])
        proof = json.loads(answer.proof)
        assert verify_proof(key=key, value=answer.value, proof=proof,
                            app_hash=latest.app_hash)
        assert not verify_proof(key=key, value=answer.value.replace(b"key-1", b"key-X"),
                                proof=proof, app_hash=latest.app_hash)
        # the proof at the height the version was written holds as well
        at = chain.app.query(path="/state", data=key, height=record["height"], prove=True)
        assert at.value == answer.value
        assert verify_proof(key=key, value=at.value, proof=json.loads(at.proof),
                            app_hash=bytes.fromhex(json.loads(at.proof)["app_hash"]))


# -- chaincode access: ctx.did_verify / ctx.did_resolve ------------------------------------
CHECKER = """
@write
def verify(ctx, did, message, sig, relationship):
    ok = ctx.did_verify(did, message, sig, relationship)
    ctx.put("last", ok)
    return ok

@read
def check(ctx, did, message, sig):
    return ctx.did_verify(did, message, sig)

@read
def resolve(ctx, did):
    return ctx.did_resolve(did)

@write
def swallow_verify(ctx, did, message, sig):
    try:
        ctx.did_verify(did, message, sig)
    except Exception:
        pass
    ctx.put("after", 1)
    return 1

@write
def swallow(ctx, did):
    try:
        ctx.did_resolve(did)
    except Exception:
        pass
    ctx.put("after", 1)
    return 1
"""


@pytest.fixture
def checker(chain: Chain) -> Chain:
    result = chain.block(chain.tx("admin1", "_lifecycle", "install",
                                  ["checker", "1", CHECKER])).tx_results[0]
    assert result.code == 0, result.log
    return chain


def full(did: str, namespace: str = NAMESPACE) -> str:
    return f"did:baas:{namespace}:{did}"


def test_chaincode_verifies_signatures_by_did_at_a_fixed_cost(checker: Chain) -> None:
    chain = checker
    gone, never = seeded("gone"), seeded("never")
    did, gone_did = created(chain), created(chain, gone)
    assert run(chain, "deactivate", signed(gone, gone_did, "deactivate", 1, None)).code == 0
    message = "pay 10 to bob"
    sig, gone_sig = OWNER.sign(message.encode()).hex(), gone.sign(message.encode()).hex()
    cases = {  # all arguments of the same sizes
        "valid": (full(did), sig, "authentication", True),
        "assertion": (full(did), sig, "assertionMethod", True),
        "wrong signature": (full(did), NEXT.sign(message.encode()).hex(), "authentication",
                            False),
        "other message": (full(did), OWNER.sign(b"pay 99 to bob").hex(), "authentication",
                          False),
        "other namespace": (full(did, "other-welfare"), sig, "authentication", False),
        "deactivated": (full(gone_did), gone_sig, "authentication", False),
        "unknown": (full(did_of(never)), never.sign(message.encode()).hex(),
                    "authentication", False),
        "empty relationship": (full(did), sig, "capabilityDelegation", False),
    }
    block = chain.block(*[chain.tx("user1", "checker", "verify",
                                   [d, message, s, rel]) for d, s, rel, _ in cases.values()])
    results = dict(zip(cases, block.tx_results, strict=True))
    for name, (*_, expected) in cases.items():
        assert results[name].code == 0, (name, results[name].log)
        assert json.loads(results[name].data) is expected, name
    assert len({r.gas_used for r in results.values()}) == 1, \
        {n: r.gas_used for n, r in results.items()}

    # a fragment picks one key: it must be listed in the relationship
    assert chain.value("checker", "check", [full(did) + "#key-1", message, sig]) is True
    assert chain.value("checker", "check", [full(did) + "#key-9", message, sig]) is False
    assert chain.value("checker", "check", ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnn"
                                            "EGta2doK", message, sig]) is False


def test_chaincode_sees_a_did_created_earlier_in_the_same_block(checker: Chain) -> None:
    chain = checker
    sig = OWNER.sign(b"hi").hex()
    block = chain.block(chain.tx("user1", "_did", "create", [create_op(OWNER)]),
                        chain.tx("user1", "checker", "verify",
                                 [full(did_of(OWNER)), "hi", sig, "authentication"]))
    assert [r.code for r in block.tx_results] == [0, 0]
    assert json.loads(block.tx_results[1].data) is True


@pytest.mark.parametrize("args,words", [
    ([full("a" * 26), "m", "00" * 64, "keyAgreement"], "relationship"),
    ([full("a" * 26), "m", "zz", "authentication"], "signature"),
    ([full("a" * 26), "m", "00" * 64, ["authentication"]], "relationship"),
    (["not-a-did", "m", "00" * 64, "authentication"], "not a DID"),
    (["did:baas:Bad:" + "a" * 26, "m", "00" * 64, "authentication"], "malformed"),
    ([full("a" * 26) + "#a b", "m", "00" * 64, "authentication"], "fragment"),
    ([full("a" * 26), "m" * (64 * 1024 + 1), "00" * 64, "authentication"], "at most"),
    ([full("a" * 26), 7, "00" * 64, "authentication"], "message"),
])
def test_malformed_did_verify_arguments_are_refused(checker: Chain, args, words) -> None:
    result = checker.block(checker.tx("user1", "checker", "verify", args)).tx_results[0]
    assert result.code == Code.INVALID_ARGUMENT, result.log
    assert words in result.log


def test_an_operation_signature_is_never_an_authentication(checker: Chain) -> None:
    """A controller's signature of a DID operation (DID_DOMAIN + canonical op) is valid
    under its authentication key too; did_verify refuses such a message, stickily, at the
    price of any refusal after the charge, so a chaincode cannot take an operation off the
    chain and present it as the controller authenticating."""
    from ledger.did_core import DID_DOMAIN, op_message
    from ledger.testing import CHAIN_ID

    chain = checker
    did = created(chain)
    state = key_state(NEXT)
    message = op_message(CHAIN_ID, did, "update", 1, state).decode("utf-8")
    assert message.startswith(DID_DOMAIN.decode())
    sig = OWNER.sign(message.encode()).hex()
    block = chain.block(
        chain.tx("user1", "checker", "verify", [full(did), message, sig, "authentication"]),
        chain.tx("user1", "checker", "swallow_verify", [full(did), message, sig]),
        # a refusal of the same sizes for another reason: the same charge
        chain.tx("user1", "checker", "verify", [full(did), message, "zz" * 64,
                                                "authentication"]),
    )
    domain, swallowed, other = block.tx_results
    assert domain.code == Code.INVALID_ARGUMENT, domain.log
    assert "domain" in domain.log
    assert swallowed.code == Code.INVALID_ARGUMENT, swallowed.log  # sticky
    assert other.code == Code.INVALID_ARGUMENT, other.log
    assert domain.gas_used == other.gas_used
    # the same words without the domain prefix are an ordinary message
    plain = message[len(DID_DOMAIN):]
    assert chain.value("checker", "check",
                       [full(did), plain, OWNER.sign(plain.encode()).hex()]) is True


def test_chaincode_resolves_dids_of_its_own_namespace(checker: Chain) -> None:
    chain = checker
    did = created(chain)
    assert chain.value("checker", "resolve", [full(did)]) == \
        chain.value("_did", "resolve", [did])
    assert chain.value("checker", "resolve", [full(did, "other-welfare")]) is None
    assert chain.value("checker", "resolve", [full(did_of(NEXT))]) is None
    assert chain.value("checker", "resolve", ["did:web:example.org"]) is None
    assert chain.call("checker", "resolve", [full(did) + "#key-1"]).code == \
        Code.INVALID_ARGUMENT
    # a refused host call is sticky: catching it does not let the call go on
    result = chain.block(chain.tx("user1", "checker", "swallow", ["nope"])).tx_results[0]
    assert result.code == Code.INVALID_ARGUMENT, result.log
    assert chain.call("checker", "resolve", [full(did)]).code == 0


def test_without_a_namespace_no_did_resolves(tmp_path: Path) -> None:
    chain = start_chain(tmp_path / "app")
    assert chain.block(chain.tx("admin1", "_lifecycle", "install",
                                ["checker", "1", CHECKER])).tx_results[0].code == 0
    sig = OWNER.sign(b"m").hex()
    assert chain.value("checker", "check", [full(did_of(OWNER)), "m", sig]) is False
    assert chain.value("checker", "resolve", [full(did_of(OWNER))]) is None
    chain.app.close()
