# ruff: noqa: F821 - read, write and ContractError are sandbox builtins
# Online voting with encrypted ballots (exponential ElGamal on secp256k1, see
# docs/templates/voting.md; the Python reference is elections/protocol.py). The commission
# creates an election and its roll, the trustees post key shares with Schnorr proofs, voters
# cast encrypted ballots whose range proofs the chain checks (through ctx.ec), the chain
# keeps the encrypted running tally, each trustee posts a proven partial decryption after
# closing, and the commission publishes counts the chain checks against the decrypted tally.
#
# This file is chaincode source (run in the sandbox), not a module the node imports.
#
# Keys:
#   config                        {"roles": {role: [org, ...]}}
#   election/<id>                 the election: questions, schedule, eh, board, state, keys,
#                                 roll_kind ("key" or "did": a roll holds one kind), counts
#   voter/<id>/<voter>            0 while the voter (on the roll) has not voted, else the seq
#   ballot/<id>/<seq, 10 digits>  {seq, voter, tracker, ballot, height, board}
#   tracker/<id>/<tracker>        seq of the ballot with that tracker
#   tally/<id>                    [[{"a", "b"} per option] per question]: running sums
#   decryption/<id>/<org>         a trustee's partial decryption (shares)

ORG_ROLES = ["commission", "trustee"]
DOMAIN = "baas-vote/v1/"
MAX_QUESTIONS = 10
MIN_OPTIONS = 2
MAX_OPTIONS = 20
MAX_TRUSTEES = 10
MAX_VOTERS_PER_CALL = 500
# DIDs cost more to check and to store than keys: add_voters with this many DIDs of the
# longest form (68 characters) stays well within one transaction's steps
MAX_DIDS_PER_CALL = 200
MAX_VOTER_PAGE = 500  # list_voters
MAX_ROLL_IN_RECORD = 1000  # election_record lists the roll up to this size (one range)
MAX_TITLE = 200
MAX_TIME = 1 << 40  # seconds
# did:baas:<namespace>:<suffix> as ledger/did_core.py defines it: a namespace of 1..32
# characters a-z 0-9 '-' (not first or last), a suffix of 26 base32 characters a-z 2-7
DID_PREFIX = "did:baas:"
MAX_NAMESPACE = 32
SUFFIX_LEN = 26
MAX_DID = 9 + MAX_NAMESPACE + 1 + SUFFIX_LEN  # 68
NAMESPACE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
SUFFIX_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
# the host hashes at most 256 parts in one transcript; the election hash takes
# 7 + trustees + 5 per question + 2 per option
MAX_HASH_PARTS = 256
SEQ_DIGITS = 10
MAX_LIST = 100
# A ballot is checked in one transaction (200,000 steps): its proofs take
# 9 multiplications per option (the 0/1 proof) and up to 5 per allowed count of each
# question (the sum proof); create_election refuses an election whose ballot needs more.
MAX_BALLOT_MULS = 1000
MAX_TOTAL_OPTIONS = 127  # a tracker hashes 2 + 2 x options parts (the host takes 256)
# election_record returns every trustee's share of every option (~230 bytes each) with the
# tally, the questions and the roll in one answer (at most 256 KiB)
MAX_SHARES = 400  # trustees x options
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
HEX = "0123456789abcdef"
QUESTION_KEYS = ["id", "title", "options", "min_choices", "max_choices"]
OPTION_KEYS = ["id", "title"]


# -- checks ---------------------------------------------------------------------------------
def deny(ctx, needed):
    # Fails the call with UNAUTHORIZED: a ledger role is at most 64 characters long, so no
    # caller holds this one; the log shows its first 64 characters.
    text = needed + " (a role of the " + ctx.chaincode + " contract)"
    ctx.require_role(text + "." * max(65 - len(text), 0))


def config(ctx):
    cfg = ctx.get("config")
    if cfg is None:
        raise ContractError("the contract is not initialised: call init first")
    return cfg


def org_roles(cfg, org):
    if not org:
        return []
    return [r for r in ORG_ROLES if org in cfg["roles"].get(r, [])]


def require_org_role(ctx, role):
    cfg = config(ctx)
    if role not in org_roles(cfg, ctx.caller.org):
        deny(ctx, role)
    return cfg


