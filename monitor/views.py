"""The network page's activity panel (loaded and refreshed by htmx)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from baas.errors import NotFound
from deploy import selectors as deploy_selectors
from monitor import charts, selectors
from tenants.views import page, tenant_required

# (series, caption, unit); captions lazy so each request reads them in its language.
CHARTS = (
    ("blocks_per_min", _("Blocks per minute"), ""),
    ("tx_per_s", _("Transactions per second"), ""),
    ("block_interval_s", _("Time between blocks"), "s"),
    ("validators_up", _("Validators up"), ""),
    ("disk_bytes", _("Disk used"), "B"),
)


def _disk_caption(kind: str) -> Any:
    """A requested capacity is never shown as if it were bytes used."""
    if kind == "requested":
        return _("Disk requested (volume claims, not usage)")
    if kind == "used":
        return _("Disk used")
    return _("Disk used (not available for this network)")


@tenant_required
def network_activity(request: HttpRequest, network_id: Any) -> HttpResponse:
    try:
        network = deploy_selectors.network_get(tenant=request.portal.tenant,
                                               network_id=network_id)
    except NotFound:
        raise Http404 from None
    window = request.GET.get("window", "1h")
    if window not in selectors.WINDOWS:
        window = "1h"
    data = selectors.activity(network=network, window=window)
    figures = [
        {"series": series, "caption": _disk_caption(data["disk_kind"]) if series == "disk_bytes"
         else caption, "unit": unit,
         "value": data["last"][series],
         "chart": charts.sparkline(data["points"], series, data["start"], data["end"])}
        for series, caption, unit in CHARTS
    ]
    return page(request, "monitor/_activity.html", {
        "network": network, "window": window, "windows": list(selectors.WINDOWS),
        "figures": figures, "latest": data["latest"], "points": len(data["points"]),
    })
