"""Writes of the elections app: what the election commission and the trustees send to a
voting deployment. Each is ONE call of the voting chaincode through the sectors app's
``deployment_call`` (the platform's role and argument checks, signed with the acting
person's own key), with an audit record; voters cast on the public page with their
browser's key (``sectors.services.public_prepare``/``public_submit``), not here.

The platform checks what it can before sending (the shape of an election, the voter ids,
a trustee's proof of its key share, each partial decryption's proofs), so a mistake gets a
clear error with a stable code instead of a refused transaction; the chaincode checks it
all again on chain.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from baas.errors import AppError, Conflict, PermissionDenied, ValidationFailed
from deploy import platform
from elections import choices, selectors
from elections import protocol as P
from sectors import services as sector_services
from sectors.models import Deployment
from sectors.public_views import MAX_BODY_BYTES

VOTER_BATCH = 500  # add_voters takes at most this many public keys per call
DID_BATCH = 200  # and at most this many DIDs (each is checked by hand on chain)
MAX_VOTERS_PER_REQUEST = 5_000  # ten transactions, each waiting for its block
MAX_QUESTIONS, MAX_OPTIONS, MAX_TRUSTEES = 10, 20, 10
MAX_TITLE = 200
# The cast request of the public page carries the ballot and the envelope around it.
ENVELOPE_ROOM = 2048
# The voting contract's own bounds (sectors/bundles/voting/contract.py): a ballot is checked
# in one transaction, 9 multiplications per option and 5 per allowed count of a question.
MAX_BALLOT_MULS = 1000
MAX_TOTAL_OPTIONS = 127
MAX_SHARES = 400  # trustees x options: the election record fits in one query answer


@dataclass(frozen=True)
class ElectionSpec:
    id: str
    title: str
    questions: list[dict[str, Any]]
    trustees: list[str]
    opens_at: int  # block time, seconds
    closes_at: int

    def args(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "questions": self.questions,
                "trustees": self.trustees, "opens_at": self.opens_at,
                "closes_at": self.closes_at}


# --- checks -------------------------------------------------------------------------------
def ballot_bytes(questions: list[dict[str, Any]]) -> int:
    """The size of an encrypted ballot for these questions, as the voter's browser sends it
    (compact JSON): every point 66 hex digits, every scalar 64."""
    point, scalar = "0" * 66, "0" * 64
    answers = []
    for q in questions:
        steps = int(q["max_choices"]) - int(q["min_choices"]) + 1
        answers.append({
            "choices": [{"a": point, "b": point, "proof": [[scalar, scalar]] * 2}
                        for _ in q["options"]],
            "proof": [[scalar, scalar]] * steps})
    return len(json.dumps({"answers": answers}, separators=(",", ":")))


def check_election(spec: ElectionSpec, *, trustee_orgs: list[str],
                   now: int | None = None) -> None:
    if not selectors.election_id_valid(spec.id) or spec.id == "new":
        raise ValidationFailed(
            "invalid_election_id",
            _("An election id is 1 to 40 letters, digits, '.', '_' or '-', starting with a "
              "letter or digit (and not 'new')."))
    if not spec.title.strip() or len(spec.title) > MAX_TITLE:
        raise ValidationFailed("invalid_questions",
                               _("Give the election a title of at most %(max)s characters.")
                               % {"max": MAX_TITLE})
    questions = spec.questions
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise ValidationFailed("invalid_questions",
                               _("An election has 1 to %(max)s questions.")
                               % {"max": MAX_QUESTIONS})
    for n, q in enumerate(questions, 1):
        options = q.get("options") or []
        lo, hi = q.get("min_choices"), q.get("max_choices")
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise ValidationFailed("invalid_questions",
                                   _("Question %(n)s needs 2 to %(max)s options.")
                                   % {"n": n, "max": MAX_OPTIONS})
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi
                and 1 <= hi <= len(options)):
            raise ValidationFailed(
                "invalid_questions",
                _("Question %(n)s: the number of choices must be between 0 and its %(count)s "
                  "options, the least no more than the most, and at least one allowed.")
                % {"n": n, "count": len(options)})
    if not 1 <= len(spec.trustees) <= MAX_TRUSTEES or \
            len(set(spec.trustees)) != len(spec.trustees):
        raise ValidationFailed("trustee_unknown",
                               _("Choose 1 to %(max)s different trustees.")
                               % {"max": MAX_TRUSTEES})
    unknown = [t for t in spec.trustees if t not in trustee_orgs]
    if unknown:
        raise ValidationFailed(
            "trustee_unknown",
            _("%(org)s does not hold the trustee role of this deployment.")
            % {"org": unknown[0][:64]}, details={"trustees": trustee_orgs})
    now = int(time.time()) if now is None else now
    if not spec.opens_at < spec.closes_at or spec.closes_at <= now:
        raise ValidationFailed("invalid_times",
                               _("Voting must close after it opens, and in the future."))
    total = sum(len(q["options"]) for q in questions)
    muls = sum(9 * len(q["options"]) + 5 * (q["max_choices"] - q["min_choices"] + 1)
               for q in questions)
    if total > MAX_TOTAL_OPTIONS or muls > MAX_BALLOT_MULS:
        raise ValidationFailed(
            "ballot_too_large",
            _("A ballot for these questions is too large for the chain to check in one "
              "transaction (%(options)s options in all, at most %(max_options)s; %(muls)s "
              "multiplications, at most %(max_muls)s). Use fewer options or a narrower "
              "range of choices.") % {"options": total, "max_options": MAX_TOTAL_OPTIONS,
                                      "muls": muls, "max_muls": MAX_BALLOT_MULS})
    if len(spec.trustees) * total > MAX_SHARES:
        raise ValidationFailed(
            "too_many_trustees",
            _("%(trustees)s trustees for %(options)s options is too many: trustees times "
              "options is at most %(max)s.") % {"trustees": len(spec.trustees),
                                                 "options": total, "max": MAX_SHARES})
    size = ballot_bytes(questions)
    if size + ENVELOPE_ROOM > MAX_BODY_BYTES:
        raise ValidationFailed(
            "ballot_too_large",
            _("An encrypted ballot for these questions would be %(size)s bytes; the public "
              "page sends at most %(max)s. Use fewer questions, options or choices.")
            % {"size": size, "max": MAX_BODY_BYTES - ENVELOPE_ROOM})


def parse_voters(text: str) -> list[str]:
    """Voter ids from pasted lines (a 64-hex Ed25519 public key or a did:baas DID each;
    blank lines and lines starting with '#' skipped), without duplicates, in order."""
    voters: list[str] = []
    seen: set[str] = set()
    bad: list[int] = []
    for n, raw in enumerate(str(text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # the contract's rule (elections.protocol.voter_kind): a 64-hex public key (any case
        # here, lower-case on chain) or a did:baas DID
        if P.voter_kind(line.lower()) == "key":
            line = line.lower()
        elif P.voter_kind(line) != "did":
            bad.append(n)
            continue
        if line not in seen:
            seen.add(line)
            voters.append(line)
    if bad:
        raise ValidationFailed(
            "invalid_voters",
            _("Line %(line)s is neither a public key (64 hexadecimal characters) nor a "
              "did:baas DID (%(count)s such lines in all).")
            % {"line": bad[0], "count": len(bad)}, details={"lines": bad[:100]})
    if not voters:
        raise ValidationFailed("invalid_voters", _("Paste at least one voter, one a line."))
    if len(voters) > MAX_VOTERS_PER_REQUEST:
        raise ValidationFailed(
            "too_many_voters",
            _("At most %(max)s voters at a time; send the roll in parts.")
            % {"max": MAX_VOTERS_PER_REQUEST})
    return voters


# --- sending ------------------------------------------------------------------------------
def _send(*, tenant: Any, actor: Any, deployment: Deployment, function: str,
          args: dict[str, Any], action: str, election_id: str, request: Any = None,
          metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    result = sector_services.deployment_call(
        tenant=tenant, actor=actor, deployment=deployment, function=function, args=args,
        request=request)
    platform.audit(tenant=tenant, actor=actor, action=action, target=deployment,
                   request=request,
                   metadata={"election": election_id, "function": function,
                             "tx_hash": result.get("hash"), "height": result.get("height"),
                             **(metadata or {})})
    return result


def election_create(*, tenant: Any, actor: Any, deployment: Deployment, spec: ElectionSpec,
                    request: Any = None) -> dict[str, Any]:
    check_election(spec, trustee_orgs=selectors.role_holders(deployment, choices.TRUSTEE))
    return _send(tenant=tenant, actor=actor, deployment=deployment,
                 function="create_election", args=spec.args(), action="election.create",
                 election_id=spec.id, request=request,
                 metadata={"title": spec.title, "trustees": spec.trustees,
                           "opens_at": spec.opens_at, "closes_at": spec.closes_at})


def voters_add(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
               voters: list[str], request: Any = None) -> dict[str, Any]:
    """Put ``voters`` on the roll, in calls of at most 500. A call the chain refuses stops
    the rest; the error says how many went in (sending the whole list again is harmless:
    the contract ignores ids already on the roll)."""
    kinds = [P.voter_kind(v) for v in voters]
    if None in kinds:
        n = kinds.index(None) + 1
        raise ValidationFailed(
            "invalid_voters",
            _("Line %(line)s is neither a public key (64 hexadecimal characters) nor a "
              "did:baas DID (%(count)s such lines in all).")
            % {"line": n, "count": kinds.count(None)})
    dids = kinds.count("did")
    if 0 < dids < len(voters):
        # the contract keeps a roll of one kind, so that one key cannot vote both as itself
        # and as its DID
        raise ValidationFailed(
            "invalid_voters",
            _("A roll holds either public keys or did:baas DIDs, not both: these lines "
              "mix %(keys)s public keys and %(dids)s DIDs.")
            % {"keys": len(voters) - dids, "dids": dids})
    size = DID_BATCH if dids else VOTER_BATCH
    sent = added = 0
    heights = []
    for start in range(0, len(voters), size):
        batch = voters[start:start + size]
        try:
            result = _send(tenant=tenant, actor=actor, deployment=deployment,
                           function="add_voters", args={"id": election_id, "voters": batch},
                           action="election.voters_add", election_id=election_id,
                           request=request, metadata={"count": len(batch), "from": start})
        except AppError as exc:
            if not sent:
                raise
            raise Conflict(
                "voters_partly_added",
                _("%(sent)s of %(total)s voters were added, then this was refused: "
                  "%(reason)s Send the list again: voters already on the roll are skipped.")
                % {"sent": sent, "total": len(voters), "reason": chain_reason(exc)},
                details={"sent": sent, "total": len(voters), "code": exc.code}) from None
        sent += len(batch)
        heights.append(result.get("height"))
        data = result.get("data")
        added += data.get("added", 0) if isinstance(data, dict) else len(batch)
    return {"sent": sent, "added": added, "skipped": sent - added, "batches": len(heights),
            "heights": heights}


def election_open(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
                  request: Any = None) -> dict[str, Any]:
    return _send(tenant=tenant, actor=actor, deployment=deployment, function="open_election",
                 args={"id": election_id}, action="election.open", election_id=election_id,
                 request=request)


def election_close(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
                   request: Any = None) -> dict[str, Any]:
    return _send(tenant=tenant, actor=actor, deployment=deployment,
                 function="close_election", args={"id": election_id},
                 action="election.close", election_id=election_id, request=request)


def result_counts(record: dict[str, Any]) -> list[list[int]]:
    """The counts the tally decrypts to, from the record (every trustee's shares, each
    checked against its proof first). ``Conflict`` with a stable code when it cannot be
    done yet or the shares are wrong."""
    election = record.get("election") or {}
    trustees = list(election.get("trustees") or [])
    decryptions = record.get("decryptions") or {}
    missing = [t for t in trustees if t not in decryptions]
    if missing:
        raise Conflict("decryptions_missing",
                       _("Waiting for the partial decryption of %(orgs)s.")
                       % {"orgs": ", ".join(missing)}, details={"missing": missing})
    try:
        tallies = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
        eh = election["eh"]
        for t in trustees:
            public = P.point(record["trustee_keys"][t]["public"])
            problem = P.decryption_problem(eh, t, public, tallies, decryptions[t],
                                           record["board"])
            if problem:
                raise Conflict("decryption_invalid",
                               _("The partial decryption of %(org)s does not verify: "
                                 "%(problem)s") % {"org": t, "problem": problem})
        points = P.combine(tallies, [decryptions[t] for t in trustees])
        return P.counts(points, len(record.get("ballots") or []))
    except (P.ProtocolError, KeyError, TypeError, IndexError) as err:
        raise Conflict("tally_undecryptable",
                       _("The tally cannot be decrypted from what is on chain: %(why)s")
                       % {"why": str(err)[:200]}) from None


def result_publish(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
                   request: Any = None) -> dict[str, Any]:
    """Read the tally and every trustee's shares from the chain, compute the counts, and
    send them (``publish_result``; the contract checks each count against the tally)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    election = selectors.election_get(deployment=deployment, election_id=election_id)
    if election.get("state") != choices.CLOSED:
        raise Conflict("election_not_closed",
                       _("Results are published once voting has closed."),
                       details={"state": election.get("state")})
    record = selectors.election_record(deployment=deployment, election_id=election_id)
    counts = result_counts(record.data)
    return _send(tenant=tenant, actor=actor, deployment=deployment, function="publish_result",
                 args={"id": election_id, "counts": counts}, action="election.publish",
                 election_id=election_id, request=request,
                 metadata={"ballots": len(record.ballots), "height_read": record.height})


