"""Which iterator an event stream hands the server (``baas.sse``), in process: the sync one
to WSGI (runserver, the test client), the async one to ASGI, where the request's database
connections are also let go before the stream starts."""

from __future__ import annotations

import io

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.test import RequestFactory

from baas.sse import event_stream_response, runs_under_asgi


def _asgi_request() -> ASGIRequest:
    scope = {"type": "http", "method": "GET", "path": "/api/v1/operations/1/events/",
             "query_string": b"", "headers": [], "server": ("testserver", 80)}
    return ASGIRequest(scope, io.BytesIO())


def _sync_stream():
    yield "sync"


async def _async_stream():
    yield "async"


def test_wsgi_requests_get_the_sync_stream():
    request = RequestFactory().get("/api/v1/operations/1/events/")
    assert not runs_under_asgi(request)
    response = event_stream_response(request, sync_stream=_sync_stream,
                                     async_stream=_async_stream)
    assert response.is_async is False
    assert b"".join(response.streaming_content) == b"sync"
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"


@pytest.mark.django_db(transaction=True)
def test_asgi_requests_get_the_async_stream_and_release_their_connection():
    """Django keeps an ASGI request's thread until the response is sent; a stream that
    kept the request's connection would hold it for minutes, one per open stream."""
    connection.ensure_connection()
    assert connection.connection is not None
    request = _asgi_request()
    assert runs_under_asgi(request)
    response = event_stream_response(request, sync_stream=_sync_stream,
                                     async_stream=_async_stream)
    assert response.is_async is True
    assert connection.connection is None


def test_a_pool_read_survives_one_dead_connection_and_fails_on_a_dead_database():
    """A stream's database read that meets a connection killed by a database restart is
    retried once on a fresh connection; a database that stays down still fails it."""
    from django.db import OperationalError

    from baas.sse import _call_and_release

    calls = []

    def read_after_restart():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return "fresh"

    assert _call_and_release(read_after_restart) == "fresh" and len(calls) == 2

    def read_while_down():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        _call_and_release(read_while_down)


@pytest.mark.django_db
def test_a_busy_ledger_event_stream_ends_after_the_longest_stream(monkeypatch, settings):
    """The gateway's ``timeout`` ends a quiet stream; a chain that never goes quiet must not
    hold one open for ever: it ends with ``event: timeout`` and the node's subscription is
    closed."""
    from deploy import gateway
    from deploy.api.gateway_views import TIMEOUT
    from deploy.tests.factories import NetworkFactory, NodeFactory
    from tenants.tests.factories import MembershipFactory

    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant)
    node = NodeFactory(network=network, health="healthy", rpc_url="http://127.0.0.1:9")
    monkeypatch.setattr(gateway, "candidate_nodes", lambda _network: [node])
    closed = []

    def busy_chain(**_options):
        try:
            for height in range(1, 1001):  # without the cap: 1000 events, then `end`
                yield {"height": height}
        finally:
            closed.append(True)

    monkeypatch.setattr(gateway, "events", busy_chain)
    settings.BAAS_SSE_MAX_SECONDS = 0
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=member.user)
    response = client.get(f"/api/v1/networks/{network.pk}/gateway/events/",
                          HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.count(b"event: ledger") == 1 and body.endswith(TIMEOUT)
    assert closed == [True]
