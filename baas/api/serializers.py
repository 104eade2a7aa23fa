from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from baas.messages import operation_kind_label, operation_step_text
from baas.models import Operation


class OperationStepSerializer(serializers.Serializer):
    """One step as stored, plus ``text``: the step in the request's language."""

    time = serializers.CharField()
    code = serializers.CharField(required=False, help_text="Stable step code (newer rows).")
    params = serializers.DictField(required=False, help_text="Values for the code's text.")
    message = serializers.CharField(help_text="The step in English, as written.")
    text = serializers.CharField(help_text="The step in the request's language.")


class OperationSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", read_only=True, default=None)
    kind_display = serializers.SerializerMethodField(
        help_text="The kind in the request's language (Accept-Language); `kind` stays the code.")
    steps = serializers.SerializerMethodField()

    class Meta:
        model = Operation
        fields = ["id", "kind", "kind_display", "target_type", "target_id", "actor", "state",
                  "progress", "steps", "error_code", "error_message", "idempotency_key",
                  "deadline", "created_at", "updated_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_kind_display(self, op: Operation) -> str:
        return operation_kind_label(op.kind)

    @extend_schema_field(OperationStepSerializer(many=True))
    def get_steps(self, op: Operation) -> list[dict[str, Any]]:
        steps = op.steps if isinstance(op.steps, list) else []
        return [{**step, "text": operation_step_text(step)} for step in steps
                if isinstance(step, dict)]
