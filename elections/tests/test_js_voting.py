"""``static/elections/voting.js`` (the browser's side of the ballot protocol) and the Python
reference ``elections/protocol.py`` agree byte for byte: what one makes (trustee keys,
ballots, trackers, reveals, partial decryptions) the other verifies, and what is tampered
with fails in both, with the same label.

The module runs in Node (a subprocess, like ``identity/tests/test_holder_js.py``), from a
copy of ``static/elections/`` and ``static/vendor/noble/`` in a folder whose package.json
says ``"type": "module"`` (Debian bookworm's Node 18 does not detect ES modules itself).
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import require_service
from elections import protocol as P
from elections.tests.records import election
from elections.verify import Invalid, verify_record
from ledger import ec

NODE = shutil.which("node")
STATIC = Path(__file__).resolve().parents[2] / "static"

RUNNER = """
if (!globalThis.crypto) globalThis.crypto = (await import("node:crypto")).webcrypto;
const { readFileSync } = await import("node:fs");
const v = await import("./elections/voting.js");

// {"$int": hex} <-> BigInt; points come back as their hex, bytes as hex.
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
function revive(x) {
  if (Array.isArray(x)) return x.map(revive);
  if (x && typeof x === "object") {
    if (Object.keys(x).length === 1 && "$int" in x) return BigInt("0x" + x.$int);
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, revive(y)]));
  }
  return x;
}
function plain(x) {
  if (typeof x === "bigint") return { $int: x.toString(16) };
  if (x instanceof Uint8Array) return hex(x);
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === "object") {
    if (typeof x.is0 === "function") return v.pointHex(x);
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, plain(y)]));
  }
  return x;
}
// "$fixRandom": the next 64-byte draws (the module's scalars) come from the given hex
// chunks; other sizes (noble's 16-byte blinding) stay random. "$randomLeft": how many
// chunks are unused. A 64-byte draw with no chunk left throws.
const real = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
let queue = null;
const special = {
  $fixRandom(chunks) {
    queue = chunks.map((h) => Uint8Array.from(h.match(/../g), (b) => parseInt(b, 16)));
    globalThis.crypto.getRandomValues = (buf) => {
      if (buf.length !== 64) return real(buf);
      if (!queue.length) throw new Error("no fixed randomness left");
      buf.set(queue.shift());
      return buf;
    };
  },
  $randomLeft() { return queue.length; },
};
const out = [];
for (const { fn, args } of JSON.parse(readFileSync(0, "utf8"))) {
  try { out.push({ ok: plain((special[fn] || v[fn])(...revive(args))) ?? null }); }
  catch (err) { out.push({ error: `${err.name}: ${err.message}` }); }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def js_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voting-js")
    shutil.copytree(STATIC / "elections", root / "elections")
    shutil.copytree(STATIC / "vendor" / "noble", root / "vendor" / "noble")
    (root / "package.json").write_text('{"type": "module"}\n')
    (root / "runner.js").write_text(RUNNER)
    return root


@pytest.fixture
def js(js_dir):
    """Calls into voting.js: js(("fn", arg, ...), ...) -> one result per call; a call that
    throws gives {"error": "Name: message"}."""
    # In CI (BAAS_REQUIRE_SERVICES=1, Node.js installed by .ci/run) a missing node fails.
    require_service("node", NODE is not None, "Node.js (the nodejs package) is not installed")

    def call(*calls: tuple[Any, ...]) -> list[Any]:
        batch = [{"fn": c[0], "args": list(c[1:])} for c in calls]
        done = subprocess.run([NODE, "runner.js"], cwd=js_dir, input=json.dumps(batch),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [r["ok"] if "ok" in r else {"error": r["error"]}
                for r in json.loads(done.stdout)]

    return call


def big(k: int) -> dict[str, str]:
    return {"$int": f"{k:x}"}


def unbig(value: dict[str, str]) -> int:
    return int(value["$int"], 16)


def failed(result: Any) -> bool:
    return isinstance(result, dict) and "error" in result


ELECTION = election([(5, 1, 2), (3, 0, 3)], ["org-js", "org-py"], election_id="e-js")
EH = ELECTION["eh"]
QS = P.questions_of(ELECTION)
JS_QS = ELECTION["questions"]  # voting.js reads the election's questions as they are


# --- encodings and transcripts --------------------------------------------------------------

def test_transcripts_challenges_and_election_hash_match_ledger_ec(js):
    g = ec.GENERATOR.hex()
    cases = [
        ("baas-vote/v1/range", []),
        ("baas-vote/v1/range", [""]),
        ("baas-vote/v1/trustee-key", [EH, "org-js", g, "00"]),
        ("baas-vote/v1/x", ["é ☃ 한국어", 0, 1, 2**256 - 1, ec.ORDER, 5]),
        ("domäne", [g, 3, "q0/o1", "00" * 40]),
    ]
    got = js(*[("transcriptHex", d, *[big(p) if isinstance(p, int) else p for p in parts])
               for d, parts in cases],
             *[("challenge", d, *[big(p) if isinstance(p, int) else p for p in parts])
               for d, parts in cases],
             ("electionHash", "ab" * 32, ELECTION),
             ("transcriptHex", "d", big(2**256)),
             ("transcriptHex", "a\u0000b", "x"))
    n = len(cases)
    assert got[:n] == [ec.transcript(d, *[ec.from_hex(p) if p == g else p for p in parts]).hex()
                       for d, parts in cases]
    assert [unbig(c) for c in got[n:2 * n]] == [ec.challenge(d, *parts) for d, parts in cases]
    assert got[2 * n] == P.election_hash("ab" * 32, ELECTION) == EH
    assert failed(got[2 * n + 1]) and failed(got[2 * n + 2])  # as ec refuses them
    with pytest.raises(ec.GroupError):
        ec.transcript("d", 2**256)


def test_points_and_scalars_decode_exactly_where_ledger_ec_decodes_them(js):
    g = ec.GENERATOR.hex()
    x_not_on_curve = next(f"02{x:064x}" for x in range(5, 100)
                          if not _decodes(f"02{x:064x}"))
    points = [g, ec.base_mul(7).hex(), ec.neg(ec.GENERATOR).hex(), "00", "", "01", "0",
              g.upper(), "04" + g[2:], g[:-2], g + "00", "02" + "f" * 64,
              f"02{ec.FIELD:064x}", f"02{ec.FIELD + 7:064x}",
              x_not_on_curve, "zz" + g[2:], "00" * 33]
    scalars = ["0" * 64, "0" * 63 + "1", f"{ec.ORDER - 1:064x}", f"{ec.ORDER:064x}",
               "f" * 64, "A" + "0" * 63, "0" * 63, "0" * 65, "g" + "0" * 63]
    got = js(*[("pointFromHex", p) for p in points], *[("scalarFromHex", s) for s in scalars])
    for text, result in zip(points, got[:len(points)], strict=True):
        assert (None if failed(result) else result) == (text if _decodes(text) else None), text
    for text, result in zip(scalars, got[len(points):], strict=True):
        try:
            want: int | None = ec.scalar_from_hex(text)
        except ec.GroupError:
            want = None
        assert (None if failed(result) else unbig(result)) == want, text


def _decodes(text: str) -> bool:
    try:
        ec.from_hex(text)
    except ec.GroupError:
        return False
    return True


# --- trustee keys ---------------------------------------------------------------------------

def test_trustee_keys_made_in_js_verify_in_python_and_the_other_way(js):
    py_key = P.trustee_keygen(EH, "org-py")
    secret = P.random_scalar()
    made = js(("trusteeKeygen", EH, "org-js"), ("trusteeKeygen", EH, "org-js", f"{secret:064x}"))
    js_key, fixed = made
    assert set(js_key) == {"secret", "public", "posted"}
    assert js_key["posted"] == {"public": js_key["public"], "proof": js_key["posted"]["proof"]}
    assert fixed["public"] == ec.base_mul(secret).hex()  # same secret, same key

    posted = js_key["posted"]
    bad_s = copy.deepcopy(posted)
    bad_s["proof"][1] = ec.scalar_hex(ec.scalar_from_hex(bad_s["proof"][1]) + 1)
    other_key = {**posted, "public": py_key.public.hex()}
    identity = {**posted, "public": "00"}
    assert P.verify_trustee_key(EH, "org-js", posted)
    assert P.verify_trustee_key(EH, "org-js", fixed["posted"])
    for name, (eh, trustee, key) in {
        "another trustee": (EH, "org-py", posted),
        "another election": ("00" * 32, "org-js", posted),
        "response changed": (EH, "org-js", bad_s),
        "another public key": (EH, "org-js", other_key),
        "the identity": (EH, "org-js", identity),
    }.items():
        assert not P.verify_trustee_key(eh, trustee, key), name

    checks = js(("verifyTrusteeKey", EH, "org-py", py_key.posted()),
                ("verifyTrusteeKey", EH, "org-js", py_key.posted()),
                ("verifyTrusteeKey", EH, "org-js", posted),
                ("verifyTrusteeKey", EH, "org-js", bad_s),
                ("verifyTrusteeKey", EH, "org-js", other_key),
                ("verifyTrusteeKey", EH, "org-js", identity),
                ("verifyTrusteeKey", EH, "org-js", {"public": posted["public"]}),
                ("jointKey", [js_key["public"], py_key.public.hex()]))
    assert checks[:7] == [True, False, True, False, False, False, False]
    assert checks[7] == P.joint_key([P.point(js_key["public"]), py_key.public]).hex()


def test_the_trustee_secret_file_opens_only_for_its_election_trustee_and_key(js):
    key = js(("trusteeKeygen", EH, "org-js"))[0]
    text = js(("trusteeSecretFile", EH, "org-js", key))[0]
    assert json.loads(text)["secret"] == key["secret"]
    other = P.trustee_keygen(EH, "org-js").public.hex()
    got = js(("readTrusteeSecretFile", text, EH, "org-js", key["public"]),
             ("readTrusteeSecretFile", text, EH, "org-js"),
             ("readTrusteeSecretFile", text, "00" * 32, "org-js"),
             ("readTrusteeSecretFile", text, EH, "org-py"),
             ("readTrusteeSecretFile", text, EH, "org-js", other),
             ("readTrusteeSecretFile", text.replace(key["public"], other), EH, "org-js"),
             ("readTrusteeSecretFile", "{", EH, "org-js"))
    assert got[:2] == [key["secret"], key["secret"]]
    assert [r.get("error", "").split(": ", 1)[-1] for r in got[2:]] == [
        "the key file is for another election", "the key file is another trustee's",
        "the key file does not hold the secret of the posted key",
        "the key file does not hold the secret of the posted key", "not a key file"]


# --- ballots --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def joint() -> str:
    keys = [P.trustee_keygen(EH, t) for t in ELECTION["trustees"]]
    return P.joint_key([k.public for k in keys]).hex()


VOTER = "ab" * 32
CHOICES = [[0, 1, 0, 0, 1], [1, 0, 1]]


def test_a_ballot_made_in_js_verifies_in_python(js, joint):
    sealed, refused = js(("encryptBallot", EH, VOTER, joint, JS_QS, CHOICES),
                         ("encryptBallot", EH, VOTER, joint, JS_QS, [[1, 1, 1, 0, 0], [0, 0, 0]]))
    h = P.point(joint)
    assert P.ballot_problem(EH, VOTER, h, QS, sealed["ballot"]) is None
    assert P.tracker(EH, VOTER, sealed["ballot"]) == sealed["tracker"]
    assert sealed["reveal"]["choices"] == CHOICES
    assert P.check_spoiled(EH, VOTER, h, sealed["ballot"], sealed["reveal"], QS,
                           sealed["tracker"]) == []
    # the proofs bind the voter and the election
    assert P.ballot_problem(EH, "cd" * 32, h, QS, sealed["ballot"]) == \
        "ballot proof invalid for q0/o0"
    assert P.ballot_problem("00" * 32, VOTER, h, QS, sealed["ballot"]) == \
        "ballot proof invalid for q0/o0"
    # three choices where two at most are allowed: the device refuses to make the ballot
    assert refused["error"] == "VotingError: question 0: choose between 1 and 2"


def test_a_ballot_made_in_python_verifies_in_js(js, joint):
    h = P.point(joint)
    sealed = P.encrypt_ballot(EH, VOTER, h, QS, CHOICES)
    reveal = sealed.reveal()
    flipped = copy.deepcopy(reveal)
    flipped["choices"][1][2] = 0
    got = js(("ballotProblem", EH, VOTER, joint, JS_QS, sealed.ballot),
             ("tracker", EH, VOTER, sealed.ballot),
             ("checkSpoiled", EH, VOTER, joint, sealed.ballot, reveal, JS_QS, sealed.tracker),
             ("checkSpoiled", EH, VOTER, joint, sealed.ballot, flipped, JS_QS, sealed.tracker),
             ("checkSpoiled", EH, VOTER, joint, sealed.ballot, reveal, JS_QS, "00" * 32),
             ("ballotProblem", EH, "cd" * 32, joint, JS_QS, sealed.ballot))
    assert got[:3] == [None, sealed.tracker, []]
    assert got[3] == ["q1/o2 does not open to 0"]
    assert got[4] == ["the tracker is not this ballot's"]
    assert got[5] == "ballot proof invalid for q0/o0"


def _plus_g(text: str) -> str:
    return ec.add(P.point(text), ec.GENERATOR).hex()


def _bump(text: str) -> str:
    return ec.scalar_hex(ec.scalar_from_hex(text) + 1)


def _choice(ballot: dict[str, Any], qi: int, oj: int) -> dict[str, Any]:
    return ballot["answers"][qi]["choices"][oj]


def _swap(ballot: dict[str, Any]) -> None:
    row = ballot["answers"][0]["choices"]
    row[0], row[1] = row[1], row[0]


TAMPERING = {
    # name: (change to the ballot, the label both verifiers must name)
    "a of q0/o1 replaced by another point":
        (lambda b: b["answers"][0]["choices"][1].update(a=ec.base_mul(12345).hex()), "q0/o1"),
    "b of q0/o3 plus G (one more vote)":
        (lambda b: _choice(b, 0, 3).update(b=_plus_g(_choice(b, 0, 3)["b"])), "q0/o3"),
    "b of q1/o0 replaced by the identity":
        (lambda b: b["answers"][1]["choices"][0].update(b="00"), "q1/o0"),
    "a response of q1/o2's proof":
        (lambda b: b["answers"][1]["choices"][2]["proof"][0].__setitem__(
            1, _bump(b["answers"][1]["choices"][2]["proof"][0][1])), "q1/o2"),
    "a challenge of q0/o4's proof":
        (lambda b: b["answers"][0]["choices"][4]["proof"][1].__setitem__(
            0, _bump(b["answers"][0]["choices"][4]["proof"][1][0])), "q0/o4"),
    "q0/o2's proof one step short":
        (lambda b: b["answers"][0]["choices"][2]["proof"].pop(), "q0/o2"),
    "the sum proof of q0":
        (lambda b: b["answers"][0]["proof"][0].__setitem__(
            1, _bump(b["answers"][0]["proof"][0][1])), "q0/sum"),
    "the sum proof of q1 from q0":
        (lambda b: b["answers"][1].update(proof=b["answers"][0]["proof"]), "q1/sum"),
    "options 0 and 1 of q0 swapped with their proofs": (_swap, "q0/o0"),
}


@pytest.mark.parametrize("name", TAMPERING)
def test_a_tampered_js_ballot_fails_in_python_and_in_js(js, joint, name):
    change, label = TAMPERING[name]
    sealed = js(("encryptBallot", EH, VOTER, joint, JS_QS, CHOICES))[0]
    ballot = copy.deepcopy(sealed["ballot"])
    change(ballot)
    assert ballot != sealed["ballot"]
    want = f"ballot proof invalid for {label}"
    assert P.ballot_problem(EH, VOTER, P.point(joint), QS, ballot) == want
    js_problem, js_honest = js(("ballotProblem", EH, VOTER, joint, JS_QS, ballot),
                               ("ballotProblem", EH, VOTER, joint, JS_QS, sealed["ballot"]))
    assert (js_problem, js_honest) == (want, None)


def test_a_malformed_ballot_is_refused_by_both(js, joint):
    sealed = js(("encryptBallot", EH, VOTER, joint, JS_QS, CHOICES))[0]
    off_curve = next(f"03{x:064x}" for x in range(5, 100) if not _decodes(f"03{x:064x}"))
    cases = []
    for change in (lambda b: b["answers"][0]["choices"][0].update(a=off_curve),
                   lambda b: b["answers"][0]["choices"][0].update(b=sealed["ballot"]["answers"][0]
                                                                  ["choices"][0]["b"].upper()),
                   lambda b: b["answers"][1]["choices"].pop(),
                   lambda b: b["answers"].pop(),
                   lambda b: b["answers"][0]["choices"][0].pop("a")):
        ballot = copy.deepcopy(sealed["ballot"])
        change(ballot)
        cases.append(ballot)
    got = js(*[("ballotProblem", EH, VOTER, joint, JS_QS, b) for b in cases])
    for ballot, problem in zip(cases, got, strict=True):
        assert problem.startswith("ballot malformed: "), problem
        assert P.ballot_problem(EH, VOTER, P.point(joint), QS, ballot).startswith(
            "ballot malformed: ")


def test_a_tampered_reveal_fails_in_python_and_in_js(js, joint):
    sealed = js(("encryptBallot", EH, VOTER, joint, JS_QS, CHOICES))[0]
    ballot, reveal = sealed["ballot"], sealed["reveal"]
    flipped = copy.deepcopy(reveal)
    flipped["choices"][0][1] = 0  # the device says 0 where it encrypted 1
    other_r = copy.deepcopy(reveal)
    other_r["randomness"][1][0] = _bump(other_r["randomness"][1][0])
    two = copy.deepcopy(reveal)
    two["choices"][1][1] = 2
    h = P.point(joint)
    t = sealed["tracker"]
    assert P.check_spoiled(EH, VOTER, h, ballot, reveal, QS, t) == []
    assert P.check_spoiled(EH, VOTER, h, ballot, flipped, QS, t) == ["q0/o1 does not open to 0"]
    assert P.check_spoiled(EH, VOTER, h, ballot, other_r, QS, t) == ["q1/o0 does not open to 1"]
    assert P.check_spoiled(EH, VOTER, h, ballot, two, QS, t) == ["q1/o1 does not open to 2"]
    got = js(*[("checkSpoiled", EH, VOTER, joint, ballot, r, JS_QS, sealed["tracker"])
               for r in (reveal, flipped, other_r, two)])
    assert got == [[], ["q0/o1 does not open to 0"], ["q1/o0 does not open to 1"],
                   ["q1/o1 does not open to 2"]]


# --- tally and decryption -------------------------------------------------------------------

def test_js_and_python_trustees_decrypt_a_mixed_election_that_the_verifier_accepts(js):
    """One trustee in JS, one in Python; half the ballots from each side. The tallies agree,
    each side's shares verify in the other, the counts are the plain counts, and the whole
    record passes ``elections.verify``; a tampered share fails in both."""
    py_key = P.trustee_keygen(EH, "org-py")
    js_key = js(("trusteeKeygen", EH, "org-js"))[0]
    h = P.joint_key([P.point(js_key["public"]), py_key.public])
    picks = [[[1, 0, 0, 0, 0], [0, 0, 0]], [[0, 1, 1, 0, 0], [1, 1, 1]],
             [[0, 0, 0, 0, 1], [0, 1, 0]], [[1, 0, 0, 0, 1], [1, 0, 0]]]
    voters = [f"{n + 1:064x}" for n in range(len(picks))]
    made = js(*[("encryptBallot", EH, voters[n], h.hex(), JS_QS, picks[n]) for n in (0, 2)])
    sealed = {0: made[0], 2: made[1]}
    for n in (1, 3):
        s = P.encrypt_ballot(EH, voters[n], h, QS, picks[n])
        sealed[n] = {"ballot": s.ballot, "tracker": s.tracker}
    ballots = [sealed[n]["ballot"] for n in range(len(picks))]
    sums = P.tally(ballots, QS)
    tallies = [[ct.to_json() for ct in row] for row in sums]
    board = P.board_hash(EH, [sealed[n]["tracker"] for n in range(len(picks))])
    js_tally, js_shares, js_board = js(
        ("tally", ballots, JS_QS),
        ("partialDecrypt", EH, "org-js", js_key["secret"], tallies, board),
        ("boardHash", EH, [sealed[n]["tracker"] for n in range(len(picks))]))
    assert js_tally == tallies and js_board == board
    py_shares = P.partial_decrypt(EH, "org-py", py_key, sums, board)
    assert P.decryption_problem(EH, "org-js", P.point(js_key["public"]), sums, js_shares,
                                board) is None

    bad_d = copy.deepcopy(js_shares)
    bad_d[0][2]["d"] = _plus_g(bad_d[0][2]["d"])
    bad_proof = copy.deepcopy(js_shares)
    bad_proof[1][1]["proof"][1] = _bump(bad_proof[1][1]["proof"][1])
    for shares, label in ((bad_d, "q0/o2"), (bad_proof, "q1/o1")):
        assert P.decryption_problem(EH, "org-js", P.point(js_key["public"]), sums, shares,
                                    board) == f"decryption proof invalid for {label}"
    assert P.decryption_problem(EH, "org-py", P.point(js_key["public"]), sums, js_shares,
                                board) == "decryption proof invalid for q0/o0"

    got = js(("decryptionProblem", EH, "org-py", py_key.public.hex(), tallies, py_shares, board),
             ("decryptionProblem", EH, "org-js", js_key["public"], tallies, js_shares, board),
             ("decryptionProblem", EH, "org-js", js_key["public"], tallies, bad_d, board),
             ("decryptionProblem", EH, "org-js", js_key["public"], tallies, bad_proof, board),
             ("decryptionProblem", EH, "org-js", py_key.public.hex(), tallies, py_shares,
              board),
             ("counts", tallies, [js_shares, py_shares], len(picks)),
             ("counts", tallies, [js_shares], len(picks)))
    assert got[:5] == [None, None, "decryption proof invalid for q0/o2",
                       "decryption proof invalid for q1/o1", "decryption proof invalid for q0/o0"]
    plain = [[sum(p[qi][oj] for p in picks) for oj in range(q.options)]
             for qi, q in enumerate(QS)]
    assert got[5] == plain == [[2, 1, 1, 0, 2], [2, 2, 1]]
    assert P.counts(P.combine(sums, [js_shares, py_shares]), len(picks)) == plain
    assert failed(got[6])  # one trustee's share alone does not decrypt

    record = {
        "format": "baas-election-record/1", "election": ELECTION,
        "trustee_keys": {"org-js": js_key["posted"], "org-py": py_key.posted()},
        "joint_key": h.hex(), "roll": voters,
        "ballots": [{"seq": n + 1, "voter": voters[n], "tracker": sealed[n]["tracker"],
                     "ballot": ballots[n], "height": 1,
                     "board": P.board_hash(EH, [sealed[k]["tracker"] for k in range(n + 1)])}
                    for n in range(len(picks))],
        "ballot_count": len(picks), "board": board, "tally": tallies,
        "decryptions": {"org-js": js_shares, "org-py": py_shares},
        "result": got[5],
    }
    verify_record(record)
    record["decryptions"]["org-js"] = bad_d
    with pytest.raises(Invalid, match="trustee org-js: decryption proof invalid for q0/o2"):
        verify_record(record)


# --- the same randomness gives the same bytes ------------------------------------------------

def test_with_the_same_randomness_js_and_python_produce_identical_keys_ballots_and_shares(
        js, joint, monkeypatch):
    """The strongest form of "byte for byte": fed the same random scalars in the same order,
    both sides make the same trustee proof, the same ballot JSON and tracker, the same
    reveal and the same decryption shares."""
    rng = random.Random(14)
    scalars = [rng.randrange(1, ec.ORDER) for _ in range(200)]
    # 64 bytes reduced mod n: a draw of n itself reduces to 0 and must be skipped
    chunks = [f"{k:0128x}" for k in scalars[:3]] + [f"{ec.ORDER:0128x}"] + \
        [f"{k:0128x}" for k in scalars[3:]]
    drawn = iter(scalars[1:])  # scalars[0] is the trustee's secret
    monkeypatch.setattr(P, "random_scalar", lambda: next(drawn))

    secret = scalars[0]
    py_key = P.trustee_keygen(EH, "org-py", secret=secret)  # draws w = scalars[1]
    py_sealed = P.encrypt_ballot(EH, VOTER, P.point(joint), QS, CHOICES)
    sums = P.tally([py_sealed.ballot], QS)
    board = P.board_hash(EH, [py_sealed.tracker])
    py_shares = P.partial_decrypt(EH, "org-py", py_key, sums, board)
    used = len(scalars) - 1 - len(list(drawn))  # w, the ballot's draws, the shares' draws

    got = js(("$fixRandom", chunks[1:]),
             ("trusteeKeygen", EH, "org-py", f"{secret:064x}"),
             ("randomScalar",),  # scalars[2], then n (skipped), then scalars[3]
             ("randomScalar",),
             ("$fixRandom", [f"{k:0128x}" for k in scalars[2:]]),
             ("encryptBallot", EH, VOTER, joint, JS_QS, CHOICES),
             ("partialDecrypt", EH, "org-py", f"{secret:064x}",
              [[ct.to_json() for ct in row] for row in sums], board),
             ("$randomLeft",))
    key, r1, r2, sealed, shares, left = got[1], got[2], got[3], got[5], got[6], got[7]
    assert key["posted"] == py_key.posted()
    assert [unbig(r1), unbig(r2)] == scalars[2:4]
    assert sealed == {"ballot": py_sealed.ballot, "tracker": py_sealed.tracker,
                      "reveal": py_sealed.reveal()}
    assert shares == py_shares
    assert len(scalars) - 2 - left == used - 1  # the same number of draws after w


# --- regressions of the security review (issue 14) ------------------------------------------

def test_the_election_hash_covers_the_definition_in_js_as_in_python(js):
    from elections.tests.test_protocol import DEFINITION_EDITS

    edited = []
    for change in DEFINITION_EDITS.values():
        e = copy.deepcopy(ELECTION)
        change(e)
        edited.append(e)
    got = js(*[("electionHash", "ab" * 32, e) for e in [ELECTION, *edited]],
             ("electionParts", "ab" * 32, ELECTION),
             ("electionHash", "ab" * 32, {**ELECTION, "opens_at": "0"}))
    want = [P.election_hash("ab" * 32, e) for e in [ELECTION, *edited]]
    assert got[:len(want)] == want and len(set(want)) == len(want)
    parts = got[len(want)]
    assert [unbig(p) if isinstance(p, dict) else p for p in parts] == \
        P.election_parts("ab" * 32, ELECTION)
    assert failed(got[-1])


def test_the_board_chain_is_the_same_in_js(js):
    trackers = ["aa" * 32, "bb" * 32, "cc" * 32]
    got = js(("boardStart", EH), ("boardNext", P.board_start(EH), trackers[0]),
             ("boardHash", EH, trackers), ("boardHash", EH, []))
    assert got == [P.board_start(EH), P.board_next(P.board_start(EH), trackers[0]),
                   P.board_hash(EH, trackers), P.board_start(EH)]


def test_js_refuses_to_encrypt_under_the_identity_joint_key(js):
    got = js(("encryptBallot", EH, VOTER, "00", JS_QS, CHOICES))
    assert got[0]["error"] == ("VotingError: the joint key is the identity: a ballot would "
                               "not be secret")


def test_a_ballot_with_zero_randomness_is_refused_in_js(js, joint):
    h = P.point(joint)
    rs = [0, P.random_scalar()]
    picks = [1, 0]
    qs = [P.Question(2, 1, 1)]
    entries, total = [], P.ZERO
    for oj, (m, r) in enumerate(zip(picks, rs, strict=True)):
        ct = P.encrypt(h, m, r)
        total = total + ct
        entries.append({**ct.to_json(), "proof": P.prove_range(
            EH, VOTER, P.option_label(0, oj), h, ct, m, r, 0, 1)})
    ballot = {"answers": [{"choices": entries, "proof": P.prove_range(
        EH, VOTER, "q0/sum", h, total, 1, sum(rs) % ec.ORDER, 1, 1)}]}
    want = "ballot point invalid for q0/o0: a is the identity"
    assert P.ballot_problem(EH, VOTER, h, qs, ballot) == want
    js_qs = [{"options": 2, "min_choices": 1, "max_choices": 1}]
    assert js(("ballotProblem", EH, VOTER, joint, js_qs, ballot)) == [want]


def test_the_js_benaloh_check_needs_the_tracker_and_integer_choices(js, joint):
    sealed = P.encrypt_ballot(EH, VOTER, P.point(joint), QS, CHOICES)
    reveal = sealed.reveal()
    as_true = copy.deepcopy(reveal)
    as_true["choices"][0][1] = True
    got = js(("checkSpoiled", EH, VOTER, joint, sealed.ballot, reveal, JS_QS),
             ("checkSpoiled", EH, VOTER, joint, sealed.ballot, as_true, JS_QS, sealed.tracker))
    assert got[0] == ["the tracker is not this ballot's"]
    assert got[1] == ["q0/o1 does not open to true"]
    assert P.check_spoiled(EH, VOTER, P.point(joint), sealed.ballot, as_true, QS,
                           sealed.tracker) == ["q0/o1 does not open to True"]


def test_js_decryption_proofs_bind_the_board_and_b(js, joint):
    key = js(("trusteeKeygen", EH, "org-js"))[0]
    sums = P.tally([P.encrypt_ballot(EH, f"{n + 1:064x}", P.point(joint), QS, CHOICES).ballot
                    for n in range(2)], QS)
    tallies = [[ct.to_json() for ct in row] for row in sums]
    board = P.board_hash(EH, ["aa" * 32, "bb" * 32])
    shares = js(("partialDecrypt", EH, "org-js", key["secret"], tallies, board))[0]
    edited = copy.deepcopy(tallies)
    edited[0][0]["b"] = _plus_g(edited[0][0]["b"])
    got = js(("decryptionProblem", EH, "org-js", key["public"], tallies, shares, board),
             ("decryptionProblem", EH, "org-js", key["public"], edited, shares, board),
             ("decryptionProblem", EH, "org-js", key["public"], tallies, shares,
              P.board_start(EH)),
             ("partialDecrypt", EH, "org-js", key["secret"], tallies))
    assert got[:3] == [None, "decryption proof invalid for q0/o0",
                       "decryption proof invalid for q0/o0"]
    assert failed(got[3])  # the board is required
    X = P.point(key["public"])
    assert P.decryption_problem(EH, "org-js", X, sums, shares, board) is None
    assert P.decryption_problem(EH, "org-js", X, sums, shares, P.board_start(EH)) == \
        "decryption proof invalid for q0/o0"
