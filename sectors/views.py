"""Portal pages of the template catalogue and of deployed templates. Thin: reads through
``sectors.selectors``, every POST calls one service in ``sectors.services``.

A deployed template has no pages of its own: the workflow page and the instance page are
generated from its manifest (functions, roles, ``[workflow]``), with the forms built from
each function's ``args`` schema (``sectors.forms_schema``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from baas.errors import AppError, NotFound
from baas.messages import describe_operation
from baas.models import Operation
from deploy import selectors as deploy_selectors
from deploy.choices import NetworkStatus
from deploy.models import Network, NetworkIdentity, NetworkMembership, SigningKey
from sectors import manifest as manifest_lib
from sectors import selectors, services
from sectors.choices import SECTORS, DeploymentStatus
from sectors.forms import ApproveForm, DeployForm, UploadForm, organisation_roles
from sectors.forms_schema import args_from, form_class, localised
from sectors.models import Deployment, Template
from sectors.tables import Table, table
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required

HISTORY_LIMIT = 50


# --- reads for the pages --------------------------------------------------------------------
def _template_for_page(request: HttpRequest, template_id: Any) -> Template:
    try:
        return selectors.template_get(tenant=request.portal.tenant, template_id=template_id)
    except NotFound:
        raise Http404 from None


def _deployment_for_page(request: HttpRequest, deployment_id: Any) -> Deployment:
    try:
        return selectors.deployment_get(tenant=request.portal.tenant,
                                        deployment_id=deployment_id)
    except NotFound:
        raise Http404 from None


def _manifest(deployment: Deployment) -> dict[str, Any]:
    template = deployment.active or deployment.target
    return (template.manifest if template else None) or {}


def role_titles(manifest: dict[str, Any]) -> dict[str, str]:
    titles = {r["id"]: localised(r.get("title")) or r["id"]
              for r in manifest.get("roles") or [] if isinstance(r, dict) and r.get("id")}
    titles[manifest_lib.ANYONE] = _("Anyone")
    return titles


def state_titles(manifest: dict[str, Any]) -> dict[str, str]:
    workflow = manifest.get("workflow") or {}
    return {s["id"]: localised(s.get("title")) or s["id"]
            for s in workflow.get("states") or [] if isinstance(s, dict) and s.get("id")}


def short_key(public_key: str) -> str:
    return f"{public_key[:8]}…{public_key[-4:]}" if len(public_key or "") > 16 else public_key


def key_owners(network: Network) -> dict[str, str]:
    """Public key -> the name of the organisation that holds it on ``network`` (its managed
    identity and its people's signing keys); keys from outside are not named."""
    owners: dict[str, str] = {}
    for identity in NetworkIdentity.objects.filter(network=network).select_related("tenant"):
        owners[identity.public_key] = identity.tenant.name
    for key in SigningKey.objects.filter(network=network).select_related("tenant"):
        owners[key.public_key] = key.tenant.name
    return owners


def organisation_choices(tenant: Any, networks: list[Network]) -> list[tuple[str, str]]:
    """Organisations that may hold a role: this one and the members of its networks."""
    choices = {tenant.slug: tenant.name}
    for m in NetworkMembership.objects.filter(network__in=networks).select_related("tenant"):
        choices.setdefault(m.tenant.slug, m.tenant.name)
    return sorted(choices.items(), key=lambda kv: (kv[0] != tenant.slug, kv[1]))


# --- the catalogue ----------------------------------------------------------------------------
@dataclass
class CatalogueEntry:
    name: str
    title: str
    description: str
    platform: bool
    latest: Template
    versions: list[Template] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


def catalogue(templates: list[Template]) -> list[tuple[str, list[CatalogueEntry]]]:
    """Templates grouped by sector, then by bundle (platform and private apart), newest
    version first."""
    entries: dict[tuple[str, str, bool], CatalogueEntry] = {}
    for t in sorted(templates, key=lambda t: (t.sector, t.name, -t.version_key)):
        key = (t.sector, t.name, t.is_platform)
        if key not in entries:
            manifest = t.manifest or {}
            entries[key] = CatalogueEntry(
                name=t.name, title=localised(manifest.get("title")) or t.name,
                description=localised(manifest.get("description")),
                platform=t.is_platform, latest=t,
                roles=list(role_titles(manifest).values())[:-1],
            )
        entries[key].versions.append(t)
    grouped: dict[str, list[CatalogueEntry]] = {}
    for (sector, _name, _platform), entry in entries.items():
        grouped.setdefault(sector, []).append(entry)
    order = list(SECTORS)
    return [(str(SECTORS.get(s, s)), grouped[s])
            for s in sorted(grouped, key=lambda s: order.index(s) if s in order else 99)]


def problems_of(exc: AppError) -> list[dict[str, str]]:
    """Every problem a refused upload has (``details.problems``), else the error itself."""
    problems = (exc.details or {}).get("problems")
    if isinstance(problems, list) and problems:
        return [{"code": str(p.get("code", "")), "path": str(p.get("path", "") or ""),
                 "message": str(p.get("message", ""))}
                for p in problems if isinstance(p, dict)]
    return [{"code": exc.code, "path": "", "message": app_error_text(exc)}]


@tenant_required
def template_list(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    can_upload = portal.can("admin")
    form = UploadForm(posted(request), request.FILES or None)
    problems: list[dict[str, str]] = []
    if request.method == "POST":
        if not can_upload:
            raise Http404
        if form.is_valid():
            try:
                template = services.template_upload(
                    tenant=portal.tenant, actor=request.user,
                    archive=form.cleaned_data["archive"], request=request)
            except AppError as exc:
                problems = problems_of(exc)
            else:
                messages.success(request, _("Template %(name)s %(version)s uploaded and "
                                            "reviewed.") % {"name": template.name,
                                                            "version": template.version})
                return redirect("sectors:template-detail", template_id=template.pk)
    templates = list(selectors.template_list(tenant=portal.tenant))
    return page(request, "sectors/template_list.html", {
        "sectors": catalogue(templates),
        "form": form,
        "can_upload": can_upload,
        "problems": problems,
    }, status=400 if (form.errors or problems) else 200)


# --- a template ---------------------------------------------------------------------------
def review_view(review: dict[str, Any] | None) -> dict[str, Any]:
    """The review report (``sectors.review.Review.to_dict``) as the page shows it: each
    sample with its outcome against what it expected and its step cost, each role check
    (a caller without an allowed role must be refused), the static warnings."""
    review = review or {}
    # A template keeps the validation report ({"valid", "problems", "review": {...}}).
    if isinstance(review.get("review"), dict):
        review = review["review"]

    def calls(key: str) -> list[dict[str, Any]]:
        return [c for c in review.get(key) or [] if isinstance(c, dict)]

    samples = [{
        "function": c.get("function", ""), "as": c.get("as", ""),
        "expect": c.get("expect") or "ok", "outcome": c.get("outcome", ""),
        "ok": c.get("outcome") == (c.get("expect") or "ok"),
        "steps": c.get("steps", 0), "error": c.get("error") or "",
    } for c in calls("samples")]
    checks = [{
        "function": c.get("function", ""), "as": c.get("as", ""),
        "outcome": c.get("outcome", ""), "ok": c.get("outcome") in ("refused", "skipped"),
        "when": c.get("when") or "", "note": c.get("note") or c.get("error") or "",
    } for c in calls("role_checks")]
    warnings = [{"code": w.get("code", ""), "function": w.get("function", ""),
                 "line": w.get("line", ""), "message": w.get("message", "")}
                for w in calls("warnings")]
    init = review.get("init") if isinstance(review.get("init"), dict) else None
    return {"samples": samples, "checks": checks, "warnings": warnings, "init": init,
            "steps_total": review.get("steps_total", sum(s["steps"] or 0 for s in samples)),
            "notes": [str(n) for n in review.get("notes") or []],
            "empty": not (samples or checks or warnings)}


def template_context(template: Template) -> dict[str, Any]:
    manifest = template.manifest or {}
    titles = role_titles(manifest)
    functions = [{
        "name": f["name"], "title": localised(f.get("title")) or f["name"],
        "kind": f.get("kind", ""), "public": bool(f.get("public")),
        "roles": [titles.get(r, r) for r in f.get("roles") or []],
        "transition": f.get("transition") or {},
    } for f in manifest_lib.functions(manifest)]
    roles = [{"id": r["id"], "title": titles.get(r["id"], r["id"]), "holder": r.get("holder")}
             for r in manifest.get("roles") or [] if isinstance(r, dict) and r.get("id")]
    upgrade = (manifest.get("upgrade") or {}).get("approval", "owner")
    return {
        "template": template,
        "title": localised(manifest.get("title")) or template.name,
        "description": localised(manifest.get("description")),
        "sector_label": SECTORS.get(template.sector, template.sector),
        "roles": roles,
        "functions": functions,
        "workflow_states": list(state_titles(manifest).values()),
        "upgrade_rule": upgrade,
        "review": review_view(template.review),
    }


@tenant_required
def template_detail(request: HttpRequest, template_id: Any) -> HttpResponse:
    portal = request.portal
    template = _template_for_page(request, template_id)
    can_deploy = portal.can("admin")
    networks = [n for n in deploy_selectors.network_list(tenant=portal.tenant)
                if n.tenant_id == portal.tenant.pk and n.status == NetworkStatus.RUNNING]
    form = DeployForm(posted(request), networks=networks,
                      organisations=organisation_choices(portal.tenant, networks),
                      own=portal.tenant.slug, manifest=template.manifest or {})
    if request.method == "POST":
        if not can_deploy:
            raise Http404
        if form.is_valid():
            try:
                deployment, _op = services.deployment_create(
                    tenant=portal.tenant, actor=request.user,
                    network=form.cleaned_data["network"], template=template,
                    roles=form.roles(), request=request)
            except AppError as exc:
                form.add_error(None, app_error_text(exc))
            else:
                messages.success(request, _("Deploying %(name)s %(version)s.")
                                 % {"name": template.name, "version": template.version})
                return redirect("sectors:deployment-detail", deployment_id=deployment.pk)
    context = template_context(template)
    context.update({"form": form, "can_deploy": can_deploy and bool(networks),
                    "no_networks": can_deploy and not networks,
                    "org_roles": organisation_roles(template.manifest or {})})
    return page(request, "sectors/template_detail.html", context,
                status=400 if form.errors else 200)


# --- deployments of a network ------------------------------------------------------------
@tenant_required
def network_deployments(request: HttpRequest, network_id: Any) -> HttpResponse:
    try:
        network = deploy_selectors.network_get(tenant=request.portal.tenant,
                                               network_id=network_id)
    except NotFound:
        raise Http404 from None
    deployments = selectors.deployment_list(tenant=request.portal.tenant, network=network)
    rows = []
    for d in deployments:
        manifest = _manifest(d)
        rows.append({"deployment": d, "title": localised(manifest.get("title")) or d.name})
    return page(request, "sectors/network_deployments.html", {
        "network": network, "rows": rows,
    })


# --- the generated workflow pages -------------------------------------------------------------
@dataclass
class FunctionForm:
    spec: dict[str, Any]
    title: str
    form: Form
    roles: list[str]
    result: Table | None = None
    error: str = ""

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def kind(self) -> str:
        return self.spec.get("kind", "write")


def reader_org(deployment: Deployment, tenant: Any) -> str:
    """The reader's organisation id on the deployment's network (its tenant's slug unless
    its managed identity says otherwise)."""
    identity = NetworkIdentity.objects.filter(network=deployment.network, tenant=tenant).first()
    return identity.organisation_id if identity else tenant.slug


def held_roles(request: HttpRequest, deployment: Deployment) -> set[str]:
    """The roles the reader's organisation holds: the contract's own ``roles_of`` when it
    declares one (roles are contract state), else the deployment's role table."""
    return services.held_roles(deployment, reader_org(deployment, request.portal.tenant))


def place_call_error(form: Form, exc: AppError) -> None:
    """A refused call on its form: each ``args_invalid`` problem on the field its path
    names, the rest above the form."""
    problems = (exc.details or {}).get("problems") if exc.code == "args_invalid" else None
    if isinstance(problems, list) and problems:
        for p in problems:
            if not isinstance(p, dict):
                continue
            parts = [s for s in re.split(r"[/.\[\]$]+", str(p.get("path", ""))) if s]
            name = parts[0] if parts else ""
            form.add_error(name if name in form.fields else None, str(p.get("message", "")))
        return
    form.add_error(None, app_error_text(exc))


def call_forms(request: HttpRequest, deployment: Deployment, manifest: dict[str, Any], *,
               names: list[str], held: set[str], initial: dict[str, Any] | None = None,
               ) -> tuple[list[FunctionForm], HttpResponse | None]:
    """A form per function in ``names``; runs the one submitted (a read by GET ``call=``, a
    write by POST ``function=``). Returns the forms and, after a write, the redirect."""
    titles = role_titles(manifest)
    may_write = request.portal.can("developer")
    active = deployment.status == DeploymentStatus.ACTIVE or deployment.active_id is not None
    submitted = (request.POST.get("function") if request.method == "POST"
                 else request.GET.get("call"))
    data = request.POST if request.method == "POST" else request.GET
    result: list[FunctionForm] = []
    for name in names:
        spec = manifest_lib.function_spec(manifest, name)
        if spec is None or not manifest_lib.allows(spec, held):
            continue
        kind = spec.get("kind", "write")
        if kind == "write" and not may_write:
            continue
        cls = form_class(spec.get("args"), name=f"{name}_form")
        args_initial = {k: v for k, v in (initial or {}).items() if k in cls.base_fields}
        is_submitted = submitted == name and (
            (kind == "write") == (request.method == "POST"))
        form = cls(data if is_submitted else None, prefix=name, initial=args_initial)
        entry = FunctionForm(spec=spec, title=localised(spec.get("title")) or name, form=form,
                             roles=[titles.get(r, r) for r in spec.get("roles") or []])
        result.append(entry)
        if not is_submitted or not active or not form.is_valid():
            continue
        try:
            answer = services.deployment_call(
                tenant=request.portal.tenant, actor=request.user, deployment=deployment,
                function=name, args=args_from(spec.get("args"), form.cleaned_data),
                request=request)
        except AppError as exc:
            place_call_error(form, exc)
            continue
        if kind == "write":
            messages.success(request, _("%(function)s committed in block %(height)s "
                                        "(transaction %(hash)s).") % {
                "function": entry.title, "height": answer.get("height", "?"),
                "hash": short_key(str(answer.get("hash", "")))})
            return result, redirect(request.get_full_path())
        entry.result = table(answer.get("data"))
    return result, None


def latest_operation(deployment: Deployment, tenant: Any) -> Operation | None:
    op = (Operation.objects.for_tenant(tenant).filter(target_id=str(deployment.pk))
          .order_by("-created_at", "-id").first())
    return describe_operation(op) if op is not None else None


def approvals_context(request: HttpRequest, deployment: Deployment) -> dict[str, Any]:
    approvals = list(services.approvers(deployment).select_related("tenant"))
    waiting = deployment.status == DeploymentStatus.AWAITING_APPROVAL
    approved = any(a.tenant_id == request.portal.tenant.pk for a in approvals)
    return {
        "approvals": approvals,
        "target_review": review_view(deployment.target.review) if waiting and
        deployment.target else None,
        "awaiting_approval": waiting,
        "can_approve": waiting and not approved and request.portal.can("admin"),
    }


def workflow_instances(request: HttpRequest, deployment: Deployment,
                       manifest: dict[str, Any]) -> tuple[list[dict[str, str]] | None, str]:
    """The instances the workflow's ``list`` read function returns, with their state in the
    reader's language; None without a workflow."""
    workflow = manifest.get("workflow") or {}
    if not workflow.get("list") or deployment.active_id is None:
        return None, ""
    try:
        answer = services.deployment_call(
            tenant=request.portal.tenant, actor=request.user, deployment=deployment,
            function=workflow["list"], args={}, request=request)
    except AppError as exc:
        return [], app_error_text(exc)
    states = state_titles(manifest)
    instances = []
    for item in answer.get("data") or []:
        if not isinstance(item, dict) or "id" not in item:
            continue
        state = str(item.get("state", ""))
        instances.append({"id": str(item["id"]), "state": state,
                          "state_title": states.get(state, state)})
    return instances, ""


@tenant_required
def deployment_detail(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    portal = request.portal
    deployment = _deployment_for_page(request, deployment_id)
    if request.headers.get("HX-Request"):
        # The status panel polls while the deployment is busy; once it is not, the whole
        # page reloads so the generated forms appear.
        if deployment.status not in (DeploymentStatus.DEPLOYING,):
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return page(request, "sectors/_deployment_status.html", {
            "deployment": deployment,
            "operation": latest_operation(deployment, portal.tenant),
            "polling": True,
        })
    manifest = _manifest(deployment)
    held = held_roles(request, deployment)
    hidden = {"roles_of", (manifest.get("init") or {}).get("function")}
    names = [f["name"] for f in manifest_lib.functions(manifest) if f["name"] not in hidden]
    forms, done = call_forms(request, deployment, manifest, names=names, held=held)
    if done is not None:
        return done
    instances, instances_error = workflow_instances(request, deployment, manifest)
    workflow = manifest.get("workflow") or {}
    context = {
        "deployment": deployment,
        "network": deployment.network,
        "title": localised(manifest.get("title")) or deployment.name,
        "description": localised(manifest.get("description")),
        "held": [role_titles(manifest).get(r, r) for r in sorted(held)],
        "write_forms": [f for f in forms if f.kind == "write"],
        "read_forms": [f for f in forms if f.kind != "write"],
        "instances": instances,
        "instances_error": instances_error,
        "entity": workflow.get("entity", ""),
        "operation": latest_operation(deployment, portal.tenant),
        "polling": deployment.status == DeploymentStatus.DEPLOYING,
        "public_url": reverse("sectors:public-page", kwargs={"deployment_id": deployment.pk})
        if deployment.network.public_access and any(
            f.get("public") for f in manifest_lib.functions(manifest)) else "",
        **approvals_context(request, deployment),
    }
    bad = any(f.form.is_bound and f.form.errors for f in forms)
    return page(request, "sectors/deployment_detail.html", context, status=400 if bad else 200)


@tenant_required
def deployment_approve(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    deployment = _deployment_for_page(request, deployment_id)
    if request.method != "POST" or not request.portal.can("admin"):
        raise Http404
    if ApproveForm(request.POST).is_valid():
        try:
            services.deployment_approve(tenant=request.portal.tenant, actor=request.user,
                                        deployment=deployment,
                                        template_id=request.POST.get("template"),
                                        request=request)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        else:
            messages.success(request, _("Your organisation approved this version."))
    return redirect("sectors:deployment-detail", deployment_id=deployment.pk)


@tenant_required
def instance_detail(request: HttpRequest, deployment_id: Any, instance_id: str) -> HttpResponse:
    deployment = _deployment_for_page(request, deployment_id)
    manifest = _manifest(deployment)
    workflow = manifest.get("workflow") or {}
    if not workflow.get("get") or deployment.active_id is None:
        raise Http404
    try:
        answer = services.deployment_call(
            tenant=request.portal.tenant, actor=request.user, deployment=deployment,
            function=workflow["get"], args={"id": instance_id}, request=request)
    except AppError as exc:
        if exc.status == 404 or exc.code == "query_failed":  # no such instance
            raise Http404 from None
        messages.error(request, app_error_text(exc))
        return redirect("sectors:deployment-detail", deployment_id=deployment.pk)
    instance = answer.get("data")
    if not isinstance(instance, dict):
        raise Http404
    state = str(instance.get("state", ""))
    held = held_roles(request, deployment)
    entity = workflow.get("entity", "")
    next_steps = [f["name"] for f in manifest_lib.functions(manifest)
                  if f.get("kind", "write") == "write"
                  and state in ((f.get("transition") or {}).get("from") or [])]
    initial = {"id": instance_id}
    if entity:
        initial[entity] = instance_id
    forms, done = call_forms(request, deployment, manifest, names=next_steps, held=held,
                             initial=initial)
    if done is not None:
        return done
    owners = key_owners(deployment.network)
    history = []
    for event in services.deployment_history(deployment=deployment, instance_id=instance_id,
                                             limit=HISTORY_LIMIT):
        signer = str(event.get("signer") or "")
        spec = manifest_lib.function_spec(manifest, str(event.get("function") or ""))
        attributes = event.get("attributes") or {}
        history.append({
            "height": event.get("height"),
            "tx_hash": str(event.get("tx_hash") or ""),
            "type": event.get("type", ""),
            "function": (localised(spec.get("title")) if spec else "")
            or event.get("function", ""),
            "attributes": [(k, v) for k, v in attributes.items() if k != "id"],
            "signer": short_key(signer), "signer_full": signer,
            "org": owners.get(signer, ""),
        })
    return page(request, "sectors/instance_detail.html", {
        "deployment": deployment,
        "title": localised(manifest.get("title")) or deployment.name,
        "instance_id": instance_id,
        "entity": entity,
        "state": state,
        "state_title": state_titles(manifest).get(state, state),
        "details": table({k: v for k, v in instance.items() if k not in ("id", "state")}),
        "forms": forms,
        "history": history,
    }, status=400 if any(f.form.is_bound and f.form.errors for f in forms) else 200)
