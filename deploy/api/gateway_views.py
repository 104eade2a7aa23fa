"""Gateway endpoints under ``/api/v1/networks/{id}/gateway/`` (logic in ``deploy.gateway``)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baas.errors import ValidationFailed
from baas.sse import event_stream_response
from baas.tenancy import TenantScopedMixin
from deploy import consortium, gateway, selectors
from deploy.api import serializers as s
from deploy.models import Network
from deploy.services import keys

MAX_EVENT_WAIT_S = 300
MAX_HEIGHT = 2**63 - 1  # CometBFT heights are int64


class GatewayView(TenantScopedMixin, APIView):
    read_role = "viewer"
    write_role = "developer"

    def network(self) -> Network:
        return selectors.network_get(tenant=self.tenant, network_id=self.kwargs["network_pk"])


def _body(request: Request) -> dict[str, Any]:
    """The body as a JSON object whose every value the ledger can encode canonically: no
    floats, integers within the signed 64-bit range, valid Unicode, at most 16 levels of
    ``args`` nesting. Anything else is ``400 invalid_args`` naming the problem."""
    if not isinstance(request.data, dict):
        raise ValidationFailed("invalid_body", "The body must be a JSON object.")
    body = dict(request.data)
    from ledger.canonical import DEFAULT_MAX_DEPTH, CanonicalError, check_value

    try:
        # The body is one level above args, which the ledger allows DEFAULT_MAX_DEPTH deep.
        check_value(body, max_depth=DEFAULT_MAX_DEPTH + 1)
    except CanonicalError as exc:
        raise ValidationFailed("invalid_args", f"The ledger cannot encode this body: {exc}.",
                               details={"reason": str(exc)}) from None
    return body


def _signer(request: Request, network: Network, tenant: Any) -> Any:
    token = request.auth if getattr(request.auth, "prefix", None) else None
    return keys.signer_for(network=network, tenant=tenant,
                           user=None if token else request.user, token=token, request=request)


class TxView(GatewayView):
    @extend_schema(request=s.GatewayTxRequestSerializer,
                   responses={200: s.GatewayTxResultSerializer, 202: s.GatewayTxResultSerializer})
    def post(self, request: Request, network_pk: Any) -> Response:
        body = _body(request)  # bad input is refused before anything else happens
        network = self.network()
        consortium.require_writer(network, self.tenant)  # observers only read
        presigned = gateway.check_tx_body(body)
        consortium.ensure_registered(network, self.tenant)
        signer = None
        if presigned is None:  # built here: signed with the person's or the token's own key
            signer = _signer(request, network, self.tenant)
        result = gateway.submit_tx(network=network, body=body, signer=signer)
        return Response(result, status=200 if result.get("height") else 202)


class QueryView(GatewayView):
    """A query is a read: viewers and ``read`` tokens may send it, although it is a POST."""

    reads_only = True
    write_role = "viewer"

    @extend_schema(request=s.GatewayQueryRequestSerializer,
                   responses=s.GatewayQueryResultSerializer)
    def post(self, request: Request, network_pk: Any) -> Response:
        body = _body(request)
        network = self.network()
        signer = None
        if "chaincode" in body:
            # Signed with the asker's own key once it is on chain (after their first
            # transaction), so a @read function sees who asks. A query never registers
            # anything: before that, and for observers, it runs with no caller.
            token = request.auth if getattr(request.auth, "prefix", None) else None
            signer = keys.registered_signer(network=network, tenant=self.tenant,
                                            user=None if token else request.user, token=token)
        return Response(gateway.query(network=network, body=body, signer=signer))


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ValidationFailed(f"invalid_{name}", f"{name} is a non-negative whole number.")
    value = int(raw)
    if value > MAX_HEIGHT:
        raise ValidationFailed(f"invalid_{name}", f"{name} is at most {MAX_HEIGHT}.")
    return value


class BlocksView(GatewayView):
    @extend_schema(parameters=[OpenApiParameter("before", int), OpenApiParameter("limit", int)],
                   responses=s.GatewayBlocksSerializer)
    def get(self, request: Request, network_pk: Any) -> Response:
        return Response(gateway.blocks(
            network=self.network(), before=_int_param(request, "before", None),
            limit=_int_param(request, "limit", 10) or 10,
        ))


class BlockView(GatewayView):
    @extend_schema(operation_id="networks_gateway_block_retrieve",
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, height: int) -> Response:
        if not 1 <= height <= MAX_HEIGHT:
            raise ValidationFailed("invalid_height",
                                   f"Block heights run from 1 to {MAX_HEIGHT}.")
        return Response(gateway.block(network=self.network(), height=height))


class TxDetailView(GatewayView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, network_pk: Any, tx_hash: str) -> Response:
        return Response(gateway.transaction(network=self.network(), tx_hash=tx_hash))


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return json.dumps(data).encode()


CONNECTING = b": connecting\n\n"
END = b"event: end\ndata: {}\n\n"
TIMEOUT = b"event: timeout\ndata: {}\n\n"


def _event_frame(event: dict[str, Any]) -> bytes:
    if "subscribed" in event:  # from here on, no committed event is missed
        return f"event: subscribed\ndata: {json.dumps(event)}\n\n".encode()
    kind = "error" if "error" in event else "ledger"
    return f"event: {kind}\ndata: {json.dumps(event, default=str)}\n\n".encode()


class EventsView(GatewayView):
    """Server-sent events: one ``event: ledger`` per matching ledger event, until the
    stream has been quiet for ``timeout`` seconds (default 30, at most 300)."""

    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("query", str), OpenApiParameter("timeout", int)],
        responses={(200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request, network_pk: Any) -> StreamingHttpResponse:
        network = self.network()
        node = gateway.candidate_nodes(network)[0]  # fail before streaming if it is down
        query_text = request.query_params.get("query", "tm.event='Tx'")
        if len(query_text) > 512 or "\n" in query_text:
            raise ValidationFailed("invalid_query", "query is one CometBFT query line.")
        timeout = min(MAX_EVENT_WAIT_S, _int_param(request, "timeout", 30) or 30)
        options = {"network": network, "node": node, "query_text": query_text,
                   "timeout": float(timeout)}

        # ``timeout`` ends a quiet stream; a busy chain keeps one busy for ever, so a stream
        # also ends after BAAS_SSE_MAX_SECONDS, as the operation streams do (the client
        # reconnects: EventSource by itself).
        deadline = time.monotonic() + settings.BAAS_SSE_MAX_SECONDS

        def stream() -> Iterator[bytes]:
            yield CONNECTING  # headers out at once; the node may take a moment
            with contextlib.closing(gateway.events(**options)) as events:
                for event in events:
                    yield _event_frame(event)
                    if time.monotonic() > deadline:
                        yield TIMEOUT
                        return
            yield END

        async def astream() -> AsyncIterator[bytes]:
            yield CONNECTING
            async with contextlib.aclosing(gateway.aevents(**options)) as events:
                async for event in events:
                    yield _event_frame(event)
                    if time.monotonic() > deadline:
                        yield TIMEOUT
                        return
            yield END

        return event_stream_response(request, sync_stream=stream, async_stream=astream)
