"""The public pages of a voting deployment (no login), under the deployment's public page
``/p/<id>/``: the phone-sized voter page, the results with the bulletin board and the
verifier's verdict, and the election record as a JSON download.

Only a deployment that has a public page (``sectors.selectors.deployment_public_get``:
active, on a running network with ``public_access``) has these. The voter's browser casts
through the sectors public endpoints (``/p/<id>/prepare/`` and ``submit/``: the same
CSRF rule, rate limit and checks as every public write), signing with its own Ed25519
key; its hex public key is the voter id the commission puts on the roll. The ballot is
encrypted in the browser (``static/elections/voting.js``); the server never sees a choice.

The results page and the record download read every ballot from the chain, so they count
against the public pages' rate limit per client address.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from baas.errors import AppError, NotFound, error_body
from elections import choices, selectors
from elections.views import chain_errors, election_view, error_text, results_view
from sectors.forms_schema import localised
from sectors.models import Deployment
from sectors.public_views import PublicPageThrottle
from tenants.views import page


class _Scope:
    throttle_scope = "public_page"


def _deployment(deployment_id: Any) -> Deployment:
    try:
        return selectors.voting_public_get(deployment_id=deployment_id)
    except NotFound:
        raise Http404 from None


def _election(deployment: Deployment, election_id: str) -> dict[str, Any]:
    try:
        return selectors.election_get(deployment=deployment, election_id=election_id)
    except NotFound:
        raise Http404 from None


def _throttled(request: HttpRequest) -> HttpResponse | None:
    throttle = PublicPageThrottle()
    if throttle.allow_request(request, _Scope()):
        return None
    wait = int(throttle.wait() or 1)
    response = JsonResponse(error_body("throttled", _("Too many requests; try again later."),
                                       {"wait_seconds": wait}), status=429)
    response["Retry-After"] = str(wait)
    return response


def _unavailable(exc: AppError) -> HttpResponse:
    status = exc.status if 400 <= exc.status < 500 else 503
    return JsonResponse(error_body(exc.code, error_text(exc), exc.details), status=status)


@require_GET
def election_index(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    deployment = _deployment(deployment_id)
    manifest = deployment.active.manifest if deployment.active else {}
    try:
        elections = [election_view(e) for e in selectors.election_list(deployment=deployment)]
        error = ""
    except AppError as exc:
        elections, error = [], error_text(exc)
    return page(request, "elections/public_list.html", {
        "deployment": deployment, "elections": elections, "error": error,
        "title": localised(manifest.get("title")) or deployment.name,
    }, status=200 if not error else 503)


def voter_texts() -> dict[str, str]:
    """What pages.js says on the voter page, in the reader's language."""
    return {
        "no_webcrypto": _("This browser cannot make a signing key (Ed25519 in WebCrypto is "
                          "missing). Use a current browser."),
        "key_made": _("A new key was made and kept in this browser."),
        "copied": _("Copied."),
        "encrypting": _("Encrypting in this browser…"),
        "choose": _("Question %(n)s: choose between %(min)s and %(max)s options."),
        "challenge_ok": _("Checked: this ballot held exactly the choices shown. It is "
                          "discarded; encrypt your choices again to vote."),
        "challenge_bad": _("This ballot did NOT hold your choices (%(problems)s). Do not vote "
                           "from this device; tell the election commission."),
        "revealed": _("%(question)s: %(choices)s"),
        "nothing": _("(none)"),
        "sending": _("Sending your encrypted ballot…"),
        "mismatch": _("The server prepared a transaction other than your ballot; nothing "
                      "was signed."),
        "cast": _("Your ballot is recorded in block %(height)s."),
        "failed": _("The request failed; try again."),
        "eh_mismatch": _("This election's details do not match its fingerprint on the chain; "
                         "nothing was encrypted. Tell the election commission."),
    }


