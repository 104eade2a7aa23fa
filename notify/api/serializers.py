"""Shapes of the webhooks API (``docs/webhooks.md``)."""

from __future__ import annotations

from rest_framework import serializers

from baas import events
from baas.validators import validate_name
from notify.models import Attempt, Delivery, Subscription

TYPES_HELP = "One or more of: " + ", ".join(events.EVENT_TYPES) + "."


class SubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(events.EVENT_TYPES))

    class Meta:
        model = Subscription
        fields = ["id", "name", "url", "event_types", "active", "created_at", "updated_at"]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    """Only in the answers that make a secret: it is never shown again."""

    secret = serializers.CharField(read_only=True)

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_name])
    url = serializers.CharField(max_length=2000)
    # Checked by the service, which answers ``webhook_event_types_invalid``.
    event_types = serializers.ListField(child=serializers.CharField(max_length=64),
                                        max_length=20, help_text=TYPES_HELP)


class SubscriptionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, validators=[validate_name])
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64),
                                        max_length=20, required=False, help_text=TYPES_HELP)
    active = serializers.BooleanField(required=False)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error",
                  "error_message", "response_excerpt"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    subscription = serializers.UUIDField(source="subscription_id", read_only=True)
    replay_of = serializers.UUIDField(source="replay_of_id", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = ["id", "subscription", "event_id", "event_type", "status", "attempts",
                  "last_status_code", "last_error", "next_attempt_at", "replay_of",
                  "created_at", "finished_at"]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    event_data = serializers.JSONField(source="event.data", read_only=True)
    attempt_list = AttemptSerializer(source="attempt_set", many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "event_data", "attempt_list"]
        read_only_fields = fields