def check_id(value, what, max_len=40):
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise ContractError(what + " must be a string of 1.." + str(max_len) + " characters")
    for c in value:
        if c not in ID_CHARS:
            raise ContractError(what + " may only hold letters, digits, '_', '.' and '-'")
    if value[0] in "_.-":
        raise ContractError(what + " must start with a letter or a digit")
    return value


def check_title(value, what="title"):
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TITLE:
        raise ContractError(what + " must be a string of 1.." + str(MAX_TITLE) + " characters")
    return value


def check_int(value, what, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or value > hi:
        raise ContractError(what + " must be an integer between " + str(lo) + " and " + str(hi))
    return value


def is_hex(value, size):
    if not isinstance(value, str) or len(value) != size:
        return False
    for c in value:
        if c not in HEX:
            return False
    return True


def is_did(value):
    """A did:baas DID (no fragment), checked by hand: the sandbox has no re."""
    if not isinstance(value, str) or len(value) > MAX_DID or not value.startswith(DID_PREFIX):
        return False
    parts = value[len(DID_PREFIX):].split(":")
    if len(parts) != 2:
        return False
    namespace = parts[0]
    suffix = parts[1]
    if not 0 < len(namespace) <= MAX_NAMESPACE or namespace[0] == "-" \
            or namespace[-1] == "-" or len(suffix) != SUFFIX_LEN:
        return False
    for c in namespace:
        if c not in NAMESPACE_CHARS:
            return False
    for c in suffix:
        if c not in SUFFIX_CHARS:
            return False
    return True


def voter_kind(value):
    if is_hex(value, 64):
        return "key"
    if is_did(value):
        return "did"
    return None


def check_voter(value):
    kind = voter_kind(value)
    if kind is None:
        raise ContractError("a voter is a 64-hex public key or a did:baas DID: "
                            + str(value)[:80])
    return kind


def load(ctx, id):
    check_id(id, "election id")
    election = ctx.get("election/" + id)
    if election is None:
        raise ContractError("no such election: " + id)
    return election


def now(ctx):
    return ctx.block_time // 1000000000


def require_commission(ctx, id):
    """The election, when the caller is its commission (another commission may not act on
    it)."""
    require_org_role(ctx, "commission")
    election = load(ctx, id)
    if ctx.caller.org != election["commission"]:
        raise ContractError("organisation " + str(ctx.caller.org) + " is not the commission "
                            "of election " + election["id"])
    return election


def require_trustee(ctx, election):
    cfg = require_org_role(ctx, "trustee")
    org = ctx.caller.org
    if org not in election["trustees"]:
        raise ContractError("organisation " + str(org) + " is not a trustee of election "
                            + election["id"])
    return cfg


def option_label(qi, oj):
    return "q" + str(qi) + "/o" + str(oj)


def sum_label(qi):
    return "q" + str(qi) + "/sum"


def pad(seq):
    text = str(seq)
    return "0" * (SEQ_DIGITS - len(text)) + text


def proof_steps(ctx, value, count, what):
    """[[c, s], ...] of hex scalars -> [(c, s), ...] as integers; refuses a bad shape."""
    e = ctx.ec
    if not isinstance(value, list) or len(value) != count:
        raise ContractError(what + ": expected " + str(count) + " proof steps")
    out = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2 or not e.is_scalar(pair[0]) \
                or not e.is_scalar(pair[1]):
            raise ContractError(what + ": a proof step is [challenge, response] as 64-hex "
                                "scalars")
        out.append([e.scalar(pair[0]), e.scalar(pair[1])])
    return out


def proof_pair(ctx, value, what):
    """[c, s] of hex scalars -> [c, s] as integers; refuses a bad shape."""
    e = ctx.ec
    if not isinstance(value, list) or len(value) != 2 or not e.is_scalar(value[0]) \
            or not e.is_scalar(value[1]):
        raise ContractError(what + ": a proof is [challenge, response] as 64-hex scalars")
    return [e.scalar(value[0]), e.scalar(value[1])]


def range_ok(ctx, eh, voter, label, h, a, b, lo, hi, steps):
    """The compact CDS proof that (a, b) under h encrypts some k in [lo, hi]."""
    e = ctx.ec
    g = e.G
    parts = [eh, voter, label, h, a, b, lo, hi]
    total = 0
    k = lo
    for step in steps:
        c = step[0]
        s = step[1]
        parts.append(e.lincomb([[s, g], [-c, a]]))  # s G - c A
        if k == 0:
            parts.append(e.lincomb([[s, h], [-c, b]]))  # s H - c B
        else:
            parts.append(e.lincomb([[s, h], [-c, b], [c * k, g]]))  # s H - c (B - k G)
        total = total + c
        k = k + 1
    return total % e.ORDER == e.challenge(DOMAIN + "range", parts)


def election_parts(tx_hash, id, title, questions, trustees, opens_at, closes_at):
    """What the election hash hashes, in order (docs/templates/voting.md)."""
    parts = [tx_hash, id, title, opens_at, closes_at, len(trustees)]
    for org in trustees:
        parts.append(org)
    parts.append(len(questions))
    for q in questions:
        parts.extend([q["id"], q["title"], q["min_choices"], q["max_choices"],
                      len(q["options"])])
        for o in q["options"]:
            parts.append(o["id"])
            parts.append(o["title"])
    return parts


def ballot_muls(questions):
    total = 0
    for q in questions:
        total = total + 9 * len(q["options"]) + 5 * (q["max_choices"] - q["min_choices"] + 1)
    return total


# -- setup ----------------------------------------------------------------------------------
@write
def init(ctx, roles):
    if not ctx.caller.has_role("admin"):
        deny(ctx, "network admin")
    if ctx.has("config"):
        raise ContractError("the contract is already initialised")
    if not isinstance(roles, dict):
        raise ContractError("roles must be an object {role: [organisation, ...]}")
    table = {}
    for role in ORG_ROLES:
        orgs = roles.get(role, [])
        if not isinstance(orgs, list) or len(orgs) > 32:
            raise ContractError("roles." + role + " must be a list of organisation ids")
        for org in orgs:
            if not isinstance(org, str) or not 0 < len(org) <= 64:
                raise ContractError("roles." + role + " must be a list of organisation ids")
        table[role] = orgs
    for role in roles:
        if role not in ORG_ROLES:
            raise ContractError("unknown organisation role: " + str(role)[:32])
    if not table["commission"]:
        raise ContractError("at least one organisation must hold the commission role")
    ctx.put("config", {"roles": table})
    ctx.emit("initialised", id=ctx.chaincode, by=ctx.caller.org or "")
    return {"roles": table}


@read
def roles_of(ctx, org=None, public_key=None):
    cfg = config(ctx)
    held = []
    if org is not None:
        held.extend(org_roles(cfg, org))
    if public_key is not None:
        if not is_hex(public_key, 64):
            raise ContractError("public_key must be 64 lowercase hex characters")
        held.append("voter")  # any key may cast; each election's roll decides
    return held


# -- the election ---------------------------------------------------------------------------
def checked_questions(questions):
    if not isinstance(questions, list) or not 0 < len(questions) <= MAX_QUESTIONS:
        raise ContractError("questions must be a list of 1.." + str(MAX_QUESTIONS))
    out = []
    seen = {}
    total = 0
    for qi, q in enumerate(questions):
        where = "question " + str(qi)
        if not isinstance(q, dict):
            raise ContractError(where + " must be an object")
        for key in q:
            if key not in QUESTION_KEYS:
                raise ContractError(where + ": unknown field " + str(key)[:32])
        check_id(q.get("id"), where + " id")
        if q["id"] in seen:
            raise ContractError("two questions have the id " + q["id"])
        seen[q["id"]] = True
        check_title(q.get("title"), where + " title")
        options = q.get("options")
        if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise ContractError(where + " must have " + str(MIN_OPTIONS) + ".."
                                + str(MAX_OPTIONS) + " options")
        opts = []
        ids = {}
        for oj, o in enumerate(options):
            owhere = where + " option " + str(oj)
            if not isinstance(o, dict):
                raise ContractError(owhere + " must be an object")
            for key in o:
                if key not in OPTION_KEYS:
                    raise ContractError(owhere + ": unknown field " + str(key)[:32])
            check_id(o.get("id"), owhere + " id")
            if o["id"] in ids:
                raise ContractError(where + ": two options have the id " + o["id"])
            ids[o["id"]] = True
            check_title(o.get("title"), owhere + " title")
            opts.append({"id": o["id"], "title": o["title"]})
        lo = check_int(q.get("min_choices"), where + " min_choices", 0, len(opts))
        hi = check_int(q.get("max_choices"), where + " max_choices", 0, len(opts))
        if lo > hi:
            raise ContractError(where + ": min_choices is above max_choices")
        total = total + len(opts)
        out.append({"id": q["id"], "title": q["title"], "options": opts,
                    "min_choices": lo, "max_choices": hi})
    if total > MAX_TOTAL_OPTIONS:
        raise ContractError("an election has at most " + str(MAX_TOTAL_OPTIONS)
                            + " options in all")
    muls = ballot_muls(out)
    if muls > MAX_BALLOT_MULS:
        raise ContractError("ballots too large to check in one transaction: "
                            + str(muls) + " multiplications, at most "
                            + str(MAX_BALLOT_MULS) + " (fewer options or a narrower "
                            "min_choices..max_choices)")
    return out


@write
def create_election(ctx, id, title, questions, trustees, opens_at, closes_at):
    cfg = require_org_role(ctx, "commission")
    check_id(id, "election id")
    check_title(title)
    qs = checked_questions(questions)
    if not isinstance(trustees, list) or not 0 < len(trustees) <= MAX_TRUSTEES:
        raise ContractError("trustees must be a list of 1.." + str(MAX_TRUSTEES)
                            + " organisation ids")
    seen = {}
    for org in trustees:
        if not isinstance(org, str) or org not in cfg["roles"].get("trustee", []):
            raise ContractError("trustee " + str(org)[:64]
                                + " is not an organisation holding the trustee role")
        if org in seen:
            raise ContractError("trustee " + org + " is listed twice")
        seen[org] = True
    options = 0
    for q in qs:
        options = options + len(q["options"])
    if len(trustees) * options > MAX_SHARES:
        raise ContractError("too many trustees for this many options: trustees x options is "
                            "at most " + str(MAX_SHARES) + " (the election record must fit "
                            "in one answer)")
    check_int(opens_at, "opens_at", 0, MAX_TIME)
    check_int(closes_at, "closes_at", 0, MAX_TIME)
    if closes_at <= opens_at:
        raise ContractError("closes_at must be after opens_at")
    parts = election_parts(ctx.tx_hash, id, title, qs, trustees, opens_at, closes_at)
    if len(parts) > MAX_HASH_PARTS:
        raise ContractError("the election is too large to hash: 7 + trustees + 5 per "
                            "question + 2 per option is " + str(len(parts)) + ", at most "
                            + str(MAX_HASH_PARTS) + " (fewer options or questions)")
    if ctx.has("election/" + id):
        raise ContractError("election " + id + " already exists")
    eh = ctx.ec.transcript(DOMAIN + "election", parts)
    election = {"id": id, "title": title, "questions": qs, "trustees": trustees,
                "opens_at": opens_at, "closes_at": closes_at, "eh": eh,
                "tx_hash": ctx.tx_hash, "state": "setup", "commission": ctx.caller.org,
                "voters": 0, "roll_kind": None, "ballots": 0,
                "board": ctx.ec.transcript(DOMAIN + "board", [eh]), "trustee_keys": {},
                "joint_key": None, "decrypted": [], "result": None,
                "created_height": ctx.block_height}
    ctx.put("election/" + id, election)
    ctx.put("tally/" + id, [[{"a": "00", "b": "00"} for o in q["options"]] for q in qs])
    ctx.emit("election_created", id=id, by=ctx.caller.org, eh=eh)
    return election


KIND_NAMES = {"key": "public keys", "did": "did:baas DIDs"}


@write
def add_voters(ctx, id, voters):
    election = require_commission(ctx, id)
    if election["state"] != "setup":
        raise ContractError("voters can only be added before the election opens")
    if not isinstance(voters, list) or not 0 < len(voters) <= MAX_VOTERS_PER_CALL:
        raise ContractError("voters must be a list of 1.." + str(MAX_VOTERS_PER_CALL))
    # A roll is all public keys or all DIDs (the first add_voters decides): one holder on
    # the roll both as a key and as a DID whose key it is would vote twice.
    kind = election["roll_kind"]
    if kind == "did" and len(voters) > MAX_DIDS_PER_CALL:
        raise ContractError("at most " + str(MAX_DIDS_PER_CALL) + " DIDs per call")
    for voter in voters:
        got = check_voter(voter)
        if kind is None:
            kind = got
            if kind == "did" and len(voters) > MAX_DIDS_PER_CALL:  # before checking them all
                raise ContractError("at most " + str(MAX_DIDS_PER_CALL) + " DIDs per call")
        elif got != kind:
            raise ContractError("a roll holds either public keys or did:baas DIDs, not both: "
                                "the roll of " + id + " holds " + KIND_NAMES[kind])
    election["roll_kind"] = kind
    added = 0
    duplicates = 0
    for voter in voters:
        if ctx.has("voter/" + id + "/" + voter):
            duplicates = duplicates + 1
        else:
            ctx.put("voter/" + id + "/" + voter, 0)
            added = added + 1
    election["voters"] = election["voters"] + added
    ctx.put("election/" + id, election)
    ctx.emit("voters_added", id=id, by=ctx.caller.org, added=added, duplicates=duplicates)
    return {"added": added, "duplicates": duplicates, "voters": election["voters"]}


@write
def post_trustee_key(ctx, id, public, proof):
    election = load(ctx, id)
    require_trustee(ctx, election)
    org = ctx.caller.org
    if election["state"] != "setup":
        raise ContractError("trustee keys can only be posted before the election opens")
    if org in election["trustee_keys"]:
        raise ContractError("trustee " + org + " has already posted its key")
    e = ctx.ec
    if not e.is_point(public) or public == e.IDENTITY:
        raise ContractError("the trustee key is not a point")
    pair = proof_pair(ctx, proof, "trustee key proof")
    c = pair[0]
    s = pair[1]
    t = e.lincomb([[s, e.G], [-c, public]])  # s G - c X
    if c != e.challenge(DOMAIN + "trustee-key", [election["eh"], org, public, t]):
        raise ContractError("trustee key proof invalid")
    election["trustee_keys"][org] = {"public": public, "proof": [proof[0], proof[1]]}
    ctx.put("election/" + id, election)
    ctx.emit("trustee_key_posted", id=id, by=org, public=public)
    return {"trustee": org, "public": public}


@write
def open_election(ctx, id):
    election = require_commission(ctx, id)
    if election["state"] != "setup":
        raise ContractError("election " + id + " is already " + election["state"])
    missing = [t for t in election["trustees"] if t not in election["trustee_keys"]]
    if missing:
        raise ContractError("trustee keys missing from: " + ", ".join(missing))
    if election["voters"] < 1:
        raise ContractError("the roll is empty: add voters first")
    t = now(ctx)
    if t < election["opens_at"]:
        raise ContractError("voting has not opened: it opens at " + str(election["opens_at"]))
    if t >= election["closes_at"]:
        raise ContractError("voting has closed: it closed at " + str(election["closes_at"]))
    publics = [election["trustee_keys"][t]["public"] for t in election["trustees"]]
    joint = ctx.ec.add(*publics)
    if joint == ctx.ec.IDENTITY:
        raise ContractError("the trustee keys cancel out: the joint key would be the identity "
                            "and ballots would not be secret")
    election["joint_key"] = joint
    election["state"] = "open"
    election["opened_height"] = ctx.block_height
    ctx.put("election/" + id, election)
    ctx.emit("election_opened", id=id, by=ctx.caller.org, joint_key=election["joint_key"])
    return election


# -- casting --------------------------------------------------------------------------------
def ballot_points(ctx, election, ballot):
    """[[(a, b, proof), ...], ...] and the sum proofs, after the shape and point checks."""
    e = ctx.ec
    qs = election["questions"]
    if not isinstance(ballot, dict) or len(ballot) != 1 or "answers" not in ballot:
        raise ContractError("ballot malformed: an object with answers only")
    answers = ballot["answers"]
    if not isinstance(answers, list) or len(answers) != len(qs):
        raise ContractError("ballot malformed: one answer per question")
    rows = []
    for qi, answer in enumerate(answers):
        options = len(qs[qi]["options"])
        if not isinstance(answer, dict) or len(answer) != 2 or "choices" not in answer \
                or "proof" not in answer:
            raise ContractError("ballot malformed: answer " + str(qi)
                                + " is {choices, proof}")
        choices = answer["choices"]
        if not isinstance(choices, list) or len(choices) != options:
            raise ContractError("ballot malformed: question " + str(qi) + " needs "
                                + str(options) + " choices")
        row = []
        for oj, choice in enumerate(choices):
            label = option_label(qi, oj)
            if not isinstance(choice, dict) or len(choice) != 3 or "a" not in choice \
                    or "b" not in choice or "proof" not in choice:
                raise ContractError("ballot malformed: " + label + " is {a, b, proof}")
            if not e.is_point(choice["a"]) or not e.is_point(choice["b"]):
                raise ContractError("ballot point invalid for " + label)
            if choice["a"] == e.IDENTITY:  # r = 0: B is the vote in clear
                raise ContractError("ballot point invalid for " + label + ": a is the identity")
            row.append(choice)
        rows.append(row)
    return rows


@write
def cast(ctx, id, ballot, voter=None, auth=None):
    election = load(ctx, id)
    state = election["state"]
    t = now(ctx)
    if state == "setup" or t < election["opens_at"]:
        raise ContractError("voting has not opened")
    if state != "open" or t >= election["closes_at"]:
        raise ContractError("voting has closed")
    if voter is None:
        if auth is not None:
            raise ContractError("auth goes with voter (a did:baas DID)")
        voter = ctx.caller.public_key
    elif not is_did(voter):
        raise ContractError("voter must be a did:baas DID (a key votes as the signer)")
    elif not is_hex(auth, 128):
        raise ContractError("auth must be the DID's signature: 128 lowercase hex characters")
    on_roll = ctx.get("voter/" + id + "/" + voter)
    if on_roll is None:
        raise ContractError("voter not on the roll")
    if on_roll != 0:
        raise ContractError("already voted")
    rows = ballot_points(ctx, election, ballot)
    e = ctx.ec
    eh = election["eh"]
    parts = [eh, voter]
    for row in rows:
        for choice in row:
            parts.append(choice["a"])
            parts.append(choice["b"])
    tracker = e.transcript(DOMAIN + "tracker", parts)
    if auth is not None:
        message = DOMAIN + "cast\n" + eh + "\n" + tracker
        if not ctx.did_verify(voter, message, auth):
            raise ContractError("voter signature invalid")
    h = election["joint_key"]
    tally = ctx.get("tally/" + id)
    for qi, row in enumerate(rows):
        q = election["questions"][qi]
        sum_a = []
        sum_b = []
        for oj, choice in enumerate(row):
            label = option_label(qi, oj)
            steps = proof_steps(ctx, choice["proof"], 2, "ballot proof for " + label)
            if not range_ok(ctx, eh, voter, label, h, choice["a"], choice["b"], 0, 1, steps):
                raise ContractError("ballot proof invalid for " + label)
            sum_a.append(choice["a"])
            sum_b.append(choice["b"])
        lo = q["min_choices"]
        hi = q["max_choices"]
        label = sum_label(qi)
        steps = proof_steps(ctx, ballot["answers"][qi]["proof"], hi - lo + 1,
                            "ballot proof for " + label)
        if not range_ok(ctx, eh, voter, label, h, e.add(*sum_a), e.add(*sum_b), lo, hi,
                        steps):
            raise ContractError("ballot proof invalid for " + label)
        for oj, choice in enumerate(row):
            cell = tally[qi][oj]
            tally[qi][oj] = {"a": e.add(cell["a"], choice["a"]),
                             "b": e.add(cell["b"], choice["b"])}
    seq = election["ballots"] + 1
    election["ballots"] = seq
    board = e.transcript(DOMAIN + "board", [election["board"], tracker])
    election["board"] = board
    entry = {"seq": seq, "voter": voter, "tracker": tracker, "ballot": ballot,
             "height": ctx.block_height, "board": board}
    ctx.put("ballot/" + id + "/" + pad(seq), entry)
    ctx.put("voter/" + id + "/" + voter, seq)
    ctx.put("tracker/" + id + "/" + tracker, seq)
    ctx.put("tally/" + id, tally)
    ctx.put("election/" + id, election)
    ctx.emit("ballot_cast", id=id, seq=seq, tracker=tracker, voter=voter)
    return {"seq": seq, "tracker": tracker, "board": board}


@write
def close_election(ctx, id):
    config(ctx)
    election = load(ctx, id)
    if election["state"] == "setup":
        raise ContractError("voting has not opened: the election was never opened")
    if election["state"] != "open":
        raise ContractError("election " + id + " is already " + election["state"])
    if now(ctx) < election["closes_at"]:
        raise ContractError("voting is still open until " + str(election["closes_at"]))
    election["state"] = "closed"
    election["closed_height"] = ctx.block_height
    ctx.put("election/" + id, election)
    ctx.emit("election_closed", id=id, by=ctx.caller.org or ctx.caller.public_key,
             ballots=election["ballots"])
    return election


# -- decryption and result ------------------------------------------------------------------
def require_closed(election, what):
    state = election["state"]
    if state == "setup" or state == "open":
        raise ContractError(what + ": the election is not closed yet")
    if state == "published":
        raise ContractError(what + ": the result is already published")


@write
def post_decryption(ctx, id, shares):
    election = load(ctx, id)
    require_trustee(ctx, election)
    org = ctx.caller.org
    require_closed(election, "decryption refused")
    if org in election["decrypted"]:
        raise ContractError("trustee " + org + " has already posted its decryption")
    qs = election["questions"]
    if not isinstance(shares, list) or len(shares) != len(qs):
        raise ContractError("decryption malformed: one list of shares per question")
    e = ctx.ec
    g = e.G
    eh = election["eh"]
    board = election["board"]
    public = election["trustee_keys"][org]["public"]
    tally = ctx.get("tally/" + id)
    for qi, row in enumerate(shares):
        if not isinstance(row, list) or len(row) != len(qs[qi]["options"]):
            raise ContractError("decryption malformed: question " + str(qi)
                                + " needs one share per option")
        for oj, share in enumerate(row):
            label = option_label(qi, oj)
            if not isinstance(share, dict) or len(share) != 2 or "d" not in share \
                    or "proof" not in share:
                raise ContractError("decryption malformed: " + label + " is {d, proof}")
            d = share["d"]
            if not e.is_point(d):
                raise ContractError("decryption point invalid for " + label)
            pair = proof_pair(ctx, share["proof"], "decryption proof for " + label)
            c = pair[0]
            s = pair[1]
            a = tally[qi][oj]["a"]
            b = tally[qi][oj]["b"]
            t1 = e.lincomb([[s, g], [-c, public]])  # s G - c X
            t2 = e.lincomb([[s, a], [-c, d]])  # s A - c D
            # bound to this board and both halves of this tally
            if c != e.challenge(DOMAIN + "decrypt",
                                [eh, board, org, label, public, a, b, d, t1, t2]):
                raise ContractError("decryption proof invalid for " + label)
    ctx.put("decryption/" + id + "/" + org, shares)
    election["decrypted"].append(org)
    ctx.put("election/" + id, election)
    ctx.emit("decryption_posted", id=id, by=org)
    return {"trustee": org, "decrypted": len(election["decrypted"]),
            "trustees": len(election["trustees"])}


@write
def publish_result(ctx, id, counts):
    election = require_commission(ctx, id)
    require_closed(election, "result refused")
    missing = [t for t in election["trustees"] if t not in election["decrypted"]]
    if missing:
        raise ContractError("decryptions missing from: " + ", ".join(missing))
    qs = election["questions"]
    if not isinstance(counts, list) or len(counts) != len(qs):
        raise ContractError("counts malformed: one list of counts per question")
    e = ctx.ec
    tally = ctx.get("tally/" + id)
    shares = [ctx.get("decryption/" + id + "/" + t) for t in election["trustees"]]
    ballots = election["ballots"]
    for qi, row in enumerate(counts):
        if not isinstance(row, list) or len(row) != len(qs[qi]["options"]):
            raise ContractError("counts malformed: question " + str(qi)
                                + " needs one count per option")
        for oj, count in enumerate(row):
            label = option_label(qi, oj)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0 \
                    or count > ballots:
                raise ContractError("count for " + label + " must be an integer between 0 "
                                    "and " + str(ballots))
            # count G + sum of D == B  <=>  count G == B - sum of D
            points = [e.small(count)] + [s[qi][oj]["d"] for s in shares]
            if e.add(*points) != tally[qi][oj]["b"]:
                raise ContractError("count for " + label + " does not match the decrypted "
                                    "tally")
    election["result"] = counts
    election["state"] = "published"
    election["published_height"] = ctx.block_height
    ctx.put("election/" + id, election)
    ctx.emit("result_published", id=id, by=ctx.caller.org, ballots=ballots)
    return election


# -- reads ----------------------------------------------------------------------------------
@read
def get_election(ctx, id):
    check_id(id, "election id")
    return ctx.get("election/" + id)


@read
def list_elections(ctx):
    rows = ctx.range("election/", "election0", limit=100)
    keys = ["id", "title", "state", "opens_at", "closes_at", "voters", "ballots", "trustees"]
    return [{k: row[1][k] for k in keys} for row in rows]  # summaries: elections are large


@read
def get_ballot(ctx, id, seq):
    check_id(id, "election id")
    check_int(seq, "seq", 1, 10 ** SEQ_DIGITS - 1)
    return ctx.get("ballot/" + id + "/" + pad(seq))


@read
def list_ballots(ctx, id, after=0, limit=MAX_LIST):
    check_id(id, "election id")
    check_int(after, "after", 0, 10 ** SEQ_DIGITS - 2)
    check_int(limit, "limit", 1, MAX_LIST)
    rows = ctx.range("ballot/" + id + "/" + pad(after + 1), "ballot/" + id + "0",
                     limit=100)
    return [row[1] for row in rows[:limit]]


@read
def list_voters(ctx, id, after=None, limit=MAX_VOTER_PAGE):
    """The roll in key order: up to ``limit`` voter ids after the voter id ``after``."""
    check_id(id, "election id")
    check_int(limit, "limit", 1, MAX_VOTER_PAGE)
    prefix = "voter/" + id + "/"
    start = prefix
    if after is not None:
        check_voter(after)
        start = prefix + after
    rows = ctx.range(start, "voter/" + id + "0", limit=501)  # MAX_VOTER_PAGE + 1
    cut = len(prefix)
    out = []
    for row in rows:
        voter = row[0][cut:]
        if voter != after and len(out) < limit:
            out.append(voter)
    return out


@read
def find_tracker(ctx, id, tracker):
    check_id(id, "election id")
    if not is_hex(tracker, 64):
        raise ContractError("a tracker is 64 lowercase hex characters")
    seq = ctx.get("tracker/" + id + "/" + tracker)
    if seq is None:
        return None
    entry = ctx.get("ballot/" + id + "/" + pad(seq))
    return {"seq": seq, "voter": entry["voter"], "tracker": tracker,
            "height": entry["height"]}


@read
def election_record(ctx, id):
    check_id(id, "election id")
    election = ctx.get("election/" + id)
    if election is None:
        return None
    roll = None
    if election["voters"] <= MAX_ROLL_IN_RECORD:
        rows = ctx.range("voter/" + id + "/", "voter/" + id + "0", limit=1000)
        cut = len("voter/" + id + "/")
        roll = [row[0][cut:] for row in rows]
    decryptions = None
    if election["decrypted"]:
        decryptions = {}
        for org in election["decrypted"]:
            decryptions[org] = ctx.get("decryption/" + id + "/" + org)
    keys = ["id", "title", "questions", "trustees", "opens_at", "closes_at", "eh", "tx_hash"]
    return {
        "format": "baas-election-record/1",
        "election": {k: election[k] for k in keys},
        "trustee_keys": election["trustee_keys"],
        "joint_key": election["joint_key"],
        "roll": roll,
        "ballot_count": election["ballots"],
        "board": election["board"],
        "tally": ctx.get("tally/" + id),
        "decryptions": decryptions,
        "result": election["result"],
    }
