"""REST API v1 views of the tenants app. Thin: parse, call one service, serialize."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.contrib.auth import login, logout
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from baas.audit import audit_record, audit_verify
from baas.tenancy import TenantScopedViewSet
from tenants import services
from tenants.api import serializers as s
from tenants.api.filters import AuditEventFilter, StaffAuditEventFilter
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant
from tenants.permissions import SessionOnly, TokenScopePermission
from tenants.throttling import ClientAddressThrottle


class AuthThrottled(APIView):
    """Unauthenticated account endpoints: throttled by trusted client address (``auth``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressThrottle]
    throttle_scope = "auth"


class SignupView(AuthThrottled):
    @extend_schema(request=s.SignupSerializer, responses={201: s.MeSerializer})
    def post(self, request: Any) -> Response:
        ser = s.SignupSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user, _tenant = services.signup(**ser.validated_data)
        return Response(s.MeSerializer(user).data, status=status.HTTP_201_CREATED)


@method_decorator(ensure_csrf_cookie, name="post")
class LoginView(AuthThrottled):
    @extend_schema(request=s.LoginSerializer, responses={200: s.MeSerializer})
    def post(self, request: Any) -> Response:
        ser = s.LoginSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = services.login_check(request=request._request, **ser.validated_data)
        login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        return Response(s.MeSerializer(user).data)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Any) -> Response:
        audit_record(tenant=None, actor=request.user, action="user.logout",
                     target=request.user, request=request._request)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifyEmailView(AuthThrottled):
    @extend_schema(request=s.UidTokenSerializer, responses={200: s.MeSerializer})
    def post(self, request: Any) -> Response:
        ser = s.UidTokenSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = services.email_verify(**ser.validated_data)
        return Response(s.MeSerializer(user).data)


class VerifyEmailResendView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ClientAddressThrottle]
    throttle_scope = "auth"

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Any) -> Response:
        if request.user.email_verified:
            from baas.errors import Conflict

            raise Conflict("already_verified", "Your email address is already verified.")
        services.email_verification_send(user=request.user)
        return Response({"detail": "A new verification email is on its way."},
                        status=status.HTTP_202_ACCEPTED)


