"""Networks and nodes API: reads from selectors, writes through one service each.

Lifecycle calls answer 202 with the operation to poll (``/api/v1/operations/{id}/``) or to
stream (``.../events/``). Everything is scoped to the request's tenant: another tenant's
network, node, logs or gateway answers 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from baas.errors import ValidationFailed
from baas.tenancy import TenantScopedViewSet
from deploy import selectors, services
from deploy.api.serializers import (
    NetworkCreateSerializer,
    NetworkSerializer,
    NodeSerializer,
    OperationSerializer,
)
from deploy.choices import NetworkStatus
from deploy.models import Network, Node
from deploy.services.upgrade import network_upgrade
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS

MAX_LOG_TAIL = 2000


def _accepted(network: Network, op: Any) -> Response:
    network.refresh_from_db()
    return Response(
        {"network": NetworkSerializer(network).data, "operation": OperationSerializer(op).data},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/api/v1/operations/{op.pk}/"},
    )


class NetworkViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet
):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = NetworkSerializer
    queryset = Network.objects.all()
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    action_roles = {"create": "admin", "destroy": "admin", "start": "developer",
                    "stop": "developer", "validators": "admin", "upgrade": "admin"}

    def get_queryset(self):
        if self.action != "list":
            return selectors.network_queryset(tenant=self.tenant)
        status_filter = self.request.query_params.get("status")
        if status_filter and status_filter not in NetworkStatus.values:
            raise ValidationFailed(
                "validation_failed", f"Unknown status; one of {', '.join(NetworkStatus.values)}.",
                details={"status": status_filter[:40]})
        return selectors.network_list(tenant=self.tenant, filters={"status": status_filter})

    def create(self, request: Request) -> Response:
        data = NetworkCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        network, op = services.network_create(
            tenant=self.tenant, actor=request.user,
            spec=services.NetworkSpec(
                name=data.validated_data["name"], validators=data.validated_data["validators"],
                driver=data.validated_data["driver"],
                public_access=data.validated_data["public_access"],
                cluster=data.validated_data.get("cluster") or None,
            ),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            request=request,
        )
        return _accepted(network, op)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        network = self.get_object()
        return _accepted(network, services.network_delete(
            tenant=self.tenant, actor=request.user, network=network, request=request))

    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        network = self.get_object()
        return _accepted(network, services.network_start(
            tenant=self.tenant, actor=request.user, network=network, request=request))

    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        network = self.get_object()
        return _accepted(network, services.network_stop(
            tenant=self.tenant, actor=request.user, network=network, request=request))

    @extend_schema(
        request=inline_serializer("NetworkUpgrade", {
            "ledger_version": serializers.CharField(required=False)}),
        responses={202: OpenApiResponse(description='{"network", "operation"}')})
    @action(detail=True, methods=["post"])
    def upgrade(self, request: Request, pk: str | None = None) -> Response:
        """Move every validator to another ledger version (``{"ledger_version": "..."}``;
        default: the control plane's current ``ledger/``) at one height."""
        network = self.get_object()
        body = request.data if isinstance(request.data, dict) else {}
        return _accepted(network, network_upgrade(
            tenant=self.tenant, actor=request.user, network=network,
            version=body.get("ledger_version"), request=request))

    @action(detail=True, methods=["post"])
    def validators(self, request: Request, pk: str | None = None) -> Response:
        """Add one validator (``POST .../validators/``); remove one with ``DELETE`` on
        the node."""
        network = self.get_object()
        return _accepted(network, services.validator_add(
            tenant=self.tenant, actor=request.user, network=network, request=request))


class NodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    serializer_class = NodeSerializer
    queryset = Node.objects.all()
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    action_roles = {"logs": "developer", "restart": "developer", "destroy": "admin"}

    def destroy(self, request: Request, network_pk: str, pk: str | None = None) -> Response:
        node = self.get_object()
        op = services.validator_remove(tenant=self.tenant, actor=request.user, node=node,
                                       request=request)
        return _accepted(node.network, op)

    def get_queryset(self):
        network = selectors.network_get(tenant=self.tenant, network_id=self.kwargs["network_pk"])
        return selectors.node_list(tenant=self.tenant, network=network)

    @action(detail=True, methods=["get"])
    def logs(self, request: Request, network_pk: str, pk: str | None = None) -> Response:
        node = self.get_object()
        services.owner_or_runner(self.tenant, node)  # a member reads only its own logs
        try:
            tail = int(request.query_params.get("tail", 200))
        except ValueError:
            raise ValidationFailed("invalid_tail", "tail is a whole number of lines.") from None
        tail = max(1, min(MAX_LOG_TAIL, tail))
        text = selectors.node_logs(node=node, tail=tail)
        return Response({"node": str(node.pk), "tail": tail, "lines": text.splitlines()})

    @extend_schema(
        parameters=[OpenApiParameter(
            "source", str, enum=list(selectors.METRICS_SOURCES), required=False,
            description="host (default): the chaincode host's ledger_* metrics; cometbft: "
                        "CometBFT's own cometbft_* metrics; all: both in one answer.")],
        responses={(200, "text/plain"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, network_pk: str, pk: str | None = None) -> HttpResponse:
        """The node's metrics in Prometheus' text format (a scrape target: send the API
        token as the scraper's authorization): the chaincode host's, CometBFT's
        (``?source=cometbft``) or both (``?source=all``)."""
        node = self.get_object()
        services.owner_or_runner(self.tenant, node)  # a member reads only its own nodes
        source = request.query_params.get("source", "host")
        return HttpResponse(selectors.node_metrics(node=node, source=source),
                            content_type=CONTENT_TYPE_LATEST)

    @action(detail=True, methods=["post"])
    def restart(self, request: Request, network_pk: str, pk: str | None = None) -> Response:
        node = self.get_object()
        op = services.node_restart(tenant=self.tenant, actor=request.user, node=node,
                                   request=request)
        return Response({"node": NodeSerializer(node).data,
                         "operation": OperationSerializer(op).data},
                        status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/operations/{op.pk}/"})
