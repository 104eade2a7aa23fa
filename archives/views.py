"""Portal page of a network's exports and backups: list, start one, download. Thin:
reads through ``archives.selectors``, every POST calls one service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from archives import selectors, services
from baas.errors import AppError, NotFound
from deploy import selectors as deploy_selectors
from tenants.forms import app_error_text
from tenants.views import page, tenant_required


# The backup passphrase never appears in an error report.
@sensitive_post_parameters("passphrase")
@tenant_required
def network_archives(request: HttpRequest, network_id: Any) -> HttpResponse:
    portal = request.portal  # type: ignore[attr-defined]
    try:
        network = deploy_selectors.network_get(tenant=portal.tenant, network_id=network_id)
    except NotFound:
        raise Http404 from None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "backup":
                services.backup_create(tenant=portal.tenant, actor=request.user,
                                       network=network,
                                       passphrase=request.POST.get("passphrase", ""),
                                       request=request)
                messages.success(request, _("Backup started. It appears below when ready."))
            else:
                services.export_create(tenant=portal.tenant, actor=request.user,
                                       network=network, request=request)
                messages.success(request, _("Export started. It appears below when ready."))
        except AppError as exc:
            messages.error(request, app_error_text(exc))
        return redirect("archives:network-archives", network_id=network.pk)
    return page(request, "archives/network_archives.html", {
        "network": network,
        "archives": selectors.archive_list(tenant=portal.tenant, network=network)[:100],
        "can_copy": portal.can("admin") and network.tenant_id == portal.tenant.pk,
    })


@tenant_required
def archive_download(request: HttpRequest, archive_id: Any) -> FileResponse:
    portal = request.portal  # type: ignore[attr-defined]
    try:
        archive = selectors.archive_get(tenant=portal.tenant, archive_id=archive_id)
    except NotFound:
        raise Http404 from None
    if not portal.can("admin"):
        raise Http404  # the keys inside are an admin's to take
    path = services.archive_path(archive)
    if archive.status != "ready" or not path.is_file():
        raise Http404
    file = open(path, "rb")  # noqa: SIM115 (the response closes it)
    try:
        services.audit_download(tenant=portal.tenant, actor=request.user, archive=archive,
                                request=request)
        return FileResponse(file, as_attachment=True, filename=archive.file_name,
                            content_type="application/gzip")
    except BaseException:
        file.close()  # no response took it: nothing else would
        raise
