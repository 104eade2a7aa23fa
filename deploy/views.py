"""Portal pages for ledger networks. Thin: every POST calls one service in
``deploy.services``; reads use ``deploy.selectors``. Reuses the portal's layout, the
current-organisation context and error display from ``tenants.views`` / ``tenants.forms``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baas.errors import AppError, NotFound, PermissionDenied
from baas.messages import describe_operation
from baas.models import Operation
from deploy import consortium, platform, selectors, services
from deploy.choices import (
    NETWORK_BUSY,
    NETWORK_STARTABLE,
    NETWORK_STOPPABLE,
    NetworkStatus,
    network_can_move,
)
from deploy.forms import ConfirmForm, NetworkCreateForm, error_field, error_text
from deploy.models import Network, Node
from deploy.services.upgrade import network_upgrade
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required

LOG_TAIL = 200


def network_for_page(request: HttpRequest, network_id: Any) -> Network:
    try:
        return selectors.network_get(tenant=request.portal.tenant, network_id=network_id)
    except NotFound:
        raise Http404 from None


def _own_node(request: HttpRequest, network: Network, node_id: Any) -> Node:
    """A node of ``network`` that the current organisation manages (see
    ``services.owner_or_runner``); anything else is a 404 in the portal."""
    try:
        node = selectors.node_get(tenant=request.portal.tenant, network=network, node_id=node_id)
        services.owner_or_runner(request.portal.tenant, node)
    except (NotFound, PermissionDenied):
        raise Http404 from None
    return node


def _latest_operation(network: Network, tenant: Any) -> Operation | None:
    """The newest operation on ``network`` that ``tenant`` started (a consortium member
    sees its own validator work, not the owner's operations)."""
    return (
        Operation.objects.for_tenant(tenant)
        .filter(target_type="deploy.network", target_id=str(network.pk))
        .order_by("-created_at", "-id")
        .first()
    )


def _described(op: Operation | None) -> Operation | None:
    return describe_operation(op) if op is not None else None


def show_error(form: Any, exc: AppError) -> None:
    field = error_field(exc)
    form.add_error(field if field in form.fields else None, error_text(exc))


@tenant_required
def network_list(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    form = NetworkCreateForm(posted(request),
                             clusters=selectors.cluster_list(tenant=portal.tenant))
    if request.method == "POST" and form.is_valid():
        try:
            network, op = services.network_create(
                tenant=portal.tenant, actor=request.user,
                spec=services.NetworkSpec(**form.cleaned_data), request=request,
            )
        except AppError as exc:
            show_error(form, exc)
        else:
            # The network page's live panel says "waiting for approval" or "is being
            # created" for as long as it is true (a flash message would outlive it).
            return redirect("deploy:network-detail", network_id=network.pk)
    return page(request, "deploy/network_list.html", {
        "networks": selectors.network_list(tenant=portal.tenant).select_related("tenant"),
        "form": form,
        "can_create": portal.can("admin"),
        "received": consortium.invitations_received(tenant=portal.tenant),
        "can_decide": portal.can("admin"),
    }, status=400 if form.errors else 200)


def detail_context(request: HttpRequest, network: Network) -> dict[str, Any]:
    portal = request.portal
    owner = network.tenant_id == portal.tenant.pk
    nodes = list(selectors.node_list(tenant=portal.tenant, network=network))
    running = network.status == NetworkStatus.RUNNING
    return {
        "network": network,
        "nodes": nodes,
        # Nodes this organisation manages: all of them for the owner, its own for a member.
        "own_nodes": {n.pk for n in nodes if owner or n.tenant_id == portal.tenant.pk},
        # Name each node's organisation once more than one runs validators here.
        "consortium": len({n.tenant_id for n in nodes}) > 1,
        "operation": _described(_latest_operation(network, portal.tenant)),
        "busy": network.status in NETWORK_BUSY,
        "can_start": owner and network.status in NETWORK_STARTABLE and portal.can("developer"),
        "can_stop": owner and network.status in NETWORK_STOPPABLE and portal.can("developer"),
        "can_delete": owner and network_can_move(network.status, NetworkStatus.DELETING)
        and portal.can("admin"),
        # Said by the live panel while true, so it goes by itself once the network runs
        # (a flash message would stay on the page until the next full reload).
        "being_created": network.status in (NetworkStatus.REQUESTED,
                                            NetworkStatus.PROVISIONING),
        "awaiting_approval": network.status == NetworkStatus.PENDING_APPROVAL,
        "can_logs": portal.can("developer"),
        "can_add_validator": running and portal.can("admin")
        and consortium.may_write(network, portal.tenant),
        "can_remove_validator": running and portal.can("admin")
        and network.validator_count > 1,
        # Only the owner's admins move the network's software.
        "upgrade_to": selectors.ledger_upgrade_offer(network=network)
        if owner and running and portal.can("admin") else "",
    }


@tenant_required
def network_detail(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    context = detail_context(request, network)
    if request.headers.get("HX-Request"):  # the live panel refreshing itself
        return page(request, "deploy/_network_live.html", context)
    from deploy.consortium_pages import consortium_context

    context.update(consortium_context(request, network))
    return page(request, "deploy/network_detail.html", context)


# Lazy: the labels are read per request, in that request's language, not at import.
ACTIONS = {
    "start": (services.network_start, "developer", gettext_lazy("Start")),
    "stop": (services.network_stop, "developer", gettext_lazy("Stop")),
    "delete": (services.network_delete, "admin", gettext_lazy("Delete")),
    "add-validator": (services.validator_add, "admin", gettext_lazy("Add a validator to")),
    "upgrade": (network_upgrade, "admin", gettext_lazy("Upgrade the ledger of")),
}


@tenant_required
def network_action(request: HttpRequest, network_id: Any, action: str) -> HttpResponse:
    """GET asks for confirmation; POST calls the service and returns to the network page."""
    if action not in ACTIONS:
        raise Http404
    network = network_for_page(request, network_id)
    if action != "add-validator" and network.tenant_id != request.portal.tenant.pk:
        raise Http404  # a consortium member never manages the owner's network
    service, _role, label = ACTIONS[action]
    form = ConfirmForm(posted(request), expected=network.name if action == "delete" else None)
    if request.method == "POST" and form.is_valid():
        try:
            service(tenant=request.portal.tenant, actor=request.user, network=network,
                    request=request)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        else:
            messages.success(request, _("%(action)s requested for %(name)s.")
                             % {"action": label, "name": network.name})
        return redirect("deploy:network-detail", network_id=network.pk)
    return page(request, "deploy/network_confirm.html", {
        "network": network, "action": action, "label": label, "form": form,
    }, status=400 if form.errors else 200)


@tenant_required
def node_logs(request: HttpRequest, network_id: Any, node_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    if not request.portal.can("developer"):
        raise Http404
    node = _own_node(request, network, node_id)
    error = ""
    try:
        text = selectors.node_logs(node=node, tail=LOG_TAIL)
    except AppError as exc:
        text, error = "", exc.message
    context = {"network": network, "node": node, "log": text, "error": error,
               "tail": LOG_TAIL}
    if request.headers.get("HX-Request"):
        return page(request, "deploy/_log.html", context)
    return page(request, "deploy/node_logs.html", context)


@tenant_required
def node_remove(request: HttpRequest, network_id: Any, node_id: Any) -> HttpResponse:
    """Confirm, then take the validator out of the set and delete its node."""
    network = network_for_page(request, network_id)
    node = _own_node(request, network, node_id)
    form = ConfirmForm(posted(request), expected=node.moniker)
    if request.method == "POST" and form.is_valid():
        try:
            services.validator_remove(tenant=request.portal.tenant, actor=request.user,
                                      node=node, request=request)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        else:
            messages.success(request, _("Removing validator %(name)s.") % {"name": node.moniker})
        return redirect("deploy:network-detail", network_id=network.pk)
    return page(request, "deploy/network_confirm.html", {
        "network": network, "node": node, "action": "remove-validator",
        "label": _("Remove validator"), "form": form,
    }, status=400 if form.errors else 200)


def _staff_only(request: HttpRequest) -> None:
    if not platform.is_staff(request.user):
        raise Http404


@login_required(login_url="portal:login")
def staff_networks(request: HttpRequest) -> HttpResponse:
    """Platform staff: networks waiting for approval, each with approve / reject."""
    _staff_only(request)
    if request.method == "POST":
        network_id = request.POST.get("network", "")
        decision = request.POST.get("decision", "")
        try:
            uuid.UUID(network_id)
            if decision == "approve":
                network, _op = services.network_approve(
                    actor=request.user, network_id=network_id, request=request)
                messages.success(request, _("Network %(name)s approved; provisioning is "
                                            "queued.") % {"name": network.name})
            elif decision == "reject":
                network = services.network_reject(
                    actor=request.user, network_id=network_id,
                    reason=request.POST.get("reason", ""), request=request)
                messages.success(request, _("Network %(name)s rejected.")
                                 % {"name": network.name})
            else:
                raise Http404
        except ValueError:
            raise Http404 from None
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        return redirect("deploy:staff-networks")
    return page(request, "deploy/staff_networks.html", {
        "networks": selectors.networks_pending_approval(),
        "max_reason": services.MAX_REASON,
    })
