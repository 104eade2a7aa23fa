"""Server-sent-event responses that stream under both kinds of server.

Django drains the iterator of a ``StreamingHttpResponse`` completely before sending anything
when the iterator does not match the server: under ASGI a sync iterator is read with
``sync_to_async(list)``, under WSGI an async one with ``async_to_sync`` (both in
``django/http/response.py``). A stream that polls for minutes would then arrive in one piece
at the end, so every event stream offers both forms and ``event_stream_response`` hands the
server the one it consumes incrementally.

Under ASGI (gunicorn + uvicorn workers, ``baas/asgi.py``) the stream's loop runs on the event
loop and waits with ``asyncio.sleep``; its database reads go to ``stream_pool``, a small
thread pool shared by every stream of the process, so a thousand open streams need a handful
of threads and database connections, not one each.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, StreamingHttpResponse

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def runs_under_asgi(request: Any) -> bool:
    """True when an ASGI server handles ``request`` (a Django or a DRF request)."""
    django_request: HttpRequest = getattr(request, "_request", request)
    return isinstance(django_request, ASGIRequest)


def _stream_pool() -> ThreadPoolExecutor:
    # Made on first use, not at import: gunicorn forks workers after loading the app, and a
    # pool's threads do not survive a fork.
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.BAAS_SSE_DB_THREADS,
                                       thread_name_prefix="sse-db")
        return _pool


def _call_and_release(fn: Callable[..., T], *args: Any) -> T:
    try:
        try:
            return fn(*args)
        except (OperationalError, InterfaceError):
            # The connection this thread kept from an earlier poll may have died with a
            # database restart: close it and try once more on a fresh one, so the stream
            # survives the restart. A database that is really down fails again, here.
            _drop_broken_connections()
            return fn(*args)
    finally:
        _drop_broken_connections()


def _drop_broken_connections() -> None:
    # The pool's threads live as long as the process and keep their database connection
    # from one poll to the next: a fresh connection per poll would cost PostgreSQL a new
    # backend for every stream every second. No request ever ends in these threads, so what
    # Django does at the end of one is done here, for broken connections only: one that
    # failed and no longer answers (the database restarted) is closed, the next poll
    # reconnects.
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


async def in_stream_pool(fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking ``fn(*args)`` (a database read) in the streams' shared pool."""
    call = functools.partial(_call_and_release, fn, *args)
    return await sync_to_async(call, thread_sensitive=False, executor=_stream_pool())()


def _release_request_connections() -> None:
    # Django keeps a request's sync thread, and so the thread's database connections, until
    # the response has been sent, which for a stream is minutes. The request is done with the
    # database here (the stream reads through the pool), so its connections are closed now:
    # otherwise 200 open streams would hold 200 connections. Whatever runs later in this
    # request (a middleware saving the session) simply reconnects.
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def event_stream_response(
    request: Any,
    *,
    sync_stream: Callable[[], Iterator[Any]],
    async_stream: Callable[[], AsyncIterator[Any]],
) -> StreamingHttpResponse:
    """A ``text/event-stream`` response built from whichever stream this server consumes
    as it goes (see the module docstring). Both factories are called lazily: only one."""
    if runs_under_asgi(request):
        _release_request_connections()
        stream = async_stream()
    else:
        stream = sync_stream()
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
