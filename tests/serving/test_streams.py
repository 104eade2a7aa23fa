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
