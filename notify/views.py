"""Portal pages of webhooks: subscriptions, what was delivered, replays. Admins only
(others get 404, as for a page that does not exist); every POST calls one service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baas.errors import AppError, NotFound
from notify import selectors, services
from notify.choices import EVENT_TYPE_TITLES
from notify.forms import WebhookForm
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required

DELIVERY_ROWS = 50


def _admin(request: HttpRequest) -> None:
    if not request.portal.can("admin"):  # type: ignore[attr-defined]
        raise Http404


def _subscription(request: HttpRequest, subscription_id: Any) -> Any:
    try:
        return selectors.subscription_get(tenant=request.portal.tenant,  # type: ignore[attr-defined]
                                          subscription_id=subscription_id)
    except NotFound:
        raise Http404 from None


def _delivery(request: HttpRequest, delivery_id: Any) -> Any:
    try:
        return selectors.delivery_get(tenant=request.portal.tenant,  # type: ignore[attr-defined]
                                      delivery_id=delivery_id)
    except NotFound:
        raise Http404 from None


def _no_store(response: HttpResponse) -> HttpResponse:
    """A page showing a secret: no cache (a proxy's, the browser's) may keep it."""
    response["Cache-Control"] = "no-store"
    return response


@tenant_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    _admin(request)
    tenant = request.portal.tenant  # type: ignore[attr-defined]
    form = WebhookForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            sub, secret = services.subscription_create(
                tenant=tenant, actor=request.user, request=request, **form.cleaned_data)
        except AppError as exc:
            form.add_error(None, app_error_text(exc))
        else:
            # Rendered here, not put in a message or the session: the secret is shown once.
            return _no_store(page(request, "notify/webhook_created.html",
                                  {"subscription": sub, "secret": secret}))
    return page(request, "notify/webhook_list.html", {
        "subscriptions": selectors.subscription_list(tenant=tenant),
        "deliveries": selectors.delivery_list(tenant=tenant)[:DELIVERY_ROWS],
        "form": form, "titles": EVENT_TYPE_TITLES,
    }, status=400 if form.errors else 200)


@tenant_required
def webhook_detail(request: HttpRequest, subscription_id: Any) -> HttpResponse:
    _admin(request)
    tenant = request.portal.tenant  # type: ignore[attr-defined]
    sub = _subscription(request, subscription_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action in ("pause", "resume"):
                services.subscription_update(tenant=tenant, actor=request.user,
                                             subscription=sub,
                                             changes={"active": action == "resume"},
                                             request=request)
                messages.success(request, _("Webhook resumed.") if action == "resume"
                                 else _("Webhook paused."))
            elif action == "rotate":
                secret = services.subscription_rotate_secret(
                    tenant=tenant, actor=request.user, subscription=sub, request=request)
                return _no_store(page(request, "notify/webhook_created.html",
                                      {"subscription": sub, "secret": secret, "rotated": True}))
            elif action == "delete":
                services.subscription_delete(tenant=tenant, actor=request.user,
                                             subscription=sub, request=request)
                messages.success(request, _("Webhook deleted."))
                return redirect("notify:webhook-list")
            else:
                return HttpResponse(status=400)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        return redirect("notify:webhook-detail", subscription_id=sub.pk)
    deliveries = selectors.delivery_list(tenant=tenant, filters={"subscription": sub.pk})
    return page(request, "notify/webhook_detail.html", {
        "subscription": sub, "deliveries": deliveries[:DELIVERY_ROWS], "titles": EVENT_TYPE_TITLES,
    })


@tenant_required
def delivery_detail(request: HttpRequest, delivery_id: Any) -> HttpResponse:
    _admin(request)
    delivery = _delivery(request, delivery_id)
    return page(request, "notify/delivery_detail.html", {
        "delivery": delivery, "attempts": list(delivery.attempt_set.all())})


@require_POST
@tenant_required
def delivery_replay(request: HttpRequest, delivery_id: Any) -> HttpResponse:
    _admin(request)
    delivery = _delivery(request, delivery_id)
    try:
        replay = services.delivery_replay(tenant=request.portal.tenant,  # type: ignore[attr-defined]
                                          actor=request.user, delivery=delivery,
                                          request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
        return redirect("notify:delivery-detail", delivery_id=delivery.pk)
    messages.success(request, _("Delivery queued again."))
    return redirect("notify:delivery-detail", delivery_id=replay.pk)
