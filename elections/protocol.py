"""The encrypted-ballot protocol of the voting template, in plain Python (no Django).

This is the reference implementation the verifier, the tests and the benchmark use; the
chaincode (``sectors/bundles/voting/contract.py``, sandboxed, through ``ctx.ec``) and the
browser (``static/elections/voting.js``) implement the same rules. The rules, byte for byte,
are in ``docs/templates/voting.md``; in short:

- exponential ElGamal over secp256k1 (``ledger.ec``): a vote m under the joint key H with
  randomness r is (A, B) = (rG, mG + rH), so ciphertexts add up to an encryption of the
  count;
- the joint key is the sum of the trustees' keys, each posted with a Schnorr proof that the
  trustee knows its secret (which stops a trustee from choosing its key to cancel others');
- each choice carries a disjunctive Chaum-Pedersen proof that it encrypts 0 or 1, and each
  question a proof that the number of choices is within its bounds (the CDS OR-proof over
  every value in range, compact form: the challenges and responses only);
- every proof's challenge hashes the election hash (which hashes the whole election
  definition: questions, options, titles, trustees, schedule) and the voter, so a proof
  copied to another election or another voter does not verify;
- the bulletin board is a hash chain over the trackers of the cast ballots in order
  (``board_start``, ``board_next``), kept on chain;
- each trustee decrypts the tallies partially (D = x·A) with a Chaum-Pedersen proof that it
  used the secret of its posted key, bound to the board and to both halves of the tally.

Secrets (trustee keys, ballot randomness) are plain integers here; callers keep them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger import ec
from ledger.ec import GroupError, Point

DOMAIN = "baas-vote/v1/"
ELECTION_DOMAIN = DOMAIN + "election"
TRUSTEE_DOMAIN = DOMAIN + "trustee-key"
RANGE_DOMAIN = DOMAIN + "range"
DECRYPT_DOMAIN = DOMAIN + "decrypt"
TRACKER_DOMAIN = DOMAIN + "tracker"
BOARD_DOMAIN = DOMAIN + "board"
CAST_DOMAIN = DOMAIN + "cast"


class ProtocolError(ValueError):
    """Input that is not a well-formed protocol object (wrong shape, bad encoding)."""


def random_scalar() -> int:
    """A uniformly random non-zero scalar (64 random bytes reduced: bias below 2**-256)."""
    while True:
        k = int.from_bytes(secrets.token_bytes(64), "big") % ec.ORDER
        if k:
            return k


def election_parts(tx_hash: str, election: dict[str, Any]) -> list[object]:
    """The transcript parts of the election hash, in this order: the creating transaction,
    the id, the title, opens_at, closes_at, the number of trustees and each trustee, the
    number of questions, then per question its id, title, min_choices, max_choices, number
    of options and per option its id and title. Text as text, counts and times as integer
    parts."""
    def integer(value: Any) -> int:
        if type(value) is not int:
            raise ProtocolError("the election's counts and times are integers")
        return value

    def text(value: Any) -> str:
        if not isinstance(value, str):
            raise ProtocolError("the election's ids and titles are text")
        return value

    trustees = election["trustees"]
    questions = election["questions"]
    parts: list[object] = [text(tx_hash), text(election["id"]), text(election["title"]),
                           integer(election["opens_at"]), integer(election["closes_at"]),
                           len(trustees), *map(text, trustees), len(questions)]
    for q in questions:
        options = q["options"]
        parts += [text(q["id"]), text(q["title"]), integer(q["min_choices"]),
                  integer(q["max_choices"]), len(options)]
        for o in options:
            parts += [text(o["id"]), text(o["title"])]
    return parts


def election_hash(tx_hash: str, election: dict[str, Any]) -> str:
    """The hash every proof of an election binds (hex): its creating transaction and its
    whole definition (``election_parts``)."""
    return ec.transcript(ELECTION_DOMAIN, *election_parts(tx_hash, election)).hex()


def board_start(eh: str) -> str:
    """The bulletin board's hash before any ballot (hex)."""
    return ec.transcript(BOARD_DOMAIN, eh).hex()


def board_next(board: str, tracker: str) -> str:
    """The board's hash after a ballot with ``tracker`` is cast (hex)."""
    return ec.transcript(BOARD_DOMAIN, board, tracker).hex()


