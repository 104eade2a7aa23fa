"""Portal pages of a voting deployment: the election commission's (list, create, the roll,
open, close, publish) and the trustees' (post a key share, post a partial decryption).
Thin: reads through ``elections.selectors``, every POST calls one service in
``elections.services``.

Who may act: a member (developer and up) of an organisation holding the ``commission``
role acts for the commission; one of a trustee organisation named in the election acts
for it. Everyone of the tenants that may see the deployment reads; another tenant gets 404.
The trustee's secret is made, saved and used in the browser (``static/elections/pages.js``
on ``voting.js``); the platform sees the public key, the proofs and the decryption shares.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baas.errors import AppError, NotFound, ValidationFailed
from elections import choices, selectors, services
from elections.forms import (
    DecryptionForm,
    ElectionForm,
    TrusteeKeyForm,
    VotersForm,
    when,
)
from sectors import services as sector_services
from sectors.forms_schema import localised
from sectors.models import Deployment
from tenants.views import page, posted, tenant_required


# --- reads for the pages ------------------------------------------------------------------
def _deployment(request: HttpRequest, deployment_id: Any) -> Deployment:
    try:
        return selectors.voting_deployment_get(tenant=request.portal.tenant,
                                               deployment_id=deployment_id)
    except NotFound:
        raise Http404 from None


def _election(deployment: Deployment, election_id: str) -> dict[str, Any]:
    try:
        return selectors.election_get(deployment=deployment, election_id=election_id)
    except NotFound:
        raise Http404 from None


def chain_errors(view: Any) -> Any:
    """A page that needs the chain and cannot read it says why (503, or the refusal's 4xx)
    instead of failing with a 500."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except AppError as exc:
            status = exc.status if 400 <= exc.status < 500 and exc.status != 404 else 503
            return page(request, "elections/unavailable.html",
                        {"error": error_text(exc), "code": exc.code}, status=status)

    return wrapped


def commission_may_act(request: HttpRequest, deployment: Deployment) -> bool:
    if not request.portal.can("developer"):
        return False
    org = selectors.reader_org(deployment, request.portal.tenant)
    return choices.COMMISSION in sector_services.held_roles(deployment, org)


def error_text(exc: AppError) -> str:
    return services.chain_reason(exc)


def public_links(deployment: Deployment, election_id: str) -> dict[str, str]:
    if not deployment.network.public_access:
        return {}
    kwargs = {"deployment_id": deployment.pk, "election_id": election_id}
    return {"vote": reverse("elections:vote", kwargs=kwargs),
            "results": reverse("elections:results", kwargs=kwargs),
            "record": reverse("elections:record", kwargs=kwargs)}


def election_view(election: dict[str, Any]) -> dict[str, Any]:
    """An election as the pages show it: texts, state title, times in the reader's zone."""
    state = str(election.get("state", ""))
    return {
        "id": str(election.get("id", "")),
        "title": str(election.get("title", "")),
        "state": state,
        "state_title": choices.state_title(state),
        "opens": when(election.get("opens_at")),
        "closes": when(election.get("closes_at")),
        "questions": [q for q in election.get("questions") or [] if isinstance(q, dict)],
        "trustees": [str(t) for t in election.get("trustees") or []],
        "eh": str(election.get("eh", "")),
    }


def results_view(election: dict[str, Any], result: Any) -> list[dict[str, Any]]:
    """Per question, its options with their counts (a published result)."""
    rows = []
    if not isinstance(result, list):
        return rows
    for q, counts in zip(election.get("questions") or [], result, strict=False):
        if not isinstance(q, dict) or not isinstance(counts, list):
            continue
        total = sum(c for c in counts if isinstance(c, int))
        options = []
        for o, c in zip(q.get("options") or [], counts, strict=False):
            options.append({"title": o.get("title", ""), "count": c,
                            "share": round(100 * c / total) if total else 0})
        rows.append({"title": q.get("title", ""), "options": options})
    return rows


# --- the commission's pages ---------------------------------------------------------------
@tenant_required
def election_list(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    manifest = deployment.active.manifest if deployment.active else {}
    error = ""
    try:
        elections = [election_view(e) for e in selectors.election_list(deployment=deployment)]
    except AppError as exc:
        elections, error = [], error_text(exc)
    return page(request, "elections/election_list.html", {
        "deployment": deployment,
        "title": localised(manifest.get("title")) or deployment.name,
        "elections": elections, "error": error,
        "can_create": commission_may_act(request, deployment),
    })


def _trustee_choices(deployment: Deployment) -> list[tuple[str, str]]:
    names = selectors.organisation_names(deployment.network)
    return [(org, f"{names.get(org, org)} ({org})" if names.get(org) else org)
            for org in selectors.role_holders(deployment, choices.TRUSTEE)]


@tenant_required
def election_create(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    if not commission_may_act(request, deployment):
        raise Http404
    form = ElectionForm(posted(request), trustees=_trustee_choices(deployment))
    if request.method == "POST" and form.is_valid():
        spec = form.spec()
        try:
            services.election_create(tenant=request.portal.tenant, actor=request.user,
                                     deployment=deployment, spec=spec, request=request)
        except AppError as exc:
            form.add_error(None, error_text(exc))
        else:
            messages.success(request, _("The election %(id)s is on the chain. Add the voters, "
                                        "then wait for every trustee's key.") % {"id": spec.id})
            return redirect("elections:detail", deployment_id=deployment.pk,
                            election_id=spec.id)
    return page(request, "elections/election_create.html", {
        "deployment": deployment, "form": form,
        "no_trustees": not selectors.role_holders(deployment, choices.TRUSTEE),
    }, status=400 if form.errors else 200)


@tenant_required
@chain_errors
def election_detail(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    election = _election(deployment, election_id)
    view = election_view(election)
    names = selectors.organisation_names(deployment.network)
    data, verdict, record_error = {}, None, ""
    try:
        data = selectors.election_summary(deployment=deployment, election_id=election_id)
        if view["state"] in choices.VERIFIABLE:
            verdict = selectors.election_verdict(deployment=deployment,
                                                 election_id=election_id, election=election)
    except NotFound:
        raise Http404 from None
    except AppError as exc:
        record_error = error_text(exc)
    keys = data.get("trustee_keys") or {}
    decryptions = data.get("decryptions") or {}
    trustees = [{"org": t, "name": names.get(t, ""), "key": t in keys,
                 "decrypted": t in decryptions} for t in view["trustees"]]
    org = selectors.reader_org(deployment, request.portal.tenant)
    acts = commission_may_act(request, deployment)
    state = view["state"]
    return page(request, "elections/election_detail.html", {
        "deployment": deployment, "election": view, "trustees": trustees,
        "roll": _count(election.get("voters"), data.get("roll")),
        "ballots": _count(election.get("ballots"), verdict.ballots if verdict else 0),
        "record_error": record_error, "verdict": verdict,
        "results": results_view(election, data.get("result")),
        "can_act": acts,
        "may_add_voters": acts and state == choices.SETUP,
        "may_open": acts and state == choices.SETUP,
        "may_close": request.portal.can("developer") and state == choices.OPEN,
        "may_publish": acts and state == choices.CLOSED,
        "all_decrypted": all(t["decrypted"] for t in trustees),
        "is_trustee": org in view["trustees"],
        "voters_form": VotersForm(),
        "links": public_links(deployment, election_id),
    })


def _count(counted: Any, listed: Any) -> int:
    """The chain's own count when it keeps one, else the length of what it listed."""
    if isinstance(counted, int) and not isinstance(counted, bool):
        return counted
    if isinstance(listed, int):
        return listed
    return len(listed) if isinstance(listed, list) else 0


def _act(request: HttpRequest, deployment_id: Any, election_id: str, call: Any,
         done: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    if not selectors.election_id_valid(election_id):
        raise Http404
    try:
        call(deployment)
    except AppError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect("elections:detail", deployment_id=deployment.pk, election_id=election_id)


@tenant_required
@require_POST
def election_voters(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    if not commission_may_act(request, deployment) or \
            not selectors.election_id_valid(election_id):
        raise Http404
    form = VotersForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationFailed("invalid_voters", " ".join(
                e for errors in form.errors.values() for e in errors))
        sent = services.voters_add(
            tenant=request.portal.tenant, actor=request.user, deployment=deployment,
            election_id=election_id, voters=services.parse_voters(form.cleaned_data["voters"]),
            request=request)
    except AppError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("%(added)s voters added to the roll (%(skipped)s were on "
                                    "it already), in %(batches)s transaction(s).")
                         % {"added": sent["added"], "skipped": sent["skipped"],
                            "batches": sent["batches"]})
    return redirect("elections:detail", deployment_id=deployment.pk, election_id=election_id)


@tenant_required
@require_POST
def election_open(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    if not commission_may_act(request, deployment):
        raise Http404
    return _act(request, deployment_id, election_id, lambda d: services.election_open(
        tenant=request.portal.tenant, actor=request.user, deployment=d,
        election_id=election_id, request=request), _("Voting is open."))


@tenant_required
@require_POST
def election_close(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    if not request.portal.can("developer"):
        raise Http404
    return _act(request, deployment_id, election_id, lambda d: services.election_close(
        tenant=request.portal.tenant, actor=request.user, deployment=d,
        election_id=election_id, request=request), _("Voting is closed."))


@tenant_required
@require_POST
def election_publish(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    if not commission_may_act(request, deployment):
        raise Http404
    return _act(request, deployment_id, election_id, lambda d: services.result_publish(
        tenant=request.portal.tenant, actor=request.user, deployment=d,
        election_id=election_id, request=request), _("The result is published."))


# --- the trustee's page -------------------------------------------------------------------
def trustee_texts() -> dict[str, str]:
    """What pages.js says on the trustee page, in the reader's language."""
    return {
        "generating": _("Making the key share in this browser…"),
        "generated": _("Key share made. Save the file, then post the public key."),
        "loaded": _("Key file checked; the partial decryption is ready to post."),
        "bad_file": _("This file cannot be used: %(error)s"),
        "failed": _("Something went wrong in the browser: %(error)s"),
    }


@tenant_required
@chain_errors
def trustee(request: HttpRequest, deployment_id: Any, election_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    election = _election(deployment, election_id)
    view = election_view(election)
    org = selectors.reader_org(deployment, request.portal.tenant)
    is_trustee = org in view["trustees"]
    may_act = is_trustee and request.portal.can("developer")
    key_form = TrusteeKeyForm(posted(request) if request.POST.get("action") == "key" else None)
    decryption_form = DecryptionForm(posted(request)
                                     if request.POST.get("action") == "decryption" else None)
    if request.method == "POST":
        if not may_act:
            raise Http404
        if request.POST.get("action") not in ("key", "decryption"):
            raise BadRequest("action is 'key' or 'decryption'")
        form: Any = key_form if request.POST.get("action") == "key" else decryption_form
        if form.is_bound and form.is_valid():
            try:
                if form is key_form:
                    services.trustee_key_post(
                        tenant=request.portal.tenant, actor=request.user,
                        deployment=deployment, election_id=election_id,
                        public=form.cleaned_data["public"], proof=form.cleaned_data["proof"],
                        request=request)
                    done = _("Your organisation's public key share is on the chain.")
                else:
                    services.decryption_post(
                        tenant=request.portal.tenant, actor=request.user,
                        deployment=deployment, election_id=election_id,
                        shares=form.cleaned_data["shares"], request=request)
                    done = _("Your organisation's partial decryption is on the chain.")
            except AppError as exc:
                form.add_error(None, error_text(exc))
            else:
                messages.success(request, done)
                return redirect("elections:trustee", deployment_id=deployment.pk,
                                election_id=election_id)
    record_error = ""
    try:
        data = selectors.election_summary(deployment=deployment, election_id=election_id)
    except NotFound:
        raise Http404 from None
    except AppError as exc:
        data, record_error = {}, error_text(exc)
    keys = data.get("trustee_keys") or {}
    posted_key = (keys.get(org) or {}).get("public", "") if is_trustee else ""
    decrypted = org in (data.get("decryptions") or {})
    state = view["state"]
    bad = any(f.is_bound and f.errors for f in (key_form, decryption_form))
    return page(request, "elections/trustee.html", {
        "deployment": deployment, "election": view, "org": org, "is_trustee": is_trustee,
        "may_act": may_act, "record_error": record_error,
        "posted_key": posted_key, "decrypted": decrypted,
        "may_post_key": may_act and state == choices.SETUP and not posted_key,
        "may_decrypt": may_act and state == choices.CLOSED and bool(posted_key)
        and not decrypted,
        "key_form": key_form, "decryption_form": decryption_form,
        "trustee_data": {"eh": view["eh"], "trustee": org, "public": posted_key,
                         "election": view["id"], "tally": data.get("tally")
                         if state == choices.CLOSED else None,
                         # the decryption proofs bind the board's hash chain and the tally
                         "board": data.get("board") if state == choices.CLOSED else None},
        "texts": trustee_texts(),
    }, status=400 if bad else 200)
