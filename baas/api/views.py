"""Operations API: list, get, cancel, and a server-sent-events stream of progress."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import django_filters
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from baas.api.serializers import OperationSerializer
from baas.audit import audit_record
from baas.choices import TERMINAL, OperationState
from baas.filters import StrictFilterSet
from baas.models import Operation
from baas.operations import operation_cancel
from baas.tenancy import TenantScopedViewSet


class OperationFilter(StrictFilterSet):
    state = django_filters.MultipleChoiceFilter(choices=OperationState.choices)
    kind = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()

    class Meta:
        model = Operation
        fields = ["state", "kind", "target_type", "target_id"]


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` negotiate; errors render as one SSE ``error``."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()


def _sse(event: str, data: dict[str, Any], event_id: int) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def operation_event_stream(
    op_id: int, *, poll: float, max_seconds: float
) -> Iterator[str]:
    """Yield ``progress`` events whenever the operation changes, then ``end`` when it is
    terminal. Polls the database: no extra infrastructure, works with any broker."""
    last_seen = None
    seq = 0
    started = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        op = Operation.objects.filter(pk=op_id).first()
        if op is None:
            yield _sse("end", {"id": op_id, "state": "deleted"}, seq + 1)
            return
        stamp = (op.updated_at, op.state, op.progress)
        if stamp != last_seen:
            last_seen = stamp
            seq += 1
            yield _sse("progress", OperationSerializer(op).data, seq)
        if op.state in TERMINAL:
            yield _sse("end", {"id": op.pk, "state": op.state}, seq + 1)
            return
        if time.monotonic() - started > max_seconds:
            # The client reconnects (EventSource does so by itself) and resumes.
            yield _sse("timeout", {"id": op.pk}, seq + 1)
            return
        yield ": keep-alive\n\n"
        time.sleep(poll)


class OperationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    serializer_class = OperationSerializer
    queryset = Operation.objects.select_related("actor")
    filterset_class = OperationFilter

    @extend_schema(request=None, responses=OperationSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Any, pk: str) -> Response:
        op = operation_cancel(operation_id=self.get_object().pk, actor=request.user)
        audit_record(tenant=self.tenant, actor=request.user, action="operation.cancelled",
                     target=op, request=request)
        return Response(OperationSerializer(op).data)

    @extend_schema(responses={(200, "text/event-stream"): OpenApiResponse(
        description="progress events until the operation is terminal")})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, EventStreamRenderer])
    def events(self, request: Any, pk: str) -> StreamingHttpResponse:
        op = self.get_object()  # 404 for other tenants' operations, before streaming
        response = StreamingHttpResponse(
            operation_event_stream(
                op.pk,
                poll=settings.BAAS_SSE_POLL_SECONDS,
                max_seconds=settings.BAAS_SSE_MAX_SECONDS,
            ),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
        return response
