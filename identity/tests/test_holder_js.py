"""``static/identity/holder.js`` signs only what the page asked for: its checks run here in
Node against prepare answers built by the method's own code, honest and tampered."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require_service
from identity.did.did_baas import default_state
from ledger.did_core import derive_suffix, op_message
from ledger.tx import Signer

NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def _node() -> None:
    # In CI (BAAS_REQUIRE_SERVICES=1, Node.js installed by .ci/run) a missing node fails.
    require_service("node", NODE is not None, "Node.js (the nodejs package) is not installed")


SCRIPT = Path(__file__).resolve().parents[1] / "static" / "identity" / "holder.js"
RUNNER = """
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const start = src.indexOf("// -- checks (pure"), end = src.indexOf("// -- end of checks");
const texts = {mismatch: "MISMATCH"};
const checked = new Function("texts", src.slice(start, end) + "; return checked;")(texts);
(async () => {
  const out = [];
  for (const c of JSON.parse(fs.readFileSync(0, "utf8"))) {
    try { await checked(c.answer, c.expect); out.push("signed"); }
    catch (e) { out.push(e.message); }
  }
  console.log(JSON.stringify(out));
})();
"""
CHAIN = "chain-x"


def answer(did, op, prev, state, *, chain_id=CHAIN, extra=None):
    suffix = did.rsplit(":", 1)[1]
    message = op_message(chain_id, suffix, op, prev, state)
    if extra:  # an op with a field the method does not have
        body = json.loads(message.split(b"\x00", 1)[1])
        body.update(extra)
        message = b"ledger/did/v1\x00" + json.dumps(body, sort_keys=True,
                                                   separators=(",", ":")).encode()
    return {"did": did, "op": op, "prev": prev, "state": state,
            "message_hex": message.hex()}


def run(cases, tmp_path):
    runner = tmp_path / "run.js"
    runner.write_text(RUNNER)
    out = subprocess.run([NODE, str(runner), str(SCRIPT)], input=json.dumps(cases),
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_holder_js_signs_exactly_the_operation_the_page_asked_for(tmp_path):
    new = Signer.generate().public_key_hex
    other = Signer.generate().public_key_hex
    did = f"did:baas:ns:{derive_suffix(bytes.fromhex(new))}"
    create = {"op": "create", "publicHex": new}
    state = default_state(new)
    evil = {**state, "service": [{"id": "evil", "type": "LinkedDomains",
                                  "serviceEndpoint": "https://phish.example"}]}
    delegated = {**state, "capabilityDelegation": ["key-1"]}
    mine = "did:baas:ns:" + derive_suffix(bytes.fromhex(other))
    rotate = {"op": "update", "publicHex": other, "did": mine, "prev": 3}
    deactivate = {"op": "deactivate", "publicHex": None, "did": mine, "prev": 3}
    cases = {
        "create": (answer(did, "create", 0, state), create),
        "create, injected service": (answer(did, "create", 0, evil), create),
        "create, delegation added": (answer(did, "create", 0, delegated), create),
        "create, another key's DID": (answer(mine, "create", 0, default_state(other)),
                                      create),
        "create, prev not 0": (answer(did, "create", 1, default_state(new, "key-2")),
                               create),
        "create, extra field": (answer(did, "create", 0, state, extra={"x": 1}), create),
        "rotate": (answer(mine, "update", 3, default_state(other, "key-4")), rotate),
        "rotate, another DID": (answer(did, "update", 3, default_state(other, "key-4")),
                                rotate),
        "rotate, answer names the page's DID, op another":
            ({**answer(did, "update", 3, default_state(other, "key-4")), "did": mine},
             rotate),
        "rotate, another version": (answer(mine, "update", 5, default_state(other, "key-6")),
                                    rotate),
        "rotate, two keys": (answer(mine, "update", 3, {
            **default_state(other, "key-4"),
            "verificationMethod": [{"id": "key-4", "type": "Ed25519", "publicKey": other},
                                   {"id": "key-5", "type": "Ed25519", "publicKey": new}]}),
            rotate),
        "deactivate": (answer(mine, "deactivate", 3, None), deactivate),
        "deactivate, with a state": (answer(mine, "deactivate", 3, state), deactivate),
        "deactivate, asked as rotate": (answer(mine, "update", 3, None), deactivate),
    }
    results = dict(zip(cases, run([{"answer": a, "expect": e} for a, e in cases.values()],
                                  tmp_path), strict=True))
    assert results == {name: "signed" if name in ("create", "rotate", "deactivate")
                       else "MISMATCH" for name in cases}
