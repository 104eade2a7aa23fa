"""``static/elections/pages.js`` signs a ballot only when the server prepared exactly that
ballot: ``castBytes`` runs here in Node (as ``test_js_voting.py`` runs voting.js) against
prepare answers built like ``sectors.services.public_prepare`` builds them, honest and
tampered one field at a time."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import require_service
from ledger import canonical
from ledger.tx import SIGN_DOMAIN

NODE = shutil.which("node")
STATIC = Path(__file__).resolve().parents[2] / "static"
RUNNER = """
const { readFileSync } = await import("node:fs");
const { castBytes, checkedElection } = await import("./elections/pages.js");
const cases = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => {
  if (c.ballot_data) return checkedElection(c.ballot_data);
  const bytes = castBytes(c.prepared, c.expected);
  return bytes === null ? null : Buffer.from(bytes).toString("base64");
})));
"""
VOTER = "ab" * 32
BALLOT = {"answers": [{"choices": [{"a": "02" + "11" * 32, "b": "03" + "22" * 32,
                                    "proof": [["33" * 32, "44" * 32]] * 2}] * 2,
                       "proof": [["55" * 32, "66" * 32]]}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_service("node", NODE is not None, "Node.js (the nodejs package) is not installed")
    folder = tmp_path_factory.mktemp("pages-js")
    shutil.copytree(STATIC / "elections", folder / "elections")
    shutil.copytree(STATIC / "vendor" / "noble", folder / "vendor" / "noble")
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "run.js").write_text(RUNNER)

    def run_cases(cases):
        out = subprocess.run([NODE, "run.js"], cwd=folder, input=json.dumps(cases),
                             capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)

    return run_cases


def prepared(body, *, sign_body=None):
    signed = SIGN_DOMAIN + canonical.encode(sign_body if sign_body is not None else body)
    return {"body": body, "sign_bytes": base64.b64encode(signed).decode()}


def honest_body(now_ms):
    return {"v": 1, "chain_id": "city-chain", "chaincode": "voting", "function": "cast",
            "args": {"id": "e1", "ballot": BALLOT}, "signer": VOTER,
            "nonce": "0f" * 16, "time_ms": now_ms}


def test_only_exactly_the_ballot_asked_for_is_signed(run):
    now = int(time.time() * 1000)
    expected = {"args": {"id": "e1", "ballot": BALLOT}, "signer": VOTER,
                "chaincode": "voting", "chainId": "city-chain", "now": now}
    body = honest_body(now)
    other_ballot = copy.deepcopy(BALLOT)
    other_ballot["answers"][0]["choices"][1]["a"] = "02" + "77" * 32
    tampered = [
        {**body, "function": "add_voters"},
        {**body, "args": {"id": "e1", "ballot": other_ballot}},
        {**body, "args": {"id": "e2", "ballot": BALLOT}},
        {**body, "signer": "cd" * 32},
        {**body, "chaincode": "donations"},
        {**body, "chain_id": "other-chain"},
        {**body, "time_ms": now - 10 * 60 * 1000},
        {**body, "sig": "00" * 64},
    ]
    cases = [{"prepared": prepared(body), "expected": expected}]
    cases += [{"prepared": prepared(b), "expected": expected} for b in tampered]
    # the body shown is honest but the bytes to sign are another body's
    cases.append({"prepared": prepared(body, sign_body={**body, "args": {
        "id": "e1", "ballot": other_ballot}}), "expected": expected})
    cases.append({"prepared": {"body": body, "sign_bytes": base64.b64encode(
        canonical.encode(body)).decode()}, "expected": expected})  # no envelope domain
    out = run(cases)
    assert base64.b64decode(out[0]) == SIGN_DOMAIN + canonical.encode(body)
    assert out[1:] == [None] * (len(cases) - 1)


def test_the_voter_page_encrypts_only_for_the_election_hash_it_computes(run):
    from elections import protocol as P

    definition = {"id": "e1", "title": "Council 2027",
                  "questions": [{"id": "q1", "title": "Chair", "min_choices": 1,
                                 "max_choices": 1,
                                 "options": [{"id": "o1", "title": "Kim"},
                                             {"id": "o2", "title": "Lee"}]}],
                  "trustees": ["org1", "org2"], "opens_at": 100, "closes_at": 200}
    tx_hash = "7a" * 32
    eh = P.election_hash(tx_hash, definition)
    honest = {"id": "e1", "eh": eh, "tx_hash": tx_hash, "definition": definition}
    other = P.election_hash(tx_hash, {**definition, "title": "Another"})
    bad = [
        {**honest, "eh": other},  # the server's eh is another election's
        {**honest, "definition": {**definition, "title": "Council 2028"}},
        {**honest, "definition": {**definition, "trustees": ["org1"]}},
        {**honest, "tx_hash": "7b" * 32},
        {**honest, "definition": {**definition, "closes_at": "200"}},  # unreadable
        {k: v for k, v in honest.items() if k != "definition"},
    ]
    out = run([{"ballot_data": honest}] + [{"ballot_data": b} for b in bad])
    assert out[0] == {"eh": eh, "questions": [{"options": 2, "min_choices": 1,
                                               "max_choices": 1}]}
    assert out[1:] == [None] * len(bad)
