"""``/api/v1/networks/{id}/exports|backups|backup-schedule/``, ``/api/v1/archives/`` and
``/api/v1/restores/``: thin views over ``archives.selectors`` and ``archives.services``.

Every write, and every download (an archive holds keys), needs the admin role; a token
needs ``deploy`` for them. Lists and details need ``viewer``/``read``."""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from archives import selectors, services
from archives.api.serializers import (
    ArchiveSerializer,
    BackupRequestSerializer,
    RestoreRequestSerializer,
    ScheduleSerializer,
)
from archives.choices import ArchiveKind
from baas.errors import NotFound, ValidationFailed
from baas.middleware import chunks_in_threads
from baas.tenancy import TenantScopedMixin
from deploy import selectors as deploy_selectors
from deploy.api.serializers import NetworkSerializer, OperationSerializer
from tenants.permissions import INFRASTRUCTURE_PERMISSIONS, HasScope, TokenScopePermission

ArchiveAnswer = inline_serializer("ArchiveStarted", {
    "archive": ArchiveSerializer(), "operation": OperationSerializer()})
RestoreAnswer = inline_serializer("RestoreStarted", {
    "network": NetworkSerializer(), "operation": OperationSerializer()})


def _started(body: dict[str, Any], op: Any) -> Response:
    return Response(body, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": f"/api/v1/operations/{op.pk}/"})


class _NetworkArchives(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"
    kind = ""

    @extend_schema(responses=ArchiveSerializer(many=True))
    def get(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        archives = selectors.archive_list(tenant=self.tenant, network=network, kind=self.kind)
        return Response(ArchiveSerializer(archives, many=True).data)


class NetworkExportsView(_NetworkArchives):
    kind = ArchiveKind.EXPORT

    @extend_schema(request=None, responses={202: ArchiveAnswer})
    def post(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        archive, op = services.export_create(tenant=self.tenant, actor=request.user,
                                             network=network, request=request)
        return _started({"archive": ArchiveSerializer(archive).data,
                         "operation": OperationSerializer(op).data}, op)


class NetworkBackupsView(_NetworkArchives):
    kind = ArchiveKind.BACKUP

    @extend_schema(request=BackupRequestSerializer, responses={202: ArchiveAnswer})
    def post(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        data = BackupRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        archive, op = services.backup_create(
            tenant=self.tenant, actor=request.user, network=network,
            passphrase=data.validated_data["passphrase"], request=request)
        return _started({"archive": ArchiveSerializer(archive).data,
                         "operation": OperationSerializer(op).data}, op)


class BackupScheduleView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "admin"
    write_role = "admin"

    @extend_schema(responses=ScheduleSerializer)
    def get(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        schedule = selectors.schedule_get(tenant=self.tenant, network=network)
        if schedule is None:
            raise NotFound("not_found", "This network has no backup schedule.")
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(request=ScheduleSerializer, responses=ScheduleSerializer)
    def put(self, request: Request, network_pk: Any) -> Response:
        network = deploy_selectors.network_get(tenant=self.tenant, network_id=network_pk)
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = services.schedule_set(
            tenant=self.tenant, actor=request.user, network=network,
            enabled=data.validated_data.get("enabled", True),
            interval_hours=data.validated_data.get("interval_hours", 24),
            keep=data.validated_data.get("keep", 7),
            passphrase=data.validated_data.get("passphrase"), request=request)
        return Response(ScheduleSerializer(schedule).data)


class ArchiveListView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]
    read_role = "viewer"

    @extend_schema(responses=ArchiveSerializer(many=True))
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in ArchiveKind.values:
            raise ValidationFailed("invalid_kind", "kind is export or backup.")
        return Response(ArchiveSerializer(
            selectors.archive_list(tenant=self.tenant, kind=kind), many=True).data)


class ArchiveDetailView(TenantScopedMixin, APIView):
    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    read_role = "viewer"
    write_role = "admin"

    @extend_schema(responses=ArchiveSerializer)
    def get(self, request: Request, pk: Any) -> Response:
        return Response(ArchiveSerializer(
            selectors.archive_get(tenant=self.tenant, archive_id=pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: Any) -> Response:
        archive = selectors.archive_get(tenant=self.tenant, archive_id=pk)
        services.archive_delete(tenant=self.tenant, actor=request.user, archive=archive,
                                request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArchiveDownloadView(TenantScopedMixin, APIView):
    """The archive file. It holds keys (an export in clear), so: admin, token ``deploy``."""

    permission_classes = [IsAuthenticated, TokenScopePermission, HasScope("deploy")]
    read_role = "admin"

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: Any) -> FileResponse | StreamingHttpResponse:
        archive = selectors.archive_get(tenant=self.tenant, archive_id=pk)
        if archive.status != "ready":
            raise NotFound("archive_not_ready", "This archive has no file (not ready or "
                                                "failed).")
        if archive.store == "s3":
            # Opened first: a store that cannot answer (503) means no download happened,
            # so none is audited. Whatever fails after it closes the body (its connection).
            chunks, size = services.archive_stream(archive=archive)
            try:
                services.audit_download(tenant=self.tenant, actor=request.user,
                                        archive=archive, request=request)
                # Under ASGI an async iterator, each chunk read in a thread: Django would
                # consume a sync one with sync_to_async(list), the whole object in memory
                # before the first byte. Under WSGI (tests, runserver) the sync one
                # streams. Either way the response registers the iterator's ``close``
                # and calls it at the end, even if no chunk was ever asked for.
                response = StreamingHttpResponse(
                    chunks_in_threads(chunks) if isinstance(request._request, ASGIRequest)
                    else chunks, content_type="application/gzip")
                response["Content-Length"] = str(size)
                response["Content-Disposition"] = (
                    f'attachment; filename="{archive.file_name}"')
            except BaseException:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
                raise
            return response
        path = services.archive_path(archive)
        if not path.is_file():
            raise NotFound("archive_not_ready", "This archive has no file (not ready or "
                                                "failed).")
        file = open(path, "rb")  # noqa: SIM115 (the response closes it)
        try:
            services.audit_download(tenant=self.tenant, actor=request.user, archive=archive,
                                    request=request)
            return FileResponse(file, as_attachment=True, filename=archive.file_name,
                                content_type="application/gzip")
        except BaseException:
            file.close()
            raise


class RestoreView(TenantScopedMixin, APIView):
    """A new network from a backup: ``backup`` (a stored backup's id) or ``archive`` (an
    uploaded backup file, multipart), with its passphrase and the new network's name."""

    permission_classes = [IsAuthenticated, *INFRASTRUCTURE_PERMISSIONS]
    parser_classes = [JSONParser, MultiPartParser]
    read_role = "viewer"
    write_role = "admin"
    # Named for tenants.throttling.ActionRateThrottle (BAAS_ACTION_THROTTLES): each
    # attempt derives a key from the passphrase, so guessing it is limited per user.
    action = "restore"
    # A backup file is larger than any other API body (baas.middleware.ApiBodyLimitMiddleware).
    upload_limit_setting = "BAAS_RESTORE_UPLOAD_MAX_BYTES"

    @extend_schema(responses=OperationSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The restores this organisation started (their operations), newest first."""
        return Response(OperationSerializer(
            selectors.restore_list(tenant=self.tenant), many=True).data)

    @extend_schema(request={"application/json": RestoreRequestSerializer,
                            "multipart/form-data": RestoreRequestSerializer},
                   responses={202: RestoreAnswer, 400: OpenApiResponse(OpenApiTypes.OBJECT)})
    def post(self, request: Request) -> Response:
        data = RestoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        archive = upload_id = None
        if values.get("backup"):
            archive = selectors.archive_get(tenant=self.tenant, archive_id=values["backup"])
        elif values.get("archive") is not None:
            services.require_admin(tenant=self.tenant, actor=request.user)
            upload_id = services.store_upload(tenant=self.tenant,
                                              chunks=values["archive"].chunks())
        network, op = services.restore_create(
            tenant=self.tenant, actor=request.user, name=values["name"],
            passphrase=values["passphrase"], archive=archive, upload_id=upload_id,
            request=request)
        return _started({"network": NetworkSerializer(network).data,
                         "operation": OperationSerializer(op).data}, op)
