"""API shapes of DIDs and DID registries."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from baas.validators import validate_name
from identity.models import Did, DidRegistry


class DidRegistrySerializer(serializers.ModelSerializer):
    did_prefix = serializers.SerializerMethodField()

    class Meta:
        model = DidRegistry
        fields = ["network", "namespace", "public", "did_prefix", "created_at"]
        read_only_fields = fields

    def get_did_prefix(self, registry: DidRegistry) -> str:
        return f"did:baas:{registry.namespace}:"


class RegistryPutSerializer(serializers.Serializer):
    namespace = serializers.CharField(max_length=64, trim_whitespace=False,
                                      help_text="1 to 32 of a-z, 0-9 and '-'; written on "
                                                "chain once, never changes")
    public = serializers.BooleanField(default=False, help_text="answer the public resolver")


class RegistryPatchSerializer(serializers.Serializer):
    public = serializers.BooleanField()


class DidSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    person = serializers.SerializerMethodField()

    class Meta:
        model = Did
        fields = ["id", "did", "network", "subject", "person", "custody", "status", "version",
                  "label", "created_at", "updated_at"]
        read_only_fields = fields

    def get_subject(self, did: Did) -> str:
        return "organisation" if did.subject == "organisation" else "me"

    def get_person(self, did: Did) -> str | None:
        return did.user.email if did.user_id and did.user else None


class DidDetailSerializer(DidSerializer):
    """One DID with what the chain says: the latest document, its metadata and versions."""

    document = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    chain_error = serializers.SerializerMethodField()

    class Meta(DidSerializer.Meta):
        fields = [*DidSerializer.Meta.fields, "document", "metadata", "versions",
                  "chain_error"]
        read_only_fields = fields

    def _chain(self) -> dict[str, Any]:
        return self.context.get("chain") or {}

    def get_document(self, did: Did) -> dict[str, Any] | None:
        return self._chain().get("document")

    def get_metadata(self, did: Did) -> dict[str, Any] | None:
        return self._chain().get("metadata")

    def get_versions(self, did: Did) -> list[dict[str, Any]]:
        return self._chain().get("versions") or []

    def get_chain_error(self, did: Did) -> dict[str, str] | None:
        return self._chain().get("error")


class DidCreateSerializer(serializers.Serializer):
    network = serializers.UUIDField()
    subject = serializers.ChoiceField(choices=["organisation", "me"])
    custody = serializers.ChoiceField(choices=["platform", "holder"], default="platform")
    public_key = serializers.CharField(required=False, max_length=64,
                                       help_text="holder custody: the Ed25519 public key, hex")
    signature = serializers.CharField(required=False, max_length=200,
                                      help_text="holder custody: the signature of the "
                                                "prepared message, hex or base64")
    label = serializers.CharField(required=False, allow_blank=True, max_length=63,
                                  validators=[validate_name])


class DidPrepareSerializer(serializers.Serializer):
    network = serializers.UUIDField()
    subject = serializers.ChoiceField(choices=["organisation", "me"])
    public_key = serializers.CharField(max_length=64)


class DidChangePrepareSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=["update", "deactivate"])
    public_key = serializers.CharField(required=False, max_length=64,
                                       help_text="update: the new Ed25519 public key, hex")


class DidRotateSerializer(serializers.Serializer):
    public_key = serializers.CharField(required=False, max_length=64)
    signature = serializers.CharField(required=False, max_length=200)
    prev = serializers.IntegerField(required=False, min_value=0,
                                    help_text="the version you prepared against")


class DidDeactivateSerializer(serializers.Serializer):
    signature = serializers.CharField(required=False, max_length=200)
    prev = serializers.IntegerField(required=False, min_value=0)


class PreparedSerializer(serializers.Serializer):
    did = serializers.CharField()
    op = serializers.CharField()
    prev = serializers.IntegerField()
    state = serializers.JSONField(allow_null=True)
    message_hex = serializers.CharField()
    message_base64 = serializers.CharField()
