"""Portal pages of DIDs: ``/identity/`` (the organisation's and people's DIDs, create),
``/identity/<id>/`` (document, versions, rotate, deactivate) and ``/identity/registries/``
(which of the organisation's networks anchor DIDs). Thin: reads through
``identity.selectors``, every POST calls one service in ``identity.services``.

Holder custody happens in the browser (``static identity/holder.js``): it makes an Ed25519
key with WebCrypto (never extractable, kept in IndexedDB), asks ``prepare/`` for the exact
bytes, checks and signs them, and posts the form with the public key and the signature.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baas.errors import AppError, NotFound
from identity import selectors, services
from identity.choices import Custody, DidStatus, Subject
from identity.forms import (
    ChangeDidForm,
    CreateDidForm,
    DeactivateDidForm,
    RegistryForm,
    RegistryPublicForm,
)
from identity.models import Did
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required


def _did_for_page(request: HttpRequest, did_id: Any) -> Did:
    try:
        return selectors.did_get(tenant=request.portal.tenant, did_id=did_id)
    except NotFound:
        raise Http404 from None


def _subjects(request: HttpRequest) -> list[str]:
    subjects = []
    if request.portal.can("admin"):
        subjects.append("organisation")
    if request.portal.can("developer"):
        subjects.append("me")
    return subjects


def _texts() -> dict[str, str]:
    """What holder.js says, in the reader's language."""
    return {
        "working": _("Making a key in this browser and signing…"),
        "no_webcrypto": _("This browser cannot make Ed25519 keys (WebCrypto); choose the "
                          "platform to hold the key, or use a current browser."),
        "no_key": _("This browser holds no key of this DID; only the browser that created "
                    "or last rotated it can change it."),
        "mismatch": _("The server asked to sign something else than this change; nothing "
                      "was signed."),
        "failed": _("Signing failed: %(error)s"),
    }


