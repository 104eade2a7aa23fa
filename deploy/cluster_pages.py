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
from tenants.forms import app_error_text
from tenants.views import page, posted, tenant_required

# Refusals of the kubeconfig are shown under its field; the rest above the form.
KUBECONFIG_CODES = frozenset({
    "cluster_kubeconfig_too_large", "cluster_kubeconfig_invalid",
    "cluster_kubeconfig_incomplete", "cluster_plugin_refused", "cluster_file_reference",
    "cluster_insecure_tls", "cluster_proxy_refused", "cluster_server_not_https",
    "cluster_server_private", "cluster_unreachable", "cluster_tls_failed",
    "cluster_unauthorized", "cluster_forbidden",
})


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
    if request.method == "POST" and can_manage and form.is_valid():
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
        "clusters": selectors.cluster_list(tenant=portal.tenant),
        "form": form,
        "can_manage": can_manage,
    }, status=400 if form.errors else 200)


@tenant_required
def cluster_check(request: HttpRequest, cluster_id: Any) -> HttpResponse:
    cluster = _own_cluster(request, cluster_id)
    if request.method != "POST":
        return redirect("deploy:cluster-list")
    try:
        cluster = clusters.cluster_check(tenant=request.portal.tenant, actor=request.user,
                                         cluster=cluster, request=request)
    except AppError as exc:
        messages.error(request, app_error_text(exc))
    else:
        if cluster.last_error_code:
            messages.error(request, cluster.last_error_message)
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