def board_hash(eh: str, trackers: Sequence[str]) -> str:
    """The board's hash after the ballots with ``trackers``, in the order cast."""
    board = board_start(eh)
    for t in trackers:
        board = board_next(board, t)
    return board


# did:baas syntax as ledger/did_core.py defines it (a DID, no fragment): the namespace is
# 1..32 of a-z 0-9 '-' not starting or ending with '-', the suffix 26 base32 characters.
DID = re.compile(r"did:baas:[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?:[a-z2-7]{26}")
KEY = re.compile(r"[0-9a-f]{64}")


def voter_kind(voter: Any) -> str | None:
    """"key" for a 64-hex public key, "did" for a did:baas DID, None for anything else. An
    election's roll holds one kind only."""
    if not isinstance(voter, str):
        return None
    if KEY.fullmatch(voter):
        return "key"
    if DID.fullmatch(voter):
        return "did"
    return None


def option_label(question: int, option: int) -> str:
    return f"q{question}/o{option}"


def sum_label(question: int) -> str:
    return f"q{question}/sum"


def cast_message(eh: str, tracker: str) -> str:
    """What a DID voter signs to cast a ballot (checked with ``ctx.did_verify``)."""
    return f"{CAST_DOMAIN}\n{eh}\n{tracker}"


# -- decoding (every input from outside goes through these) -----------------------------

def point(text: Any, what: str = "point") -> Point:
    try:
        return ec.from_hex(text)
    except GroupError as err:
        raise ProtocolError(f"{what}: {err}") from None


def scalar(text: Any, what: str = "scalar") -> int:
    try:
        return ec.scalar_from_hex(text)
    except GroupError as err:
        raise ProtocolError(f"{what}: {err}") from None


