"""``/api/v1/networks/{id}/did-registry/`` and ``/api/v1/dids/``: thin views over
``identity.selectors`` and ``identity.services``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import NotFound
from baas.tenancy import TenantScopedMixin
from deploy import selectors as deploy_selectors
from identity import selectors, services
from identity.api.serializers import (
    DidChangePrepareSerializer,
    DidCreateSerializer,
    DidDeactivateSerializer,
    DidDetailSerializer,
    DidPrepareSerializer,
    DidRegistrySerializer,
    DidRotateSerializer,
    DidSerializer,
    PreparedSerializer,
    RegistryPatchSerializer,
    RegistryPutSerializer,
)
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS, TokenScopePermission


def _token(request: Request) -> Any:
    return request.auth if getattr(request.auth, "prefix", None) else None


def _valid(serializer_class: Any, request: Request) -> dict[str, Any]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class NetworkDidRegistryView(TenantScopedMixin, APIView):
    """A network's DID registry: its namespace (set once) and whether it is public."""

    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"

    def _registry(self, network: Any) -> Any:
        registry = selectors.registry_of(network)
        if registry is None:
            raise NotFound("not_found", "This network holds no DID registry.")
        return registry

    @extend_schema(responses=DidRegistrySerializer)
    def get(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        return Response(DidRegistrySerializer(self._registry(network)).data)

    @extend_schema(request=RegistryPutSerializer, responses=DidRegistrySerializer)
    def put(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        data = _valid(RegistryPutSerializer, request)
        registry = services.registry_set(
            tenant=self.tenant, actor=request.user, network=network,
            namespace=data["namespace"], public=data["public"], request=request)
        return Response(DidRegistrySerializer(registry).data)

    @extend_schema(request=RegistryPatchSerializer, responses=DidRegistrySerializer)
    def patch(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        registry = self._registry(network)
        data = _valid(RegistryPatchSerializer, request)
        registry = services.registry_update(tenant=self.tenant, actor=request.user,
                                            registry=registry, public=data["public"],
                                            request=request)
        return Response(DidRegistrySerializer(registry).data)


class DidListView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"
    write_role = "developer"  # the service asks admin for the organisation's DID

    @extend_schema(responses=DidSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(DidSerializer(selectors.did_list(tenant=self.tenant), many=True).data)

    @extend_schema(request=DidCreateSerializer, responses={201: DidDetailSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(DidCreateSerializer, request)
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=data["network"])
        did = services.did_create(
            tenant=self.tenant, actor=request.user, network=network,
            subject=data["subject"], custody=data["custody"],
            public_key=data.get("public_key"),
            signature=services.decode_hex_or_base64(data.get("signature")),
            label=data.get("label") or "", token=_token(request), request=request)
        return Response(DidDetailSerializer(did, context={"chain": selectors.did_chain(did)})
                        .data, status=status.HTTP_201_CREATED)


class DidPrepareView(TenantScopedMixin, APIView):
    """Holder custody, step one: the bytes to sign. Nothing is stored or sent."""

    permission_classes = [IsAuthenticated, TokenScopePermission]
    reads_only = True
    read_role = write_role = "developer"

    @extend_schema(request=DidPrepareSerializer, responses=PreparedSerializer)
    def post(self, request: Request) -> Response:
        data = _valid(DidPrepareSerializer, request)
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=data["network"])
        return Response(services.did_prepare(
            tenant=self.tenant, actor=request.user, network=network,
            subject=data["subject"], public_key=data["public_key"]))


class DidDetailView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"

    @extend_schema(responses=DidDetailSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        did = selectors.did_get(tenant=self.tenant, did_id=pk)
        chain = selectors.did_chain(did)
        if chain.get("record"):  # a write that committed without an answer shows here
            did = services.did_refresh(did=did, record=chain["record"])
        return Response(DidDetailSerializer(did, context={"chain": chain}).data)


class DidChangePrepareView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    reads_only = True
    read_role = write_role = "developer"

    @extend_schema(operation_id="dids_change_prepare", request=DidChangePrepareSerializer,
                   responses=PreparedSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        did = selectors.did_get(tenant=self.tenant, did_id=pk)
        data = _valid(DidChangePrepareSerializer, request)
        return Response(services.did_prepare_change(
            tenant=self.tenant, actor=request.user, did=did, op=data["op"],
            public_key=data.get("public_key"), token=_token(request)))


class DidRotateView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = write_role = "developer"

    @extend_schema(request=DidRotateSerializer, responses=DidDetailSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        did = selectors.did_get(tenant=self.tenant, did_id=pk)
        data = _valid(DidRotateSerializer, request)
        did = services.did_rotate(
            tenant=self.tenant, actor=request.user, did=did,
            public_key=data.get("public_key"),
            signature=services.decode_hex_or_base64(data.get("signature")),
            prev=data.get("prev"), token=_token(request), request=request)
        return Response(DidDetailSerializer(did, context={"chain": selectors.did_chain(did)})
                        .data)


class DidDeactivateView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = write_role = "developer"

    @extend_schema(request=DidDeactivateSerializer, responses=DidDetailSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        did = selectors.did_get(tenant=self.tenant, did_id=pk)
        data = _valid(DidDeactivateSerializer, request)
        did = services.did_deactivate(
            tenant=self.tenant, actor=request.user, did=did,
            signature=services.decode_hex_or_base64(data.get("signature")),
            prev=data.get("prev"), token=_token(request), request=request)
        return Response(DidDetailSerializer(did, context={"chain": selectors.did_chain(did)})
                        .data)
