"""A stand-in for a network running the voting bundle, for the page tests: the contract's
rules of spec 14 in plain Python on the reference protocol (``elections.protocol``), behind
the seams the app uses (``deploy.gateway.with_failover`` for reads through a client with
``height()`` and ``call()``; ``gateway.submit_tx``/``query`` as sectors' services call them).

It refuses what the contract refuses, with the contract's reasons, as the gateway reports
a refused transaction (``tx_rejected`` with the reason in ``details.log``), so the pages'
error handling meets the same shapes as on a real chain. Every proof is checked with the
reference protocol: a ballot or share the pages build wrongly is refused here too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from baas.errors import AppError
from elections import protocol as P
from elections.verify import RECORD_FORMAT
from ledger.tx import decode_tx

PERMISSIVE = {"type": "object"}


def manifest() -> dict[str, Any]:
    def fn(name: str, kind: str, roles: list[str], public: bool = False) -> dict[str, Any]:
        return {"name": name, "kind": kind, "roles": roles, "public": public,
                "title": {"en": name, "ko": name}, "args": PERMISSIVE}

    return {
        "name": "voting", "version": "1.0.0", "sector": "voting",
        "title": {"en": "Online voting", "ko": "온라인 투표"},
        "description": {"en": "Encrypted ballots.", "ko": "암호화된 투표."},
        "roles": [
            {"id": "commission", "holder": "organisation", "title": {"en": "Commission"}},
            {"id": "trustee", "holder": "organisation", "title": {"en": "Trustee"}},
            {"id": "voter", "holder": "key", "title": {"en": "Voter"}},
        ],
        "functions": [
            fn("init", "write", ["commission"]),
            fn("create_election", "write", ["commission"]),
            fn("add_voters", "write", ["commission"]),
            fn("post_trustee_key", "write", ["trustee"]),
            fn("open_election", "write", ["commission"]),
            fn("cast", "write", ["voter"], public=True),
            fn("close_election", "write", ["anyone"]),
            fn("post_decryption", "write", ["trustee"]),
            fn("publish_result", "write", ["commission"]),
            fn("get_election", "read", ["anyone"], public=True),
            fn("list_elections", "read", ["anyone"], public=True),
            fn("roles_of", "read", ["anyone"]),
            fn("get_ballot", "read", ["anyone"], public=True),
            fn("list_ballots", "read", ["anyone"], public=True),
            fn("list_voters", "read", ["anyone"], public=True),
            fn("find_tracker", "read", ["anyone"], public=True),
            fn("election_record", "read", ["anyone"], public=True),
        ],
        "workflow": {"entity": "election", "get": "get_election", "list": "list_elections",
                     "states": [{"id": s, "title": {"en": s}}
                                for s in ("setup", "open", "closed", "published")]},
        "init": {"function": "init", "args": {}},
    }


class Refused(Exception):
    pass


class FakeVoting:
    def __init__(self, roles: dict[str, list[str]]) -> None:
        self.roles = roles
        self.elections: dict[str, dict[str, Any]] = {}
        self.block = 10
        self.now = int(time.time())
        self.signer_orgs: dict[str, str] = {}  # public key -> organisation (members' keys)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (function, caller, args)
        self.reads = 0

    # -- the seams ------------------------------------------------------------------------
    def with_failover(self, network: Any, call: Any, **kwargs: Any) -> Any:
        return call(self)

    def submit_tx(self, *, network: Any, body: dict[str, Any], signer: Any = None
                  ) -> dict[str, Any]:
        if "tx" in body:
            tx = decode_tx(base64.b64decode(body["tx"]))
            function, args, key = tx.function, dict(tx.args), tx.signer
        else:
            function, args, key = body["function"], dict(body.get("args") or {}), \
                signer.public_key_hex
        org = self.signer_orgs.get(key)
        tx_hash = hashlib.sha256(f"{self.block}:{function}:{key}:{json.dumps(args, sort_keys=True)}"
                                 .encode()).hexdigest()
        try:
            data = getattr(self, "tx_" + function)(org, key, tx_hash, **args)
        except (Refused, TypeError) as err:
            raise AppError("tx_rejected", f"The ledger rejected the transaction at "
                           f"FinalizeBlock: {err}", status=422,
                           details={"stage": "FinalizeBlock", "hash": tx_hash, "code": 5,
                                    "codespace": "", "log": str(err)}) from None
        self.block += 1
        self.sent.append((function, org or key, args))
        return {"hash": tx_hash, "code": 0, "log": "", "height": self.block, "data": data}

    def query(self, *, network: Any, body: dict[str, Any], signer: Any = None) -> dict[str, Any]:
        return {"result": self.call(body["chaincode"], body["function"], body.get("args"))}

    # -- the client a read gets ---------------------------------------------------------------
    def call(self, chaincode: str, function: str, args: Any = None, *, height: int = 0) -> Any:
        from ledger.client import QueryFailed

        self.reads += 1
        try:
            return getattr(self, "read_" + function)(**(args or {}))
        except (Refused, TypeError) as err:
            raise QueryFailed("/call", 5, str(err)) from None

    def height(self) -> int:
        """The latest block (``LedgerClient.height``)."""
        return self.block

    # -- the contract ---------------------------------------------------------------------
    def _election(self, id: str) -> dict[str, Any]:
        if id not in self.elections:
            raise Refused(f"no election {id!r}")
        return self.elections[id]

    def _need(self, org: str | None, role: str) -> None:
        if org not in self.roles.get(role, []):
            raise Refused(f"only the {role} may do this")

    def tx_create_election(self, org, key, tx_hash, *, id, title, questions, trustees,
                           opens_at, closes_at):
        self._need(org, "commission")
        if id in self.elections:
            raise Refused("election id taken")
        for t in trustees:
            if t not in self.roles.get("trustee", []):
                raise Refused(f"{t} does not hold the trustee role")
        definition = {"id": id, "title": title, "questions": questions,
                      "trustees": trustees, "opens_at": opens_at, "closes_at": closes_at}
        eh = P.election_hash(tx_hash, definition)
        self.elections[id] = {
            "election": {**definition, "tx_hash": tx_hash, "eh": eh},
            "board": P.board_start(eh),
            "state": "setup", "keys": {}, "roll": [], "ballots": [], "joint": None,
            "tally": [[P.ZERO] * len(q["options"]) for q in questions],
            "decryptions": {}, "result": None}
        return {"id": id}

    def tx_add_voters(self, org, key, tx_hash, *, id, voters):
        self._need(org, "commission")
        e = self._election(id)
        if e["state"] != "setup":
            raise Refused("the roll is fixed once voting opens")
        dids = [v for v in voters if v.startswith("did:")]
        if len(voters) > 500 or len(dids) > 200:
            raise Refused("at most 500 voters (200 DIDs) per call")
        kinds = {v.startswith("did:") for v in [*e["roll"], *voters]}
        if len(kinds) > 1:
            raise Refused("a roll holds either public keys or did:baas DIDs, not both")
        added = [v for v in dict.fromkeys(voters) if v not in e["roll"]]
        e["roll"].extend(added)
        return {"added": len(added), "duplicates": len(voters) - len(added)}

    def tx_post_trustee_key(self, org, key, tx_hash, *, id, public, proof):
        e = self._election(id)
        if org not in e["election"]["trustees"]:
            raise Refused("not a trustee of this election")
        if e["state"] != "setup" or org in e["keys"]:
            raise Refused("key already posted" if org in e["keys"] else "not in setup")
        posted = {"public": public, "proof": proof}
        if not P.verify_trustee_key(e["election"]["eh"], org, posted):
            raise Refused("trustee key proof invalid")
        e["keys"][org] = posted

    def tx_open_election(self, org, key, tx_hash, *, id):
        self._need(org, "commission")
        e = self._election(id)
        el = e["election"]
        if e["state"] != "setup":
            raise Refused("not in setup")
        if sorted(e["keys"]) != sorted(el["trustees"]):
            raise Refused("waiting for trustee keys")
        if not e["roll"]:
            raise Refused("no voters on the roll")
        if not el["opens_at"] <= self.now < el["closes_at"]:
            raise Refused("voting has not opened" if self.now < el["opens_at"]
                          else "voting has closed")
        e["joint"] = P.joint_key([P.point(e["keys"][t]["public"]) for t in el["trustees"]])
        e["state"] = "open"

    def tx_cast(self, org, key, tx_hash, *, id, ballot, voter=None, auth=None):
        e = self._election(id)
        el = e["election"]
        voter = voter or key
        if e["state"] != "open" or self.now < el["opens_at"]:
            raise Refused("voting has not opened")
        if self.now >= el["closes_at"]:
            raise Refused("voting has closed")
        if voter not in e["roll"]:
            raise Refused("voter not on the roll")
        if any(b["voter"] == voter for b in e["ballots"]):
            raise Refused("already voted")
        qs = P.questions_of(el)
        problem = P.ballot_problem(el["eh"], voter, e["joint"], qs, ballot)
        if problem:
            raise Refused(problem)
        tracker = P.tracker(el["eh"], voter, ballot)
        e["board"] = P.board_next(e["board"], tracker)
        for qi, row in enumerate(P.ciphertexts(ballot, qs)):
            for oj, ct in enumerate(row):
                e["tally"][qi][oj] = e["tally"][qi][oj] + ct
        e["ballots"].append({"seq": len(e["ballots"]) + 1, "voter": voter, "tracker": tracker,
                             "ballot": ballot, "height": self.block + 1,
                             "board": e["board"]})
        return {"seq": len(e["ballots"]), "tracker": tracker, "board": e["board"]}

    def tx_close_election(self, org, key, tx_hash, *, id):
        e = self._election(id)
        if e["state"] != "open":
            raise Refused("voting is not open")
        if self.now < e["election"]["closes_at"]:
            raise Refused("voting has not reached its closing time")
        e["state"] = "closed"

    def tx_post_decryption(self, org, key, tx_hash, *, id, shares):
        e = self._election(id)
        if org not in e["election"]["trustees"] or e["state"] != "closed":
            raise Refused("not a trustee, or not closed")
        if org in e["decryptions"]:
            raise Refused("decryption already posted")
        problem = P.decryption_problem(e["election"]["eh"], org,
                                       P.point(e["keys"][org]["public"]), e["tally"], shares,
                                       e["board"])
        if problem:
            raise Refused(problem)
        e["decryptions"][org] = shares

    def tx_publish_result(self, org, key, tx_hash, *, id, counts):
        self._need(org, "commission")
        e = self._election(id)
        el = e["election"]
        if e["state"] != "closed" or sorted(e["decryptions"]) != sorted(el["trustees"]):
            raise Refused("waiting for decryptions")
        plain = P.combine(e["tally"], [e["decryptions"][t] for t in el["trustees"]])
        for qi, row in enumerate(plain):
            for oj, m in enumerate(row):
                if P.ec.small_multiple(counts[qi][oj]) != m:
                    raise Refused(f"count for {P.option_label(qi, oj)} is wrong")
        e["result"] = counts
        e["state"] = "published"

    # -- reads ----------------------------------------------------------------------------
    def _public(self, e: dict[str, Any]) -> dict[str, Any]:
        return {**e["election"], "state": e["state"], "voters": len(e["roll"]),
                "board": e["board"], "trustee_keys": e["keys"],
                "joint_key": e["joint"].hex() if e["joint"] is not None else None,
                "decrypted": list(e["decryptions"]),
                "ballots": len(e["ballots"]), "result": e["result"]}

    def read_get_election(self, *, id):
        return self._public(self.elections[id]) if id in self.elections else None

    def read_list_elections(self):
        return [self._public(e) for e in self.elections.values()]

    def read_roles_of(self, *, org=None, public_key=None):
        return [r for r, orgs in self.roles.items() if org in orgs]

    def read_list_ballots(self, *, id, after=0, limit=100):
        return [b for b in self._election(id)["ballots"] if b["seq"] > after][:limit]

    def read_list_voters(self, *, id, after=None, limit=500):
        """The roll in key order, ``limit`` (at most 500) voters after ``after``."""
        if not 1 <= limit <= 500:
            raise Refused("limit out of range")
        roll = sorted(self._election(id)["roll"])
        return [v for v in roll if after is None or v > after][:limit]

    def read_find_tracker(self, *, id, tracker):
        return next((b for b in self._election(id)["ballots"] if b["tracker"] == tracker),
                    None)

    def read_election_record(self, *, id):
        if id not in self.elections:
            return None
        e = self.elections[id]
        return {"format": RECORD_FORMAT, "election": e["election"],
                "trustee_keys": e["keys"],
                "joint_key": e["joint"].hex() if e["joint"] is not None else None,
                # like the contract: the roll up to 1,000 voters, None above (list_voters)
                "roll": sorted(e["roll"]) if len(e["roll"]) <= 1000 else None,
                "ballot_count": len(e["ballots"]), "board": e["board"],
                "tally": [[ct.to_json() for ct in row] for row in e["tally"]],
                "decryptions": e["decryptions"] if e["result"] is not None
                or e["state"] == "closed" else None,
                "result": e["result"]}
