"""Operations API: list, get, cancel, and a server-sent-events stream of progress."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
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
from baas.sse import event_stream_response, in_stream_pool
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


class _OperationEvents:
    """What one operation stream has sent so far; ``step`` is one poll, shared by the sync
    and the async stream so that both send exactly the same events."""

    def __init__(self, op_id: int, *, max_seconds: float) -> None:
        self.op_id = op_id
        self.max_seconds = max_seconds
        self.last_seen: tuple[Any, ...] | None = None
        self.seq = 0
        self.started = time.monotonic()

    def step(self) -> tuple[list[str], bool]:
        """Read the operation once: the frames to send, and whether the stream is over."""
        op = Operation.objects.filter(pk=self.op_id).first()
        if op is None:
            return [_sse("end", {"id": self.op_id, "state": "deleted"}, self.seq + 1)], True
        frames = []
        stamp = (op.updated_at, op.state, op.progress)
        if stamp != self.last_seen:
            self.last_seen = stamp
            self.seq += 1
            frames.append(_sse("progress", OperationSerializer(op).data, self.seq))
        if op.state in TERMINAL:
            frames.append(_sse("end", {"id": op.pk, "state": op.state}, self.seq + 1))
            return frames, True
        if time.monotonic() - self.started > self.max_seconds:
            # The client reconnects (EventSource does so by itself) and resumes.
            frames.append(_sse("timeout", {"id": op.pk}, self.seq + 1))
            return frames, True
        frames.append(": keep-alive\n\n")
        return frames, False


_RETRY_HINT = "retry: 2000\n\n"


def operation_event_stream(
    op_id: int, *, poll: float, max_seconds: float
) -> Iterator[str]:
    """Yield ``progress`` events whenever the operation changes, then ``end`` when it is
    terminal. Polls the database: no extra infrastructure, works with any broker. This is
    the form WSGI servers (runserver, the test client) stream."""
    events = _OperationEvents(op_id, max_seconds=max_seconds)
    yield _RETRY_HINT
    while True:
        frames, done = events.step()
        yield from frames
        if done:
            return
        time.sleep(poll)


async def operation_event_stream_async(
    op_id: int, *, poll: float, max_seconds: float
) -> AsyncIterator[str]:
    """The same events for ASGI servers: waits on the event loop and reads in the streams'
    shared pool (``baas.sse``), so a waiting stream occupies no worker thread."""
    events = _OperationEvents(op_id, max_seconds=max_seconds)
    yield _RETRY_HINT
    while True:
        frames, done = await in_stream_pool(events.step)
        for frame in frames:
            yield frame
        if done:
            return
        await asyncio.sleep(poll)


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
        options = {"poll": settings.BAAS_SSE_POLL_SECONDS,
                   "max_seconds": settings.BAAS_SSE_MAX_SECONDS}
        return event_stream_response(
            request,
            sync_stream=lambda: operation_event_stream(op.pk, **options),
            async_stream=lambda: operation_event_stream_async(op.pk, **options),
        )
