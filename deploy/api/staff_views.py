"""Platform-staff endpoints for networks: the approval queue, approve/reject, and creating a
network on a tenant's behalf.

Not tenant-scoped (staff act across tenants), so these are plain API views that check
``is_staff`` themselves. Anyone else gets ``404 not_found``, exactly like an id they cannot
see, so the endpoints reveal nothing to tenants.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import NotFound
from deploy import platform, selectors, services
from deploy.api.serializers import (
    NetworkCreateSerializer,
    NetworkSerializer,
    OperationSerializer,
)
from tenants.permissions import SessionOnly


class PendingNetworkSerializer(NetworkSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SerializerMethodField()

    class Meta(NetworkSerializer.Meta):
        fields = [*NetworkSerializer.Meta.fields, "tenant", "requested_by"]
        read_only_fields = fields

    def get_requested_by(self, network: Any) -> str | None:
        return getattr(network.created_by, "email", None)


class OnBehalfCreateSerializer(NetworkCreateSerializer):
    tenant = serializers.SlugField(help_text="slug of the tenant that will own the network")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=services.MAX_REASON, allow_blank=True,
                                   required=False, default="")


class StaffView(APIView):
    # Staff act as themselves in a session; an API token (bound to one tenant) never does.
    permission_classes = [IsAuthenticated, SessionOnly]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not platform.is_staff(request.user):
            raise NotFound("not_found", "Not found.")


class DecisionSerializer(serializers.Serializer):
    network = NetworkSerializer()
    operation = OperationSerializer(allow_null=True)


class PendingListSerializer(serializers.Serializer):
    results = PendingNetworkSerializer(many=True)


def _decision(network: Any, op: Any = None) -> Response:
    body = {"network": NetworkSerializer(network).data,
            "operation": OperationSerializer(op).data if op is not None else None}
    if op is None:
        return Response(body)
    return Response(body, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": f"/api/v1/operations/{op.pk}/"})


class PendingNetworksView(StaffView):
    """``GET /api/v1/staff/networks/pending/``: every tenant's networks awaiting approval."""

    @extend_schema(responses=PendingListSerializer)
    def get(self, request: Request) -> Response:
        networks = selectors.networks_pending_approval()
        return Response({"results": PendingNetworkSerializer(networks, many=True).data})


class OnBehalfCreateView(StaffView):
    """``POST /api/v1/staff/networks/``: create a network owned by ``tenant`` (a slug)."""

    @extend_schema(request=OnBehalfCreateSerializer, responses={202: DecisionSerializer})
    def post(self, request: Request) -> Response:
        from tenants.models import Tenant

        data = OnBehalfCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = Tenant.objects.filter(slug=data.validated_data["tenant"]).first()
        if tenant is None:
            raise NotFound("tenant_not_found", "No organisation with that slug.")
        network, op = services.network_create(
            tenant=tenant, actor=request.user, on_behalf=True, request=request,
            spec=services.NetworkSpec(
                name=data.validated_data["name"], validators=data.validated_data["validators"],
                driver=data.validated_data["driver"],
            ),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        return _decision(network, op)


class ApproveView(StaffView):
    """``POST /api/v1/networks/{id}/approve/``: queue provisioning (202 + operation)."""

    @extend_schema(request=None, responses={202: DecisionSerializer})
    def post(self, request: Request, network_pk: Any) -> Response:
        network, op = services.network_approve(actor=request.user, network_id=network_pk,
                                               request=request)
        return _decision(network, op)


class RejectView(StaffView):
    """``POST /api/v1/networks/{id}/reject/`` ``{"reason"}``: the network ends rejected."""

    @extend_schema(request=RejectSerializer, responses={200: DecisionSerializer})
    def post(self, request: Request, network_pk: Any) -> Response:
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        network = services.network_reject(actor=request.user, network_id=network_pk,
                                           reason=data.validated_data["reason"],
                                           request=request)
        return _decision(network)
