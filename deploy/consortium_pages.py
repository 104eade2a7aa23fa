"""Portal pages for consortiums. Thin, like ``deploy.views``: each POST calls one service in
``deploy.consortium`` and returns to the page it came from with a message.

- the owner invites organisations and revokes invitations from the network page;
- the invited organisation accepts or declines from the networks list;
- the owner removes a member, or a member leaves, after typing the member's slug.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baas.errors import AppError, NotFound
from deploy import consortium
from deploy.choices import InvitationStatus, NetworkStatus
from deploy.forms import ConfirmForm, InviteForm
from deploy.models import ConsortiumInvitation, Network
from deploy.views import detail_context, network_for_page, show_error
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required

CLOSED = frozenset({NetworkStatus.DELETING, NetworkStatus.DELETED, NetworkStatus.REJECTED})


def consortium_context(request: HttpRequest, network: Network) -> dict[str, Any]:
    """What the network page shows about its consortium, for owner and members alike."""
    portal = request.portal
    is_owner = network.tenant_id == portal.tenant.pk
    # A deleted, deleting or rejected network takes no members and has none to remove: the
    # page offers nothing the services would refuse.
    closed = network.status in CLOSED
    context: dict[str, Any] = {
        "is_owner": is_owner,
        "membership": None if is_owner else consortium.membership_of(network, portal.tenant),
        "members": consortium.members(network=network),
        "can_invite": is_owner and portal.can("admin") and not closed,
        "is_admin": portal.can("admin") and not closed,
    }
    if context["can_invite"]:
        context["invitations"] = consortium.invitations_sent(
            tenant=portal.tenant, network=network
        ).filter(status=InvitationStatus.PENDING, expires_at__gt=timezone.now())
        context["invite_form"] = InviteForm()
    return context


@tenant_required
@require_POST
def network_invite(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            consortium.invitation_create(
                tenant=request.portal.tenant, actor=request.user, network=network,
                invited_slug=form.cleaned_data["tenant"], role=form.cleaned_data["role"],
                request=request,
            )
        except AppError as exc:
            show_error(form, exc)
        else:
            messages.success(request, _("Invitation sent to %(org)s.")
                             % {"org": form.cleaned_data["tenant"]})
            return redirect("deploy:network-detail", network_id=network.pk)
    # Show the page again with the form's errors next to its fields.
    context = {**detail_context(request, network), **consortium_context(request, network),
               "invite_form": form}
    return page(request, "deploy/network_detail.html", context, status=400)


@tenant_required
@require_POST
def invitation_revoke(request: HttpRequest, network_id: Any, invitation_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    invitation = ConsortiumInvitation.objects.filter(pk=invitation_id, network=network).first()
    if invitation is None or network.tenant_id != request.portal.tenant.pk:
        raise Http404
    try:
        consortium.invitation_revoke(tenant=request.portal.tenant, actor=request.user,
                                     invitation=invitation, request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        messages.success(request, _("Invitation revoked."))
    return redirect("deploy:network-detail", network_id=network.pk)


DECISIONS = {"accept": consortium.invitation_accept, "decline": consortium.invitation_decline}


@tenant_required
@require_POST
def invitation_decide(request: HttpRequest, invitation_id: Any, decision: str) -> HttpResponse:
    """Accept (then show the network) or decline an invitation addressed to this tenant."""
    if decision not in DECISIONS:
        raise Http404
    try:
        invitation = consortium.invitation_get_received(tenant=request.portal.tenant,
                                                        invitation_id=invitation_id)
    except NotFound:
        raise Http404 from None
    try:
        DECISIONS[decision](tenant=request.portal.tenant, actor=request.user,
                            invitation=invitation, request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
        return redirect("deploy:network-list")
    if decision == "decline":
        messages.success(request, _("Invitation declined."))
        return redirect("deploy:network-list")
    messages.success(request, _("You joined network %(name)s.")
                     % {"name": invitation.network.name})
    return redirect("deploy:network-detail", network_id=invitation.network_id)


@tenant_required
def member_remove(request: HttpRequest, network_id: Any, slug: str) -> HttpResponse:
    """Confirm, then remove a member (the owner) or leave the network (the member)."""
    network = network_for_page(request, network_id)
    membership = consortium.members(network=network).filter(tenant__slug=slug).first()
    leaving = membership is not None and membership.tenant_id == request.portal.tenant.pk
    if membership is None or not (leaving or network.tenant_id == request.portal.tenant.pk):
        raise Http404  # like a node that is not yours: the portal shows no such page
    form = ConfirmForm(posted(request), expected=slug,
                       label=_("Type the organisation's identifier to confirm"))
    if request.method == "POST" and form.is_valid():
        try:
            consortium.member_remove(tenant=request.portal.tenant, actor=request.user,
                                     network=network, member_slug=slug, request=request)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
            return redirect("deploy:network-detail", network_id=network.pk)
        if leaving:
            messages.success(request, _("Leaving network %(name)s: your validators and your "
                                        "organisation are taken off its chain.")
                             % {"name": network.name})
            return redirect("deploy:network-list")
        messages.success(request, _("Removing %(org)s from the network.") % {"org": slug})
        return redirect("deploy:network-detail", network_id=network.pk)
    return page(request, "deploy/network_confirm.html", {
        "network": network, "member": membership.tenant,
        "action": "leave" if leaving else "remove-member",
        "label": _("Leave") if leaving else _("Remove member"), "form": form,
    }, status=400 if form.errors else 200)
