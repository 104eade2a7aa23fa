"""Explorer endpoints under ``/api/v1/networks/{id}/explorer/``: reads only, for viewers
and ``read`` tokens of the owner and of consortium members (the gateway's block and tx
endpoints' rules: ``deploy.selectors.network_get`` decides who sees the network)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import ValidationFailed
from baas.tenancy import TenantScopedMixin
from deploy import selectors as deploy_selectors
from deploy.api.gateway_views import MAX_HEIGHT, _int_param
from deploy.models import Network
from explorer import selectors


class ExplorerView(TenantScopedMixin, APIView):
    read_role = "viewer"

    def network(self) -> Network:
        return deploy_selectors.network_get(tenant=self.tenant,
                                            network_id=self.kwargs["network_pk"])


def _text(request: Request, name: str) -> str:
    return request.query_params.get(name, "")


class OverviewView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_overview", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any) -> Response:
        network = self.network()
        return Response({"network": str(network.pk), "name": network.name,
                         "status": network.status, **selectors.connection(network)})


class BlocksView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_blocks",
                   parameters=[OpenApiParameter("before", int), OpenApiParameter("limit", int)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any) -> Response:
        before = _int_param(request, "before", None)
        limit = _int_param(request, "limit", 10) or 10
        return Response(selectors.block_list(network=self.network(), before=before,
                                             limit=limit))


class BlockView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_block", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, height: int) -> Response:
        if not 1 <= height <= MAX_HEIGHT:
            raise ValidationFailed("invalid_height", f"Block heights run from 1 to {MAX_HEIGHT}.")
        return Response(selectors.block_detail(network=self.network(), tenant=self.tenant,
                                               height=height))


class TxView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_tx", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, tx_hash: str) -> Response:
        return Response(selectors.tx_detail(network=self.network(), tenant=self.tenant,
                                            tx_hash=tx_hash))


class SearchView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_search",
                   parameters=[OpenApiParameter("q", str, required=True),
                               OpenApiParameter("kind", str, enum=list(selectors.SEARCH_KINDS))],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any) -> Response:
        network = self.network()
        return Response(selectors.search(network=network, tenant=self.tenant,
                                         q=_text(request, "q"), kind=_text(request, "kind")))


class ValidatorsView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_validators",
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any) -> Response:
        return Response(selectors.validators(network=self.network()))


class ChaincodesView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_chaincodes",
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any) -> Response:
        return Response(selectors.chaincodes(network=self.network()))


class StateView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_state",
                   parameters=[OpenApiParameter("prefix", str), OpenApiParameter("after", str),
                               OpenApiParameter("limit", int)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, chaincode: str) -> Response:
        selectors.check_chaincode(chaincode)
        network = self.network()
        return Response(selectors.state_keys(
            network=network, chaincode=chaincode, prefix=_text(request, "prefix"),
            after=_text(request, "after"), limit=_int_param(request, "limit", 50) or 50))


class ProofView(ExplorerView):
    @extend_schema(operation_id="networks_explorer_proof",
                   parameters=[OpenApiParameter("key", str, required=True)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, chaincode: str) -> Response:
        selectors.check_chaincode(chaincode)
        network = self.network()
        return Response(selectors.state_proof(network=network, chaincode=chaincode,
                                              key=_text(request, "key")))
