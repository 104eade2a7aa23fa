"""``GET /api/v1/networks/{id}/activity/``: the figures behind the portal's charts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import ValidationFailed
from baas.tenancy import TenantScopedMixin
from deploy import selectors as deploy_selectors
from monitor import selectors

_POINT_FIELDS = {
    "at": serializers.DateTimeField(),
    **{name: serializers.FloatField(allow_null=True) for name in selectors.SERIES},
}


def window_param(value: Any) -> str:
    window = value or "1h"
    if window not in selectors.WINDOWS:
        raise ValidationFailed("invalid_window",
                               f"window must be one of: {', '.join(selectors.WINDOWS)}.",
                               details={"allowed": list(selectors.WINDOWS)})
    return window


class ActivityView(TenantScopedMixin, APIView):
    read_role = "viewer"

    @extend_schema(
        parameters=[OpenApiParameter("window", str, enum=list(selectors.WINDOWS))],
        responses=inline_serializer("NetworkActivity", {
            "window": serializers.CharField(),
            "start": serializers.DateTimeField(),
            "end": serializers.DateTimeField(),
            "height": serializers.IntegerField(allow_null=True),
            "validators": serializers.IntegerField(allow_null=True),
            "disk_kind": serializers.ChoiceField(
                choices=["used", "requested", ""],
                help_text="What disk_bytes is: used (measured: local driver, Docker) or "
                          "requested (Kubernetes claims' capacity, not usage); empty when "
                          "no sample has a disk figure."),
            "points": inline_serializer("ActivityPoint", _POINT_FIELDS, many=True),
        }))
    def get(self, request: Request, network_pk: Any) -> Response:
        window = window_param(request.query_params.get("window"))
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        data = selectors.activity(network=network, window=window)
        latest = data["latest"]
        return Response({
            "window": window,
            "start": data["start"],
            "end": data["end"],
            "height": latest.height if latest else None,
            "validators": latest.validators if latest else None,
            "disk_kind": data["disk_kind"],
            "points": [{"at": p.at, **p.values} for p in data["points"]],
        })