def _when(text: Any) -> datetime | None:
    """An RFC 3339 time of the chain, for the date filter (each language's own order)."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@tenant_required
def did_list(request: HttpRequest) -> HttpResponse:
    tenant = request.portal.tenant
    networks = [(str(n.pk), f"{n.name} (did:baas:{n.did_registry.namespace})")
                for n in selectors.did_networks(tenant=tenant)]
    subjects = _subjects(request)
    form = CreateDidForm(posted(request), networks=networks, subjects=subjects)
    if request.method == "POST":
        if not subjects:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            try:
                did = services.did_create(
                    tenant=tenant, actor=request.user,
                    network=selectors.did_networks(tenant=tenant).get(pk=data["network"]),
                    subject=data["subject"], custody=data["custody"],
                    public_key=data["public_key"] or None,
                    signature=services.decode_hex_or_base64(data["signature"] or None),
                    label=data["label"], request=request)
            except AppError as exc:
                form.add_error(None, app_error_text(exc))
            else:
                messages.success(request, _("The DID is written on the network."))
                return redirect("identity:did-detail", did_id=did.pk)
    dids = list(selectors.did_list(tenant=tenant))
    return page(request, "identity/did_list.html", {
        "dids": dids, "form": form, "can_create": bool(subjects) and bool(networks),
        "has_networks": bool(networks), "can_admin": request.portal.can("admin"),
        "status_failed": DidStatus.FAILED, "texts": _texts(),
    }, status=400 if request.method == "POST" else 200)


@tenant_required
def did_detail(request: HttpRequest, did_id: Any) -> HttpResponse:
    did = _did_for_page(request, did_id)
    chain = selectors.did_chain(did)
    record = chain.get("record") or {}
    if record:  # a write that committed without an answer shows here
        did = services.did_refresh(did=did, record=record)
    state = record.get("state") or {}
    controllers = services.controller_keys(state)
    organisation = did.subject == Subject.ORGANISATION
    mine = not organisation and did.user_id == request.user.pk
    controller = request.portal.can("admin") if organisation \
        else mine and request.portal.can("developer")
    may_rotate = did.status == DidStatus.ACTIVE and controller
    # Deactivation also ends a failed create that committed late, and the platform-held
    # DID of a person who left (their admins end it; nobody rotates it).
    on_chain = bool(record) and not record.get("deactivated")
    left = did.custody == Custody.PLATFORM and services.person_left(did) \
        and request.portal.can("admin")
    may_deactivate = on_chain and did.status in (DidStatus.ACTIVE, DidStatus.FAILED) \
        and (controller or left)
    metadata = chain.get("metadata") or {}
    return page(request, "identity/did_detail.html", {
        "did": did, "chain": chain, "document": chain.get("document"),
        "document_json": json.dumps(chain.get("document"), indent=2, ensure_ascii=False)
        if chain.get("document") else "", "texts": _texts(),
        "metadata": metadata, "created": _when(metadata.get("created")),
        "updated": _when(metadata.get("updated")),
        "versions": [{**v, "when": _when(v.get("updated"))} for v in chain["versions"]],
        "controllers": " ".join(controllers.values()),
        "may_change": may_rotate or may_deactivate, "may_rotate": may_rotate,
        "may_deactivate": may_deactivate, "organisation": organisation,
        "holder": did.custody == Custody.HOLDER, "rotate_form": ChangeDidForm(),
        "deactivate_form": DeactivateDidForm(), "prev": record.get("version"),
    })


def _change(request: HttpRequest, did_id: Any, action: str) -> HttpResponse:
    did = _did_for_page(request, did_id)
    form = (DeactivateDidForm if action == "deactivate" else ChangeDidForm)(request.POST)
    if not form.is_valid():
        messages.error(request, _("Confirm the deactivation first.") if action == "deactivate"
                       else _("The form was not complete."))
        return redirect("identity:did-detail", did_id=did.pk)
    data = form.cleaned_data
    kwargs = {"tenant": request.portal.tenant, "actor": request.user, "did": did,
              "signature": services.decode_hex_or_base64(data["signature"] or None),
              "prev": data["prev"], "request": request}
    try:
        if action == "deactivate":
            services.did_deactivate(**kwargs)
        else:
            services.did_rotate(public_key=data["public_key"] or None, **kwargs)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        messages.success(request, _("The DID is deactivated.") if action == "deactivate"
                         else _("The key is replaced; the DID has a new version."))
    return redirect("identity:did-detail", did_id=did.pk)


@tenant_required
@require_POST
def did_rotate(request: HttpRequest, did_id: Any) -> HttpResponse:
    return _change(request, did_id, "rotate")


@tenant_required
@require_POST
def did_deactivate(request: HttpRequest, did_id: Any) -> HttpResponse:
    return _change(request, did_id, "deactivate")


def _json_error(exc: AppError) -> JsonResponse:
    return JsonResponse({"error": {"code": exc.code, "message": app_error_text(exc)}},
                        status=exc.status)


@tenant_required
@require_POST
def prepare(request: HttpRequest) -> JsonResponse:
    """Holder custody: the bytes to sign for a create (``network``, ``subject``,
    ``public_key``) or, with ``did``, a rotation (``op=update``, the new ``public_key``) or
    a deactivation (``op=deactivate``). Nothing is stored."""
    tenant = request.portal.tenant
    try:
        if request.POST.get("did"):
            did = _did_for_page(request, request.POST["did"])
            answer = services.did_prepare_change(
                tenant=tenant, actor=request.user, did=did, op=request.POST.get("op"),
                public_key=request.POST.get("public_key") or None)
        else:
            network = selectors.did_networks(tenant=tenant).filter(
                pk=request.POST.get("network")).first() \
                if _uuid(request.POST.get("network")) else None
            if network is None:
                raise NotFound("not_found", _("Choose a network that holds a DID registry."))
            answer = services.did_prepare(
                tenant=tenant, actor=request.user, network=network,
                subject=request.POST.get("subject"),
                public_key=request.POST.get("public_key"))
    except AppError as exc:
        return _json_error(exc)
    return JsonResponse(answer)


def _uuid(value: Any) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@tenant_required
def registries(request: HttpRequest) -> HttpResponse:
    tenant = request.portal.tenant
    owned = list(selectors.owned_networks(tenant=tenant))
    free = [(str(n.pk), n.name) for n in owned if not hasattr_registry(n)]
    form = RegistryForm(posted(request), networks=free)
    status = 200
    if request.method == "POST":
        if not request.portal.can("admin"):
            raise Http404
        if form.is_valid():
            network = next(n for n in owned if str(n.pk) == form.cleaned_data["network"])
            try:
                services.registry_set(tenant=tenant, actor=request.user, network=network,
                                      namespace=form.cleaned_data["namespace"],
                                      public=form.cleaned_data["public"], request=request)
            except AppError as exc:
                form.add_error(None, app_error_text(exc))
            else:
                messages.success(request, _("The network now anchors DIDs."))
                return redirect("identity:registries")
        status = 400
    return page(request, "identity/registries.html", {
        "networks": owned, "form": form, "has_free": bool(free),
        "can_admin": request.portal.can("admin")}, status=status)


def hasattr_registry(network: Any) -> bool:
    # No registry: the reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    return getattr(network, "did_registry", None) is not None


@tenant_required
@require_POST
def registry_public(request: HttpRequest, network_id: Any) -> HttpResponse:
    if not request.portal.can("admin"):
        raise Http404
    network = next((n for n in selectors.owned_networks(tenant=request.portal.tenant)
                    if str(n.pk) == str(network_id) and hasattr_registry(n)), None)
    if network is None:
        raise Http404
    form = RegistryPublicForm(request.POST)
    form.is_valid()
    try:
        services.registry_update(tenant=request.portal.tenant, actor=request.user,
                                 registry=network.did_registry,
                                 public=bool(form.cleaned_data.get("public")),
                                 request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        messages.success(request, _("Saved."))
    return redirect("identity:registries")
