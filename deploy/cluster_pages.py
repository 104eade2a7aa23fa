"""Portal pages for registered Kubernetes clusters (``/clusters/``): list, register,
check again, remove. Thin: each POST calls one service of ``deploy.services.clusters``;
the kubeconfig is never rendered back, not even into the form after an error."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from baas.errors import AppError, NotFound
from deploy import selectors
from deploy.forms import ClusterRegisterForm, ConfirmForm
from deploy.models import Cluster
from deploy.services import clusters
from tenants.forms import ERROR_TEXT, app_error_text
from tenants.views import page, posted, tenant_required

# Refusals of the kubeconfig are shown under its field; the rest above the form.
KUBECONFIG_CODES = frozenset({
    "cluster_kubeconfig_too_large", "cluster_kubeconfig_invalid",
    "cluster_kubeconfig_incomplete", "cluster_plugin_refused", "cluster_file_reference",
    "cluster_insecure_tls", "cluster_proxy_refused", "cluster_server_not_https",
    "cluster_server_private", "cluster_server_invalid_host", "cluster_unreachable",
    "cluster_tls_failed", "cluster_unauthorized", "cluster_forbidden",
})


# The API's view, as ``tenants.throttling.ActionRateThrottle`` names it: the portal counts in
# the same cache entries (per user, and per cluster for a re-check) under the same
# ``cluster_check`` rate, so switching between the API and the portal buys no extra checks.
_API_VIEW = type("ClusterViewSet", (), {})


def _throttled(request: HttpRequest, action: str, cluster: Cluster | None = None) -> bool:
    from tenants.throttling import ActionRateThrottle

    view = _API_VIEW()
    view.action = action  # type: ignore[attr-defined]
    view.kwargs = {"pk": str(cluster.pk) if cluster else None}  # type: ignore[attr-defined]
    return not ActionRateThrottle().allow_request(request, view)


def _with_error_text(rows: Any) -> list[Cluster]:
    """The clusters with ``error_text``: the last check's failure in the reader's language
    (a platform cluster's only as a generic message; its details can name internal
    addresses)."""
    listed = list(rows)
    for cluster in listed:
        error = clusters.cluster_error(cluster=cluster, staff=False)
        cluster.error_text = error["message"] if error else ""  # type: ignore[attr-defined]
    return listed


def _own_cluster(request: HttpRequest, cluster_id: Any) -> Cluster:
    """A cluster of the current organisation (platform ones are not changed here)."""
    try:
        cluster = selectors.cluster_get(tenant=request.portal.tenant, cluster_id=cluster_id)
    except NotFound:
        raise Http404 from None
    if cluster.tenant_id != request.portal.tenant.pk or not request.portal.can("admin"):
        raise Http404
    return cluster


@tenant_required
def cluster_list(request: HttpRequest) -> HttpResponse:
    portal = request.portal
    can_manage = portal.can("admin")
    form = ClusterRegisterForm(posted(request) if can_manage else None)
    throttled = False
    if request.method == "POST" and can_manage and form.is_valid():
        throttled = _throttled(request, "create")
    if throttled:
        form.add_error(None, ERROR_TEXT["throttled"])
    elif request.method == "POST" and can_manage and form.is_valid():
        try:
            cluster = clusters.cluster_register(
                tenant=portal.tenant, actor=request.user, request=request,
                name=form.cleaned_data["name"], kubeconfig=form.cleaned_data["kubeconfig"],
                context=form.cleaned_data["context"] or None)
        except AppError as exc:
            field = "kubeconfig" if exc.code in KUBECONFIG_CODES else (
                "name" if exc.code in ("invalid_name", "cluster_name_taken") else None)
            form.add_error(field, app_error_text(exc))
        else:
            messages.success(request, _("Cluster %(name)s registered: reachable, and its "
                                        "user has every right networks need.")
                             % {"name": cluster.name})
            return redirect("deploy:cluster-list")
    if form.is_bound:  # whatever happened, the credentials are not sent back
        form.data = form.data.copy()
        form.data["kubeconfig"] = ""
    return page(request, "deploy/cluster_list.html", {
        "clusters": _with_error_text(selectors.cluster_list(tenant=portal.tenant)),
        "form": form,
        "can_manage": can_manage,
    }, status=429 if throttled else 400 if form.errors else 200)


@tenant_required
def cluster_check(request: HttpRequest, cluster_id: Any) -> HttpResponse:
    cluster = _own_cluster(request, cluster_id)
    if request.method != "POST":
        return redirect("deploy:cluster-list")
    if _throttled(request, "check", cluster):
        messages.error(request, ERROR_TEXT["throttled"])
        return redirect("deploy:cluster-list")
    try:
        cluster = clusters.cluster_check(tenant=request.portal.tenant, actor=request.user,
                                         cluster=cluster, request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        error = clusters.cluster_error(cluster=cluster, staff=False)
        if error:
            messages.error(request, error["message"])
        else:
            messages.success(request, _("Cluster %(name)s is ready.") % {"name": cluster.name})
    return redirect("deploy:cluster-list")


@tenant_required
def cluster_delete(request: HttpRequest, cluster_id: Any) -> HttpResponse:
    """Confirm with the cluster's name, then forget it."""
    cluster = _own_cluster(request, cluster_id)
    form = ConfirmForm(posted(request), expected=cluster.name,
                       label=_("Type the cluster's name to confirm"))
    if request.method == "POST" and form.is_valid():
        try:
            clusters.cluster_delete(tenant=request.portal.tenant, actor=request.user,
                                    cluster=cluster, request=request)
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        else:
            messages.success(request, _("Cluster %(name)s removed.") % {"name": cluster.name})
        return redirect("deploy:cluster-list")
    return page(request, "deploy/cluster_confirm.html", {"cluster": cluster, "form": form},
                status=400 if form.errors else 200)
