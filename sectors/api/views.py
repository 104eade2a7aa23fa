"""``/api/v1/templates/`` (the catalogue), ``/api/v1/networks/{id}/deployments/`` and
``/api/v1/deployments/{id}/`` (templates on networks): thin views over
``sectors.selectors`` and ``sectors.services``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import ValidationFailed
from baas.tenancy import TenantScopedMixin
from deploy import selectors as deploy_selectors
from deploy.api.serializers import OperationSerializer
from sectors import selectors, services
from sectors.api.serializers import (
    ApproveRequestSerializer,
    CallRequestSerializer,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    DeployRequestSerializer,
    TemplateSerializer,
)
from sectors.choices import SECTORS
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS, TokenScopePermission

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "manifest.schema.json"

Archive = inline_serializer("TemplateArchive", {"archive": serializers.FileField()})
DeployAnswer = inline_serializer("DeployAnswer", {
    "deployment": DeploymentSerializer(), "operation": OperationSerializer(allow_null=True),
    "unchanged": serializers.BooleanField()})


def _archive(request: Request) -> bytes:
    upload = request.FILES.get("archive")
    if upload is None:
        raise ValidationFailed("archive_missing",
                               "Send the bundle as a .tar.gz or .zip file in 'archive'.")
    if upload.size > services.MAX_ARCHIVE_BYTES:
        raise ValidationFailed(
            "archive_too_large",
            f"The archive is {upload.size} bytes; at most {services.MAX_ARCHIVE_BYTES} are "
            "accepted.")
    return upload.read(services.MAX_ARCHIVE_BYTES + 1)


class TemplateListView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    parser_classes = [MultiPartParser]
    read_role = "viewer"
    write_role = "admin"

    @extend_schema(responses=TemplateSerializer(many=True))
    def get(self, request: Request) -> Response:
        sector = request.query_params.get("sector") or None
        if sector is not None and sector not in SECTORS:
            raise ValidationFailed("invalid_sector", f"Unknown sector; one of "
                                   f"{', '.join(SECTORS)}.", details={"sector": sector[:40]})
        templates = selectors.template_list(tenant=self.tenant, sector=sector)
        return Response(TemplateSerializer(templates, many=True).data)

    @extend_schema(request={"multipart/form-data": Archive},
                   responses={201: TemplateSerializer})
    def post(self, request: Request) -> Response:
        template = services.template_upload(tenant=self.tenant, actor=request.user,
                                            archive=_archive(request), request=request)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateValidateView(TenantScopedMixin, APIView):
    """Validate an archive and return its review report; nothing is stored."""

    permission_classes = [IsAuthenticated, TokenScopePermission]
    parser_classes = [MultiPartParser]
    reads_only = True
    read_role = write_role = "viewer"

    @extend_schema(request={"multipart/form-data": Archive},
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def post(self, request: Request) -> Response:
        bundle, report = services.template_check(archive=_archive(request))
        return Response({"name": bundle.name, "version": bundle.version,
                         "content_hash": bundle.content_hash, **report.to_dict()})


class TemplateSchemaView(APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def get(self, request: Request) -> Response:
        return Response(json.loads(SCHEMA_PATH.read_text("utf-8")))


class TemplateDetailView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"

    @extend_schema(responses=TemplateSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(TemplateSerializer(
            selectors.template_get(tenant=self.tenant, template_id=pk)).data)


class NetworkDeploymentsView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"

    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        deployments = selectors.deployment_list(tenant=self.tenant, network=network)
        return Response(DeploymentSerializer(deployments, many=True).data)

    @extend_schema(request=DeployRequestSerializer,
                   responses={200: DeployAnswer, 202: DeployAnswer})
    def post(self, request: Request, network_pk: Any) -> Response:
        data = DeployRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        template = selectors.template_get(tenant=self.tenant,
                                          template_id=data.validated_data["template"])
        deployment, op = services.deployment_create(
            tenant=self.tenant, actor=request.user, network=network, template=template,
            roles=data.validated_data.get("roles"),
            init_args=data.validated_data.get("init_args"), request=request)
        return _deploy_answer(deployment, op)


def _deploy_answer(deployment: Any, op: Any) -> Response:
    body = {"deployment": DeploymentSerializer(deployment).data,
            "operation": OperationSerializer(op).data if op is not None else None,
            "unchanged": op is None and deployment.status == "active"}
    if op is None:
        return Response(body, status=status.HTTP_200_OK)
    return Response(body, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": f"/api/v1/operations/{op.pk}/"})


class DeploymentDetailView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"

    @extend_schema(responses=DeploymentDetailSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(DeploymentDetailSerializer(
            selectors.deployment_get(tenant=self.tenant, deployment_id=pk)).data)


class DeploymentApproveView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"

    @extend_schema(request=ApproveRequestSerializer,
                   responses={200: DeployAnswer, 202: DeployAnswer})
    def post(self, request: Request, pk: Any) -> Response:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=pk)
        data = ApproveRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment, op = services.deployment_approve(
            tenant=self.tenant, actor=request.user, deployment=deployment,
            template_id=data.validated_data["template"], request=request)
        return _deploy_answer(deployment, op)


class DeploymentCallView(TenantScopedMixin, APIView):
    """Call one of the deployment's functions: reads need ``read``, writes ``write``."""

    permission_classes = [IsAuthenticated]
    read_role = "viewer"
    write_role = "viewer"  # the service checks the role a function's kind needs

    @extend_schema(request=CallRequestSerializer,
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def post(self, request: Request, pk: Any) -> Response:
        data = CallRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=pk)
        token = request.auth if getattr(request.auth, "prefix", None) else None
        function = data.validated_data["function"]
        _require_scope(request, deployment, function)
        result = services.deployment_call(
            tenant=self.tenant, actor=request.user, deployment=deployment,
            function=function, args=data.validated_data.get("args"), token=token,
            request=request)
        return Response(result)


def _require_scope(request: Request, deployment: Any, function: str) -> None:
    """A token needs ``read`` for a read function and ``write`` for a transaction."""
    from sectors import manifest
    from tenants.permissions import HasScope

    spec = manifest.function_spec(deployment.active.manifest, function) \
        if deployment.active else None
    needed = "read" if spec is not None and spec.get("kind") == "read" else "write"
    HasScope(needed).has_permission(request, None)


class DeploymentHistoryView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT)})
    def get(self, request: Request, pk: Any) -> Response:
        deployment = selectors.deployment_get(tenant=self.tenant, deployment_id=pk)
        instance = request.query_params.get("id") or None
        if instance is not None and len(instance) > 256:
            raise ValidationFailed("invalid_id", "An instance id is at most 256 characters.")
        return Response({"events": services.deployment_history(deployment=deployment,
                                                               instance_id=instance)})