def _pair(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ProtocolError(f"{what}: a proof step is [challenge, response]")
    return scalar(value[0], what), scalar(value[1], what)


def _pairs(value: Any, count: int, what: str) -> list[tuple[int, int]]:
    if not isinstance(value, list | tuple) or len(value) != count:
        raise ProtocolError(f"{what}: expected {count} proof steps")
    return [_pair(v, what) for v in value]


def _hex(k: int) -> str:
    return ec.scalar_hex(k)


# -- trustee keys ----------------------------------------------------------------------

@dataclass(frozen=True)
class TrusteeKey:
    secret: int
    public: Point
    proof: tuple[int, int]

    def posted(self) -> dict[str, Any]:
        """What the trustee posts on chain (never the secret)."""
        return {"public": self.public.hex(), "proof": [_hex(c) for c in self.proof]}


def trustee_keygen(eh: str, trustee: str, secret: int | None = None) -> TrusteeKey:
    x = secret if secret is not None else random_scalar()
    public = ec.base_mul(x)
    w = random_scalar()
    c = ec.challenge(TRUSTEE_DOMAIN, eh, trustee, public, ec.base_mul(w))
    return TrusteeKey(x, public, (c, (w + c * x) % ec.ORDER))


def verify_trustee_key(eh: str, trustee: str, posted: Any) -> bool:
    try:
        public = point(_field(posted, "public"), "public")
        c, s = _pair(_field(posted, "proof"), "proof")
    except ProtocolError:
        return False
    if public.is_identity:
        return False
    commitment = ec.sub(ec.base_mul(s), ec.mul(c, public))
    return c == ec.challenge(TRUSTEE_DOMAIN, eh, trustee, public, commitment)


def joint_key(publics: Sequence[Point]) -> Point:
    return ec.add(*publics)


def _field(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise ProtocolError(f"missing {name!r}")
    return obj[name]


# -- encryption and range proofs -------------------------------------------------------

@dataclass(frozen=True)
class Ciphertext:
    a: Point
    b: Point

    def __add__(self, other: Ciphertext) -> Ciphertext:
        return Ciphertext(ec.add(self.a, other.a), ec.add(self.b, other.b))

    def to_json(self) -> dict[str, str]:
        return {"a": self.a.hex(), "b": self.b.hex()}

    @classmethod
    def from_json(cls, value: Any, what: str = "ciphertext") -> Ciphertext:
        return cls(point(_field(value, "a"), what + ".a"), point(_field(value, "b"), what + ".b"))


ZERO = Ciphertext(ec.IDENTITY, ec.IDENTITY)


def encrypt(h: Point, m: int, r: int) -> Ciphertext:
    return Ciphertext(ec.base_mul(r), ec.add(ec.small_multiple(m), ec.mul(r, h)))


def _range_commitments(h: Point, ct: Ciphertext, k: int, c: int, s: int) -> tuple[Point, Point]:
    """(a_k, b_k) recomputed from a compact proof step: s·G − c·A, s·H − c·(B − kG)."""
    a = ec.sub(ec.base_mul(s), ec.mul(c, ct.a))
    b = ec.sub(ec.mul(s, h), ec.mul(c, ec.sub(ct.b, ec.small_multiple(k))))
    return a, b


def _range_challenge(eh: str, voter: str, label: str, h: Point, ct: Ciphertext, lo: int,
                     hi: int, commitments: Sequence[tuple[Point, Point]]) -> int:
    parts: list[object] = [eh, voter, label, h, ct.a, ct.b, lo, hi]
    for a, b in commitments:
        parts += [a, b]
    return ec.challenge(RANGE_DOMAIN, *parts)


def prove_range(eh: str, voter: str, label: str, h: Point, ct: Ciphertext, m: int, r: int,
                lo: int, hi: int) -> list[list[str]]:
    """The compact CDS proof that ``ct`` = encrypt(h, m, r) holds a value in [lo, hi]."""
    if not lo <= m <= hi:
        raise ProtocolError(f"{label}: {m} is outside [{lo}, {hi}]")
    steps: dict[int, tuple[int, int]] = {}
    commitments: list[tuple[Point, Point]] = []
    w = random_scalar()
    for k in range(lo, hi + 1):
        if k == m:
            commitments.append((ec.base_mul(w), ec.mul(w, h)))
        else:
            c_k, s_k = random_scalar(), random_scalar()
            steps[k] = (c_k, s_k)
            commitments.append(_range_commitments(h, ct, k, c_k, s_k))
    c = _range_challenge(eh, voter, label, h, ct, lo, hi, commitments)
    c_m = (c - sum(ck for ck, _ in steps.values())) % ec.ORDER
    steps[m] = (c_m, (w + c_m * r) % ec.ORDER)
    return [[_hex(steps[k][0]), _hex(steps[k][1])] for k in range(lo, hi + 1)]


def verify_range(eh: str, voter: str, label: str, h: Point, ct: Ciphertext, lo: int, hi: int,
                 proof: Any) -> bool:
    try:
        steps = _pairs(proof, hi - lo + 1, label)
    except ProtocolError:
        return False
    commitments = [_range_commitments(h, ct, k, c, s)
                   for k, (c, s) in zip(range(lo, hi + 1), steps, strict=True)]
    total = sum(c for c, _ in steps) % ec.ORDER
    return total == _range_challenge(eh, voter, label, h, ct, lo, hi, commitments)


# -- ballots ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    options: int
    min_choices: int
    max_choices: int

    @classmethod
    def from_election(cls, q: dict[str, Any]) -> Question:
        return cls(len(q["options"]), int(q["min_choices"]), int(q["max_choices"]))


def questions_of(election: dict[str, Any]) -> list[Question]:
    return [Question.from_election(q) for q in election["questions"]]


@dataclass(frozen=True)
class SealedBallot:
    """A ballot and what only its voter's device knows (for a Benaloh challenge)."""
    ballot: dict[str, Any]
    tracker: str
    choices: list[list[int]]
    randomness: list[list[int]]

    def reveal(self) -> dict[str, Any]:
        """What the device shows when the voter challenges (audits) this ballot."""
        return {"choices": self.choices,
                "randomness": [[_hex(r) for r in rs] for rs in self.randomness]}


def encrypt_ballot(eh: str, voter: str, h: Point, questions: Sequence[Question],
                   choices: Sequence[Sequence[int]]) -> SealedBallot:
    """Encrypt ``choices`` (per question, 0/1 per option) with every proof. Refused under
    the identity as joint key (trustee keys that cancel out): B would be the vote itself."""
    if h.is_identity:
        raise ProtocolError("the joint key is the identity: a ballot would not be secret")
    if len(choices) != len(questions):
        raise ProtocolError("one list of choices per question")
    answers, randomness = [], []
    for qi, (q, picks) in enumerate(zip(questions, choices, strict=True)):
        if len(picks) != q.options or any(m not in (0, 1) for m in picks):
            raise ProtocolError(f"question {qi}: one 0 or 1 per option")
        rs = [random_scalar() for _ in picks]
        entries, total = [], ZERO
        for oj, (m, r) in enumerate(zip(picks, rs, strict=True)):
            ct = encrypt(h, m, r)
            total = total + ct
            proof = prove_range(eh, voter, option_label(qi, oj), h, ct, m, r, 0, 1)
            entries.append({**ct.to_json(), "proof": proof})
        proof = prove_range(eh, voter, sum_label(qi), h, total, sum(picks),
                            sum(rs) % ec.ORDER, q.min_choices, q.max_choices)
        answers.append({"choices": entries, "proof": proof})
        randomness.append(rs)
    ballot = {"answers": answers}
    return SealedBallot(ballot, tracker(eh, voter, ballot),
                        [list(p) for p in choices], randomness)


def ciphertexts(ballot: Any, questions: Sequence[Question]) -> list[list[Ciphertext]]:
    """The ballot's ciphertexts after a shape check (ProtocolError names what is wrong)."""
    answers = _field(ballot, "answers")
    if not isinstance(answers, list) or len(answers) != len(questions):
        raise ProtocolError("one answer per question")
    out = []
    for qi, (answer, q) in enumerate(zip(answers, questions, strict=True)):
        entries = _field(answer, "choices")
        if not isinstance(entries, list) or len(entries) != q.options:
            raise ProtocolError(f"question {qi}: one choice per option")
        out.append([Ciphertext.from_json(e, option_label(qi, oj))
                    for oj, e in enumerate(entries)])
    return out


def tracker(eh: str, voter: str, ballot: Any) -> str:
    """The ballot tracker (hex): the hash of the election, the voter and every ciphertext."""
    parts: list[object] = [eh, voter]
    for answer in _field(ballot, "answers"):
        for entry in _field(answer, "choices"):
            parts += [point(_field(entry, "a")), point(_field(entry, "b"))]
    return ec.transcript(TRACKER_DOMAIN, *parts).hex()


def ballot_problem(eh: str, voter: str, h: Point, questions: Sequence[Question],
                   ballot: Any) -> str | None:
    """None for a valid ballot, else the first problem (the label of the failing proof)."""
    try:
        cts = ciphertexts(ballot, questions)
    except ProtocolError as err:
        return f"ballot malformed: {err}"
    for qi, row in enumerate(cts):
        for oj, ct in enumerate(row):
            if ct.a.is_identity:  # r = 0: B is the vote in clear; no honest device makes it
                return f"ballot point invalid for {option_label(qi, oj)}: a is the identity"
    for qi, (answer, row, q) in enumerate(zip(ballot["answers"], cts, questions,
                                                strict=True)):
        total = ZERO
        for oj, ct in enumerate(row):
            total = total + ct
            label = option_label(qi, oj)
            if not verify_range(eh, voter, label, h, ct, 0, 1, answer["choices"][oj].get("proof")):
                return f"ballot proof invalid for {label}"
        if not verify_range(eh, voter, sum_label(qi), h, total, q.min_choices, q.max_choices,
                            answer.get("proof")):
            return f"ballot proof invalid for {sum_label(qi)}"
    return None


def check_spoiled(eh: str, voter: str, h: Point, ballot: Any, reveal: Any,
                  questions: Sequence[Question], expected_tracker: str) -> list[str]:
    """A Benaloh challenge: is ``expected_tracker`` (the one the device showed) this
    ballot's, and does the revealed randomness open the ballot to the revealed choices?
    Returns the problems found (empty: the device encrypted what it showed)."""
    problems: list[str] = []
    try:
        cts = ciphertexts(ballot, questions)
        if tracker(eh, voter, ballot) != expected_tracker:
            problems.append("the tracker is not this ballot's")
        picks, rands = _field(reveal, "choices"), _field(reveal, "randomness")
        for qi, row in enumerate(cts):
            for oj, ct in enumerate(row):
                m, r = picks[qi][oj], scalar(rands[qi][oj])
                if type(m) is not int or m not in (0, 1) or encrypt(h, m, r) != ct:
                    problems.append(f"{option_label(qi, oj)} does not open to {m!r}")
    except (ProtocolError, GroupError, LookupError, TypeError) as err:
        problems.append(f"reveal malformed: {err}")
    return problems


# -- tally and decryption --------------------------------------------------------------

def tally(ballots: Sequence[Any], questions: Sequence[Question]) -> list[list[Ciphertext]]:
    sums = [[ZERO] * q.options for q in questions]
    for ballot in ballots:
        for qi, row in enumerate(ciphertexts(ballot, questions)):
            for oj, ct in enumerate(row):
                sums[qi][oj] = sums[qi][oj] + ct
    return sums


def _decrypt_challenge(eh: str, board: str, trustee: str, label: str, public: Point,
                       ct: Ciphertext, d: Point, t1: Point, t2: Point) -> int:
    return ec.challenge(DECRYPT_DOMAIN, eh, board, trustee, label, public, ct.a, ct.b, d,
                        t1, t2)


def partial_decrypt(eh: str, trustee: str, key: TrusteeKey,
                    tallies: Sequence[Sequence[Ciphertext]],
                    board: str) -> list[list[dict[str, Any]]]:
    """The trustee's shares of the tallies, each proof bound to the board's hash and to
    both halves of its tally (an edited board or tally does not verify)."""
    shares = []
    for qi, row in enumerate(tallies):
        out = []
        for oj, ct in enumerate(row):
            d = ec.mul(key.secret, ct.a)
            w = random_scalar()
            c = _decrypt_challenge(eh, board, trustee, option_label(qi, oj), key.public, ct,
                                   d, ec.base_mul(w), ec.mul(w, ct.a))
            out.append({"d": d.hex(), "proof": [_hex(c), _hex((w + c * key.secret) % ec.ORDER)]})
        shares.append(out)
    return shares


def decryption_problem(eh: str, trustee: str, public: Point,
                       tallies: Sequence[Sequence[Ciphertext]], shares: Any,
                       board: str) -> str | None:
    """None when every share is proven; else the first wrong one."""
    if not isinstance(shares, list) or len(shares) != len(tallies):
        return "decryption malformed: one list of shares per question"
    for qi, (row, got) in enumerate(zip(tallies, shares, strict=True)):
        if not isinstance(got, list) or len(got) != len(row):
            return f"decryption malformed: question {qi} needs one share per option"
        for oj, (ct, share) in enumerate(zip(row, got, strict=True)):
            label = option_label(qi, oj)
            try:
                d = point(_field(share, "d"), label)
                c, s = _pair(_field(share, "proof"), label)
            except ProtocolError as err:
                return f"decryption malformed: {err}"
            t1 = ec.sub(ec.base_mul(s), ec.mul(c, public))
            t2 = ec.sub(ec.mul(s, ct.a), ec.mul(c, d))
            if c != _decrypt_challenge(eh, board, trustee, label, public, ct, d, t1, t2):
                return f"decryption proof invalid for {label}"
    return None


def combine(tallies: Sequence[Sequence[Ciphertext]],
            shares: Sequence[Sequence[Sequence[dict[str, Any]]]]) -> list[list[Point]]:
    """M = B − Σ D per option: count·G once every trustee's share is in."""
    out = []
    for qi, row in enumerate(tallies):
        out.append([ec.sub(ct.b, ec.add(*(point(s[qi][oj]["d"]) for s in shares)))
                    for oj, ct in enumerate(row)])
    return out


def counts(points: Sequence[Sequence[Point]], limit: int) -> list[list[int]]:
    """The counts: m with m·G == M for every option, m in [0, limit] (the number of
    ballots). One table of G, 2G, ... serves every option (limit additions in all)."""
    wanted = {p for row in points for p in row}
    table: dict[Point, int] = {}
    current = ec.IDENTITY
    for m in range(limit + 1):
        if current in wanted and current not in table:
            table[current] = m
            if len(table) == len(wanted):
                break
        current = ec.add(current, ec.GENERATOR)
    out = []
    for row in points:
        missing = [p for p in row if p not in table]
        if missing:
            raise ProtocolError(f"a count above {limit}: the shares do not decrypt the tally")
        out.append([table[p] for p in row])
    return out
