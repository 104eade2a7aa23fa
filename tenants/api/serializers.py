"""Serializers of the tenants API: validate shapes; the services decide the rest."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from baas.quotas import quota_usage
from baas.validators import validate_name
from tenants.choices import QUOTA_NAMES, Plan, Role, Scope
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant, User

MAX_QUOTA = 2**31 - 1


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True,
                                      validators=[validate_name])
    organisation_name = serializers.CharField(max_length=120, validators=[validate_name])
    organisation_slug = serializers.SlugField(max_length=50, required=False, allow_blank=True)


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, max_length=128)


class EmailSerializer(serializers.Serializer):
    email = serializers.EmailField()


class UidTokenSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)


class PasswordResetConfirmSerializer(UidTokenSerializer):
    new_password = serializers.CharField(trim_whitespace=False, max_length=128)


class TenantBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "plan"]
        extra_kwargs = {"name": {"validators": [validate_name]}}


class MyMembershipSerializer(serializers.ModelSerializer):
    tenant = TenantBriefSerializer()

    class Meta:
        model = Membership
        fields = ["id", "role", "tenant"]


class MeSerializer(serializers.ModelSerializer):
    memberships = MyMembershipSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "email_verified", "is_staff", "memberships"]
        extra_kwargs = {"full_name": {"validators": [validate_name]}}


class TenantSerializer(serializers.ModelSerializer):
    quotas = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "plan", "created_at", "quotas"]
        read_only_fields = ["id", "slug", "plan", "created_at", "quotas"]
        extra_kwargs = {"name": {"validators": [validate_name]}}

    def get_quotas(self, tenant: Tenant) -> dict:
        return quota_usage(tenant=tenant)


class StaffTenantUpdateSerializer(serializers.Serializer):
    plan = serializers.ChoiceField(choices=Plan.choices, required=False)
    # Quotas are PositiveIntegerFields: 2^31-1 is the largest every database stores.
    max_networks = serializers.IntegerField(min_value=0, max_value=MAX_QUOTA, required=False)
    max_validators_per_network = serializers.IntegerField(min_value=0, max_value=MAX_QUOTA,
                                                          required=False)
    max_members = serializers.IntegerField(min_value=0, max_value=MAX_QUOTA, required=False)
    max_tokens = serializers.IntegerField(min_value=0, max_value=MAX_QUOTA, required=False)

    def quotas(self) -> dict[str, int]:
        return {k: v for k, v in self.validated_data.items() if k in QUOTA_NAMES}


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "created_at"]
        read_only_fields = ["id", "email", "full_name", "created_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


@extend_schema_serializer(component_name="MemberInvitation")
class InvitationSerializer(serializers.ModelSerializer):
    """An invitation of a person into the organisation (not a consortium invitation)."""

    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "expires_at", "accepted_at",
                  "revoked_at", "created_at"]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    password = serializers.CharField(trim_whitespace=False, max_length=128, required=False,
                                     allow_blank=True, default="")
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True,
                                      default="", validators=[validate_name])


class ApiTokenSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scopes", "created_by", "expires_at", "revoked_at",
                  "last_used_at", "created_at", "is_active"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_name])
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices),
                                   allow_empty=False, max_length=3)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class AuditEventSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "tenant", "actor_email", "action", "target_type", "target_id",
                  "source_ip", "request_id", "metadata", "created_at", "hash", "prev_hash"]
        read_only_fields = fields