@require_GET
@ensure_csrf_cookie
@chain_errors
def vote(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(deployment_id)
    election = _election(deployment, election_id)
    view = election_view(election)
    joint_key = ""
    if view["state"] == choices.OPEN:
        try:
            record = selectors.election_summary(deployment=deployment,
                                                election_id=election_id)
        except AppError as exc:
            return page(request, "elections/vote.html", {
                "deployment": deployment, "election": view, "error": error_text(exc)},
                status=503)
        joint_key = str(record.get("joint_key") or "")
    kwargs = {"deployment_id": deployment.pk, "election_id": election_id}
    return page(request, "elections/vote.html", {
        "deployment": deployment, "election": view,
        # past the closing time the chain refuses ballots even before someone closes it
        "open": view["state"] == choices.OPEN and bool(joint_key)
        and not (isinstance(election.get("closes_at"), int)
                 and time.time() >= election["closes_at"]),
        # the browser recomputes eh from tx_hash and the definition (pages.js) and encrypts
        # only when it is the eh given here: a server cannot bind ballots to another election
        "ballot_data": {"id": view["id"], "eh": view["eh"], "joint_key": joint_key,
                        "tx_hash": election.get("tx_hash"),
                        "definition": {k: election.get(k) for k in (
                            "id", "title", "questions", "trustees", "opens_at", "closes_at")},
                        "questions": [{"options": len(q.get("options") or []),
                                       "min_choices": q.get("min_choices"),
                                       "max_choices": q.get("max_choices")}
                                      for q in view["questions"]]},
        "results_url": reverse("elections:results", kwargs=kwargs),
        "prepare_url": reverse("sectors:public-prepare", kwargs={"deployment_id": deployment.pk}),
        "submit_url": reverse("sectors:public-submit", kwargs={"deployment_id": deployment.pk}),
        "texts": voter_texts(),
    })


@require_GET
@chain_errors
def results(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(deployment_id)
    refused = _throttled(request)
    if refused is not None:
        return refused
    election = _election(deployment, election_id)
    view = election_view(election)
    status, problem = 200, ""
    tracker = request.GET.get("tracker", "").strip().lower()
    after_text = request.GET.get("after", "0")
    # ASCII digits only (str.isdigit takes '²' and '①', which int() refuses), at most 10:
    # the contract refuses a larger sequence number
    if not re.fullmatch(r"[0-9]{1,10}", after_text) or int(after_text) > 10 ** 10 - 2:
        status, problem, after_text = 400, _("The page asked for is not a number."), "0"
    after = int(after_text)
    found: dict[str, Any] | None = None
    searched = bool(tracker)
    if tracker and not selectors.TRACKER.fullmatch(tracker):
        status, problem, searched = 400, _("A tracker is 64 hexadecimal characters."), False
    verdict, board, error, data = None, [], "", {}
    try:
        if searched:
            found = selectors.tracker_find(deployment=deployment, election_id=election_id,
                                           tracker=tracker)
        if view["state"] != choices.SETUP:
            board = selectors.ballot_page(deployment=deployment, election_id=election_id,
                                          after=after)
            data = selectors.election_summary(deployment=deployment, election_id=election_id)
            verdict = selectors.election_verdict(deployment=deployment,
                                                 election_id=election_id, election=election)
    except NotFound:
        raise Http404 from None
    except AppError as exc:
        error = error_text(exc)
        status = 503 if status == 200 else status
    kwargs = {"deployment_id": deployment.pk, "election_id": election_id}
    return page(request, "elections/results.html", {
        "deployment": deployment, "election": view, "verdict": verdict, "error": error,
        "problem": problem, "results": results_view(election, data.get("result")),
        "ballots": election.get("ballots") if isinstance(election.get("ballots"), int)
        else (verdict.ballots if verdict else 0), "board": board,
        "next_after": board[-1].get("seq") if len(board) >= selectors.BOARD_PAGE else None,
        "tracker": tracker, "searched": searched, "found": found,
        "record_url": reverse("elections:record", kwargs=kwargs),
        "vote_url": reverse("elections:vote", kwargs=kwargs),
    }, status=status)


@require_GET
def record(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    """The election record (spec 14's format, every ballot included) as a file, read at
    one height: what ``python -m elections.verify RECORD.json`` checks."""
    deployment = _deployment(deployment_id)
    refused = _throttled(request)
    if refused is not None:
        return refused
    if not selectors.election_id_valid(election_id):
        raise Http404
    try:
        data = selectors.election_record(deployment=deployment, election_id=election_id)
    except NotFound:
        raise Http404 from None
    except AppError as exc:
        return _unavailable(exc)
    body = json.dumps(data.data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = \
        f'attachment; filename="{selectors.record_filename(election_id)}"'
    response["X-Record-Height"] = str(data.height)
    return response
