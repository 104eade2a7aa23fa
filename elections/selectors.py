"""Reads of the elections app: which deployments run the voting bundle, and what the chain
holds about their elections (the ``voting`` chaincode's read functions, which anyone may
call), with the verifier's verdict on an election's record.

Everything about an election is chain state; nothing is kept in the database. A record
(``election_record`` plus every ballot and, above 1,000 voters, the roll, paged) is read
from ONE node at ONE height, so the tally and the ballots it is checked against are the
same moment's. The verdict is cached per the election's state as the cheap ``get_election``
read shows it (ballots, board, state, result, trustees' keys and decryptions), so a page
view at a new height whose election did not change (blocks come every few seconds, most of
them empty) reuses the verdict instead of reading every ballot and checking every proof
again; one request at a time verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from django.core.cache import cache

from baas.errors import AppError, NotFound
from deploy import gateway
from deploy.models import Network, NetworkIdentity, NetworkMembership
from elections.verify import RECORD_FORMAT, Invalid, verify_record
from sectors import selectors as sector_selectors
from sectors.models import Deployment

T = TypeVar("T")

# The read functions these pages need; a deployment whose bundle lacks one is not a
# voting deployment (whatever its name).
NEEDED = frozenset({"create_election", "add_voters", "cast", "get_election",
                    "list_elections", "election_record", "list_ballots", "list_voters",
                    "find_tracker"})
ELECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")  # the bundle's id rule
TRACKER = re.compile(r"[0-9a-f]{64}")
BALLOT_PAGE = 100  # what list_ballots answers at most per call (the bundle's limit)
BOARD_PAGE = 50
VOTER_PAGE = 500  # what list_voters answers at most per call (the bundle's limit)
MAX_VOTERS_READ = 1_000_000  # a bound on one roll read (2,000 pages)
CACHE_SECONDS = 24 * 3600
MAX_BALLOTS_READ = 200_000  # a bound on one record read (2,000 pages)
VERIFY_LOCK_SECONDS = 900  # one verification at most (200,000 ballots at ~2 ms each)


# --- deployments ------------------------------------------------------------------------
def is_voting(deployment: Deployment) -> bool:
    manifest = (deployment.active.manifest if deployment.active else None) or {}
    names = {f.get("name") for f in manifest.get("functions") or [] if isinstance(f, dict)}
    return NEEDED <= names


def voting_deployment_get(*, tenant: Any, deployment_id: Any) -> Deployment:
    """A deployment of the voting bundle on a network ``tenant`` may read (404 otherwise,
    also for another tenant's)."""
    deployment = sector_selectors.deployment_get(tenant=tenant, deployment_id=deployment_id)
    if not is_voting(deployment):
        raise NotFound("not_found", "Deployment not found.")
    return deployment


def voting_public_get(*, deployment_id: Any) -> Deployment:
    """A voting deployment with public pages (``sectors.selectors.deployment_public_get``)."""
    deployment = sector_selectors.deployment_public_get(deployment_id=deployment_id)
    if not is_voting(deployment):
        raise NotFound("not_found", "Deployment not found.")
    return deployment


def election_id_valid(election_id: Any) -> bool:
    return isinstance(election_id, str) and bool(ELECTION_ID.fullmatch(election_id))


def reader_org(deployment: Deployment, tenant: Any) -> str:
    """The organisation id of ``tenant`` on the deployment's network."""
    identity = NetworkIdentity.objects.filter(network=deployment.network, tenant=tenant).first()
    return identity.organisation_id if identity else tenant.slug


def organisation_names(network: Network) -> dict[str, str]:
    """Organisation id on chain -> the organisation's name, for the network's owner and
    members."""
    names = {network.tenant.slug: network.tenant.name}
    for m in NetworkMembership.objects.filter(network=network).select_related("tenant"):
        names[m.tenant.slug] = m.tenant.name
    for identity in NetworkIdentity.objects.filter(network=network).select_related("tenant"):
        names[identity.organisation_id] = identity.tenant.name
    return names


def role_holders(deployment: Deployment, role: str) -> list[str]:
    """Organisations the deployment's role table gives ``role`` (chosen at deploy time)."""
    return [str(o) for o in (deployment.roles or {}).get(role) or []]


# --- reading the chain ------------------------------------------------------------------
def _read(network: Network, fn: Callable[[Any], T]) -> T:
    """Run ``fn(client)`` against one node that answers; the node's refusals become
    ``query_failed`` / ``ledger_error``, no node at all ``gateway_unavailable``."""
    from ledger.client import QueryFailed, RpcError

    def call(client: Any) -> T:
        try:
            return fn(client)
        except QueryFailed as exc:
            raise AppError("query_failed", f"The query failed: {exc.log}", status=422,
                           details={"log": exc.log}) from None
        except RpcError as exc:
            raise AppError("ledger_error", f"The node refused the request: {exc.message}",
                           status=422, details={"rpc_code": exc.code}) from None

    return gateway.with_failover(network, call)


def _call(client: Any, deployment: Deployment, function: str, args: dict[str, Any],
          height: int = 0) -> Any:
    return client.call(deployment.name, function, args, height=height)


def _items(answer: Any, kind: type[T]) -> list[T]:
    """The entries of type ``kind`` in a list answer. A deployment may run a custom bundle
    that names the same functions; whatever shape its answer has (a number, an object),
    a page shows what fits, never an error."""
    return [item for item in answer if isinstance(item, kind)] \
        if isinstance(answer, list) else []


def election_list(*, deployment: Deployment) -> list[dict[str, Any]]:
    """The deployment's elections as ``list_elections`` answers them (objects with ``id``,
    ``title`` and ``state``), newest first when the chain orders them so."""
    answer = _read(deployment.network,
                   lambda c: _call(c, deployment, "list_elections", {}))
    return [e for e in _items(answer, dict) if "id" in e]


def election_get(*, deployment: Deployment, election_id: str) -> dict[str, Any]:
    """One election (``get_election``); ``NotFound`` when the chain has none by that id."""
    if not election_id_valid(election_id):
        raise NotFound("election_not_found", "No such election.")
    try:
        answer = _read(deployment.network,
                       lambda c: _call(c, deployment, "get_election", {"id": election_id}))
    except AppError as exc:
        if exc.code == "query_failed":  # the contract refuses an unknown id
            raise NotFound("election_not_found", "No such election.",
                           details={"log": (exc.details or {}).get("log", "")}) from None
        raise
    if not isinstance(answer, dict):
        raise NotFound("election_not_found", "No such election.")
    return answer


def ballot_page(*, deployment: Deployment, election_id: str, after: int = 0,
                limit: int = BOARD_PAGE) -> list[dict[str, Any]]:
    """Cast ballots after sequence number ``after``, oldest first (the bulletin board)."""
    limit = max(1, min(BALLOT_PAGE, limit))
    answer = _read(deployment.network, lambda c: _call(
        c, deployment, "list_ballots", {"id": election_id, "after": after, "limit": limit}))
    return _items(answer, dict)


def tracker_find(*, deployment: Deployment, election_id: str,
                 tracker: str) -> dict[str, Any] | None:
    """The ballot with that tracker (64 lower-case hex), or None."""
    tracker = tracker.strip().lower()
    if not TRACKER.fullmatch(tracker):
        return None
    answer = _read(deployment.network, lambda c: _call(
        c, deployment, "find_tracker", {"id": election_id, "tracker": tracker}))
    return answer if isinstance(answer, dict) else None


@dataclass(frozen=True)
class Record:
    """An election record (spec 14's export format) read at ``height``."""
    height: int
    data: dict[str, Any]
    election: dict[str, Any] | None = None  # get_election at the same height

    @property
    def ballots(self) -> list[dict[str, Any]]:
        return self.data.get("ballots") or []


def _roll_at(client: Any, deployment: Deployment, election_id: str, height: int) -> list[str]:
    """The whole roll at ``height``, paged with ``list_voters`` (``election_record`` leaves
    it out above 1,000 voters)."""
    roll: list[str] = []
    after: str | None = None
    while len(roll) < MAX_VOTERS_READ:
        args: dict[str, Any] = {"id": election_id, "limit": VOTER_PAGE}
        if after is not None:
            args["after"] = after
        page = _call(client, deployment, "list_voters", args, height)
        page = _items(page, str)
        roll.extend(page)
        if len(page) < VOTER_PAGE:
            break
        after = page[-1]
    return roll


def _record_at(client: Any, deployment: Deployment, election_id: str) -> Record:
    height = client.height()
    record = _call(client, deployment, "election_record", {"id": election_id}, height)
    if not isinstance(record, dict):
        raise NotFound("election_not_found", "No such election.")
    if record.get("roll") is None:
        record = {**record, "roll": _roll_at(client, deployment, election_id, height)}
    ballots: list[dict[str, Any]] = []
    after = 0
    while len(ballots) < MAX_BALLOTS_READ:
        page = _call(client, deployment, "list_ballots",
                     {"id": election_id, "after": after, "limit": BALLOT_PAGE}, height)
        page = _items(page, dict)
        ballots.extend(page)
        if len(page) < BALLOT_PAGE or not isinstance(page[-1].get("seq"), int):
            break
        after = page[-1]["seq"]
    election = _call(client, deployment, "get_election", {"id": election_id}, height)
    record = {"format": RECORD_FORMAT, **record, "ballots": ballots}
    return Record(height=height, data=record,
                  election=election if isinstance(election, dict) else None)


def _key(kind: str, deployment: Deployment, election_id: str, part: Any) -> str:
    # election ids are checked (ELECTION_ID): safe in a cache key
    return f"elections:{kind}:{deployment.pk}:{election_id}:{part}"


def election_record(*, deployment: Deployment, election_id: str) -> Record:
    """The election's full record at the chain's latest height, every ballot included,
    read from one node (``election_record`` and ``list_ballots`` at the same height)."""
    if not election_id_valid(election_id):
        raise NotFound("election_not_found", "No such election.")
    try:
        return _read(deployment.network,
                     lambda c: _record_at(c, deployment, election_id))
    except AppError as exc:
        if exc.code == "query_failed":
            raise NotFound("election_not_found", "No such election.",
                           details={"log": (exc.details or {}).get("log", "")}) from None
        raise


def election_summary(*, deployment: Deployment, election_id: str) -> dict[str, Any]:
    """``election_record`` without the ballots (keys, joint key, roll, tally, shares)."""
    if not election_id_valid(election_id):
        raise NotFound("election_not_found", "No such election.")
    answer = _read(deployment.network, lambda c: _call(
        c, deployment, "election_record", {"id": election_id}))
    if not isinstance(answer, dict):
        raise NotFound("election_not_found", "No such election.")
    return answer


def record_digest(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def state_digest(election: dict[str, Any]) -> str:
    """What decides an election's record, from the cheap ``get_election`` answer: the
    number of ballots and the board (the hash chain over every tracker), the state, the
    result, the trustees who posted a key or a decryption, the joint key and the size of
    the roll. Empty blocks change none of it, so the verdict keyed on it outlives them."""
    part = {
        "id": election.get("id"), "ballots": election.get("ballots"),
        "board": election.get("board"), "state": election.get("state"),
        "result": election.get("result"),
        "decrypted": sorted(str(t) for t in election.get("decrypted") or []),
        "trustee_keys": sorted(str(t) for t in election.get("trustee_keys") or {}),
        "joint_key": election.get("joint_key"), "voters": election.get("voters"),
    }
    return record_digest(part)


@dataclass(frozen=True)
class Verdict:
    valid: bool
    message: str  # the verifier's first failure, empty when valid
    height: int
    ballots: int
    decrypted: bool
    # another request is verifying a newer record: this is the last verdict (stale), or
    # there is none yet (pending)
    stale: bool = False
    pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict_of(record: Record) -> Verdict:
    """Run the independent verifier on ``record`` (no cache)."""
    try:
        verify_record(record.data)
    except Invalid as err:
        return Verdict(False, str(err), record.height, len(record.ballots),
                       record.data.get("result") is not None)
    return Verdict(True, "", record.height, len(record.ballots),
                   record.data.get("result") is not None)


def chain_height(*, deployment: Deployment) -> int:
    return _read(deployment.network, lambda c: c.height())


def election_verdict(*, deployment: Deployment, election_id: str,
                     election: dict[str, Any] | None = None) -> Verdict:
    """The verifier's verdict on the election's record. Keyed on the election's state
    (``state_digest`` of ``get_election``, passed in as ``election`` when already read):
    only when that changes is the whole record read (at one height) and verified again.

    One request at a time verifies an election (a cache lock); the others meanwhile get
    the last verdict marked ``stale``, or a ``pending`` one when there is none yet, instead
    of all reading every ballot and checking every proof at once."""
    if election is None:
        election = election_get(deployment=deployment, election_id=election_id)
    cached = cache.get(_key("verdict-s", deployment, election_id, state_digest(election)))
    if cached is not None:
        return Verdict(**cached)
    last_key = _key("verdict-last", deployment, election_id, "")
    lock = _key("verdict-lock", deployment, election_id, "")
    # This request's own token: a verification that outlived the lock's time releases
    # only its own lock, never the one another request has taken since.
    token = secrets.token_hex(16)
    if not cache.add(lock, token, VERIFY_LOCK_SECONDS):
        last = cache.get(last_key)
        if last is not None:
            return Verdict(**{**last, "stale": True, "pending": False})
        ballots = election.get("ballots")
        return Verdict(False, "", 0, ballots if type(ballots) is int else 0,
                       election.get("result") is not None, pending=True)
    try:
        record = election_record(deployment=deployment, election_id=election_id)
        at_record = _key("verdict-s", deployment, election_id,
                         state_digest(record.election or election))
        cached = cache.get(at_record)
        verdict = Verdict(**cached) if cached is not None else verdict_of(record)
        cache.set(at_record, verdict.to_dict(), CACHE_SECONDS)
        cache.set(last_key, verdict.to_dict(), CACHE_SECONDS)
    finally:
        # Not atomic (Django's cache has no compare-and-delete): the window is between
        # this get and this delete, instead of the whole verification.
        if cache.get(lock) == token:
            cache.delete(lock)
    return verdict


def record_filename(election_id: str) -> str:
    return f"election-{election_id}-record.json"