def _as_trustee(tenant: Any, deployment: Deployment, election: dict[str, Any]) -> str:
    org = selectors.reader_org(deployment, tenant)
    if org not in (election.get("trustees") or []):
        raise PermissionDenied("not_a_trustee",
                               _("Your organisation is not a trustee of this election."))
    return org


def trustee_key_post(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
                     public: Any, proof: Any, request: Any = None) -> dict[str, Any]:
    """Post the organisation's public key share with its proof of knowledge (the secret
    stays in the trustee's file; it never reaches the platform)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    election = selectors.election_get(deployment=deployment, election_id=election_id)
    org = _as_trustee(tenant, deployment, election)
    posted = {"public": public, "proof": proof}
    if not P.verify_trustee_key(str(election.get("eh", "")), org, posted):
        raise ValidationFailed(
            "trustee_proof_invalid",
            _("The key share's proof does not verify for this election and organisation; "
              "generate the key again on this page."))
    return _send(tenant=tenant, actor=actor, deployment=deployment,
                 function="post_trustee_key",
                 args={"id": election_id, "public": public, "proof": proof},
                 action="election.trustee_key", election_id=election_id, request=request,
                 metadata={"trustee": org, "public": public})


def decryption_post(*, tenant: Any, actor: Any, deployment: Deployment, election_id: str,
                    shares: Any, request: Any = None) -> dict[str, Any]:
    """Post the organisation's partial decryption of every tally, computed in the browser
    from its secret file; each share's proof is checked against the posted key first."""
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    election = selectors.election_get(deployment=deployment, election_id=election_id)
    org = _as_trustee(tenant, deployment, election)
    record = selectors.election_record(deployment=deployment, election_id=election_id).data
    try:
        public = P.point((record.get("trustee_keys") or {})[org]["public"])
        tallies = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
    except (P.ProtocolError, KeyError, TypeError) as err:
        raise Conflict("election_not_closed",
                       _("There is no tally to decrypt yet (%(why)s).")
                       % {"why": str(err)[:100]}) from None
    problem = P.decryption_problem(str(election.get("eh", "")), org, public, tallies, shares,
                                   str(record.get("board", "")))
    if problem:
        raise ValidationFailed(
            "decryption_invalid",
            _("The partial decryption does not verify (%(problem)s); load the key file of "
              "this election again.") % {"problem": problem})
    return _send(tenant=tenant, actor=actor, deployment=deployment,
                 function="post_decryption", args={"id": election_id, "shares": shares},
                 action="election.decryption", election_id=election_id, request=request,
                 metadata={"trustee": org})


def chain_reason(exc: AppError) -> str:
    """A refusal in words: the contract's own reason when the chain refused."""
    log = str((exc.details or {}).get("log") or "").strip()[:300]
    if exc.code == "tx_rejected" and log:
        return _("The chain refused it: %(reason)s") % {"reason": log}
    if exc.code == "query_failed" and log:
        return _("The look-up was refused: %(reason)s") % {"reason": log}
    from tenants.forms import app_error_text

    return app_error_text(exc)
