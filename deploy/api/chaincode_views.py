"""``/api/v1/networks/{id}/chaincodes/``: the chaincode a network runs, and installs.

Installing is governance: admins of the network's owner, ``deploy`` scope on tokens, an
operation (202) and an audit record (``deploy.services.chaincode``). Reading the list is a
query of ``_lifecycle`` through the gateway, open to every reader of the network.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.tenancy import TenantScopedMixin
from deploy import gateway, selectors
from deploy.api.serializers import OperationSerializer
from deploy.services import chaincode
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS

InstallRequest = inline_serializer("ChaincodeInstallRequest", {
    "name": serializers.CharField(), "version": serializers.CharField(),
    "source": serializers.CharField(),
})


class ChaincodeView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"

    @extend_schema(responses={200: OpenApiResponse(description="chaincode on the chain")})
    def get(self, request: Request, network_pk: Any) -> Response:
        network = selectors.network_get(tenant=self.tenant, network_id=network_pk)
        result = gateway.query(network=network, body={
            "chaincode": "_lifecycle", "function": "list_chaincodes", "args": []})
        return Response(result)

    @extend_schema(request=InstallRequest, responses={202: OperationSerializer})
    def post(self, request: Request, network_pk: Any) -> Response:
        network = selectors.network_get(tenant=self.tenant, network_id=network_pk)
        body = request.data if isinstance(request.data, dict) else {}
        op = chaincode.chaincode_install(
            tenant=self.tenant, actor=request.user, network=network,
            name=body.get("name"), version=body.get("version"), source=body.get("source"),
            request=request)
        return Response(OperationSerializer(op).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/v1/operations/{op.pk}/"})
