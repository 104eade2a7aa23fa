from rest_framework import serializers

from baas.models import Operation


class OperationSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", read_only=True, default=None)

    class Meta:
        model = Operation
        fields = ["id", "kind", "target_type", "target_id", "actor", "state", "progress",
                  "steps", "error_code", "error_message", "idempotency_key", "deadline",
                  "created_at", "updated_at", "started_at", "finished_at"]
        read_only_fields = fields
