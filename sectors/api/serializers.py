"""API shapes of templates and deployments."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sectors.models import Deployment, Template


class TemplateSerializer(serializers.ModelSerializer):
    source = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    functions = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["id", "name", "version", "sector", "source", "owner", "title", "description",
                  "content_hash", "roles", "functions", "review", "created_at"]
        read_only_fields = fields

    def get_source(self, template: Template) -> str:
        return "platform" if template.is_platform else "private"

    def get_owner(self, template: Template) -> str | None:
        return template.tenant.slug if template.tenant_id else None

    def get_title(self, template: Template) -> dict[str, str]:
        return template.manifest.get("title") or {}

    def get_description(self, template: Template) -> dict[str, str]:
        return template.manifest.get("description") or {}

    def get_roles(self, template: Template) -> list[dict[str, Any]]:
        return template.manifest.get("roles") or []

    def get_functions(self, template: Template) -> list[dict[str, Any]]:
        return template.manifest.get("functions") or []


class TemplateBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Template
        fields = ["id", "name", "version", "content_hash"]
        read_only_fields = fields


class DeploymentSerializer(serializers.ModelSerializer):
    active = TemplateBriefSerializer(read_only=True)
    target = TemplateBriefSerializer(read_only=True)
    owner = serializers.SlugRelatedField(source="tenant", slug_field="slug", read_only=True)
    error = serializers.SerializerMethodField()
    approvals = serializers.SerializerMethodField()
    public_url = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "network", "name", "owner", "status", "active", "target", "roles",
                  "init_args", "error", "approvals", "public_url", "created_at", "updated_at"]
        read_only_fields = fields

    def get_error(self, deployment: Deployment) -> dict[str, str] | None:
        if not deployment.error_code:
            return None
        return {"code": deployment.error_code, "message": deployment.error_message}

    def get_approvals(self, deployment: Deployment) -> dict[str, Any]:
        from sectors.services import deployment_approvals

        return deployment_approvals(deployment)

    def get_public_url(self, deployment: Deployment) -> str | None:
        from sectors import manifest

        if not deployment.network.public_access or deployment.active is None \
                or not manifest.public_functions(deployment.active.manifest):
            return None
        return f"/p/{deployment.pk}/"


class DeploymentDetailSerializer(DeploymentSerializer):
    """One deployment, with the version waiting for approval in full (manifest, review
    report and contract source): organisations asked to approve a private template of the
    owner cannot open it in the catalogue, and must see what they approve."""

    target_template = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "target_template"]
        read_only_fields = fields

    def get_target_template(self, deployment: Deployment) -> dict[str, Any] | None:
        if deployment.target is None:
            return None
        return {**TemplateSerializer(deployment.target).data,
                "contract": deployment.target.source}


class DeployRequestSerializer(serializers.Serializer):
    template = serializers.UUIDField()
    roles = serializers.JSONField(required=False)
    init_args = serializers.JSONField(required=False)


class ApproveRequestSerializer(serializers.Serializer):
    template = serializers.UUIDField(help_text="the id of the version you reviewed (the "
                                               "deployment's target)")


class CallRequestSerializer(serializers.Serializer):
    function = serializers.CharField(max_length=64)
    args = serializers.JSONField(required=False)