class PasswordResetView(AuthThrottled):
    @extend_schema(request=s.EmailSerializer, responses={202: None})
    def post(self, request: Any) -> Response:
        ser = s.EmailSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.password_reset_request(email=ser.validated_data["email"])
        # Same answer whether or not the account exists.
        return Response({"detail": "If the account exists, an email is on its way."},
                        status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(AuthThrottled):
    @extend_schema(request=s.PasswordResetConfirmSerializer, responses={204: None})
    def post(self, request: Any) -> Response:
        ser = s.PasswordResetConfirmSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.password_reset_confirm(**ser.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    """Signed-in users accept as themselves; others sign in or sign up with ``password``."""

    manages_people = True  # joining an organisation: never with an API token
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressThrottle]
    throttle_scope = "auth"

    @extend_schema(request=s.InvitationAcceptSerializer, responses={201: s.MyMembershipSerializer})
    def post(self, request: Any) -> Response:
        ser = s.InvitationAcceptSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        membership = services.invitation_accept(user=request.user, **ser.validated_data)
        return Response(s.MyMembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Any) -> Response:
        return Response(s.MeSerializer(request.user).data)


class CurrentTenantView(TenantScopedViewSet):
    """``GET/PATCH /api/v1/tenant/``: the current tenant with quotas and usage."""

    serializer_class = s.TenantSerializer
    queryset = Tenant.objects.none()
    action_roles = {"partial_update": "admin"}

    def get_queryset(self):  # type: ignore[override]
        return Tenant.objects.filter(pk=self.tenant.pk)

    def retrieve(self, request: Any) -> Response:
        return Response(s.TenantSerializer(self.tenant).data)

    def partial_update(self, request: Any) -> Response:
        ser = s.TenantSerializer(self.tenant, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        tenant = services.tenant_update(tenant=self.tenant, actor=request.user,
                                        membership=self.membership,
                                        name=ser.validated_data.get("name", self.tenant.name))
        return Response(s.TenantSerializer(tenant).data)


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    serializer_class = s.MembershipSerializer
    queryset = Membership.objects.select_related("user")
    write_role = "viewer"  # members may leave; the service checks the rest

    @extend_schema(request=s.RoleSerializer, responses=s.MembershipSerializer)
    def partial_update(self, request: Any, pk: str) -> Response:
        target = self.get_object()
        ser = s.RoleSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        target = services.membership_set_role(target=target, actor=request.user,
                                              membership=self.membership,
                                              role=ser.validated_data["role"])
        return Response(s.MembershipSerializer(target).data)

    def destroy(self, request: Any, pk: str) -> Response:
        services.membership_remove(target=self.get_object(), actor=request.user,
                                   membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    serializer_class = s.InvitationSerializer
    queryset = Invitation.objects.select_related("invited_by")
    write_role = "admin"

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request: Any) -> Response:
        from baas.api.serializers import OperationSerializer

        ser = s.InvitationCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        invitation, op = services.invitation_create(
            tenant=self.tenant, actor=request.user, membership=self.membership,
            idempotency_key=request.headers.get("Idempotency-Key"), **ser.validated_data,
        )
        body = dict(s.InvitationSerializer(invitation).data)
        body["operation"] = OperationSerializer(op).data
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request: Any, pk: str) -> Response:
        services.invitation_revoke(invitation=self.get_object(), actor=request.user,
                                   membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    serializer_class = s.ApiTokenSerializer
    queryset = ApiToken.objects.select_related("created_by")
    permission_classes = [IsAuthenticated, SessionOnly]

    @extend_schema(request=s.ApiTokenCreateSerializer, responses={201: s.ApiTokenSerializer})
    def create(self, request: Any) -> Response:
        ser = s.ApiTokenCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        token, raw = services.token_create(tenant=self.tenant, actor=request.user,
                                           membership=self.membership, **ser.validated_data)
        body = dict(s.ApiTokenSerializer(token).data)
        body["token"] = raw  # shown once; only its hash is stored
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request: Any, pk: str) -> Response:
        services.token_revoke(token=self.get_object(), actor=request.user,
                              membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


EXPORT_FIELDS = ["id", "created_at", "actor_email", "action", "target_type", "target_id",
                 "source_ip", "request_id", "metadata", "prev_hash", "hash"]


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (CSV injection): an actor's name or an invited email "=HYPERLINK(...)" would run.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """The value with a leading apostrophe when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _export(events: Any, fmt: str) -> HttpResponse:
    rows = s.AuditEventSerializer(events, many=True).data
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            cells = {**row, "metadata": json.dumps(row["metadata"], sort_keys=True)}
            writer.writerow({k: csv_safe(v) for k, v in cells.items()})
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(json.dumps(list(rows), indent=1), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
    return response


class AuditExportMixin:
    @action(detail=False, methods=["get"])
    def export(self, request: Any) -> HttpResponse:
        """``?as=csv`` or ``?as=json`` (default), honouring the list filters."""
        fmt = request.query_params.get("as", "json")
        if fmt not in ("csv", "json"):
            from baas.errors import ValidationFailed

            raise ValidationFailed("invalid_format", "as= must be csv or json.")
        return _export(self.filter_queryset(self.get_queryset()).order_by("id"), fmt)


class AuditEventViewSet(AuditExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        TenantScopedViewSet):
    """A tenant's audit log, for admins and owners (and staff)."""

    serializer_class = s.AuditEventSerializer
    queryset = AuditEvent.objects.select_related("tenant")
    filterset_class = AuditEventFilter
    read_role = "admin"

    @action(detail=False, methods=["get"])
    def verify(self, request: Any) -> Response:
        ok, first_bad = audit_verify(tenant=self.tenant)
        return Response({"ok": ok, "first_bad_id": first_bad})


class StaffAuditEventViewSet(AuditExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             GenericViewSet):
    """Platform staff: every audit event of every tenant, and those of no tenant."""

    serializer_class = s.AuditEventSerializer
    queryset = AuditEvent.objects.select_related("tenant").order_by("-id")
    permission_classes = [IsAuthenticated, TokenScopePermission, SessionOnly, IsAdminUser]
    filterset_class = StaffAuditEventFilter


class StaffTenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """Platform staff: every tenant, with quotas; PATCH changes plan and quotas."""

    serializer_class = s.TenantSerializer
    queryset = Tenant.objects.all()
    permission_classes = [IsAuthenticated, TokenScopePermission, SessionOnly, IsAdminUser]
    lookup_field = "slug"

    @extend_schema(request=s.StaffTenantUpdateSerializer, responses=s.TenantSerializer)
    def partial_update(self, request: Any, slug: str) -> Response:
        ser = s.StaffTenantUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        tenant = services.tenant_set_quotas(tenant=self.get_object(), actor=request.user,
                                            plan=ser.validated_data.get("plan"),
                                            quotas=ser.quotas())
        return Response(s.TenantSerializer(tenant).data)

    @action(detail=False, methods=["get"], url_path="audit-verify")
    def audit_verify_all(self, request: Any) -> Response:
        ok, first_bad = audit_verify(tenant=None)
        return Response({"ok": ok, "first_bad_id": first_bad})
