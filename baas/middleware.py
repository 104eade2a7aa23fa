"""Request id + source IP for every request; JSON errors for oversized API bodies and for
API query strings that are not text; file responses streamed under ASGI."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponse

from baas.body_limit import api_body_limit, too_large_message
from baas.context import request_id_var, source_ip_var
from baas.errors import json_error_response

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip(request: HttpRequest) -> str | None:
    """The caller's IP. ``X-Forwarded-For`` is trusted only behind a configured proxy."""
    if getattr(settings, "BAAS_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Assigns ``request.request_id`` (echoing a sane incoming ``X-Request-ID``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request.source_ip = client_ip(request)  # type: ignore[attr-defined]
        rid_token = request_id_var.set(request_id)
        ip_token = source_ip_var.set(request.source_ip)  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(rid_token)
            source_ip_var.reset(ip_token)
        response["X-Request-ID"] = request_id
        return response


class ApiBodyLimitMiddleware:
    """Refuses API bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a JSON 413.

    DRF's JSON parser reads the raw stream and so bypasses Django's own limit; checking the
    declared length here keeps one limit for every parser and never reads the body.

    A view that takes a file upload names a larger limit for multipart bodies only
    (``upload_limit_setting``, the name of a setting): the restore of a backup file, which
    Django's multipart parser streams to a temporary file instead of holding in memory.
    The check is in ``process_view`` (after the URL is resolved, before any body is read)
    because only then is the view known. The rule is ``baas.body_limit.api_body_limit``;
    under ASGI ``baas.body_limit.BodyLimitMiddleware`` applies it before Django reads the
    body at all (Django's ASGI handler reads it whole before any middleware runs).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any,
                     view_kwargs: Any) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        limit = api_body_limit(view_cls=getattr(view_func, "cls", None),
                               content_type=request.content_type or "")
        if limit is None:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error_response("bad_request", "Content-Length is not a number.", 400)
        if length > limit:
            return json_error_response(
                "payload_too_large", too_large_message(length, limit), 413)
        return None


class ApiQueryStringMiddleware:
    """Refuses an API query string that is not UTF-8 text, or holds a NUL or another C0
    control character, with ``400 invalid_query_string``.

    Django decodes a bad byte sequence into U+FFFD without a word, so ``?status=%ED%A0%80``
    silently became another value; a NUL reached PostgreSQL, which cannot store one in text,
    and answered 500. Checking the raw bytes once here covers every endpoint and filter.
    """

    _CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("QUERY_STRING", "")
        if raw and request.path.startswith("/api/"):
            data = unquote_to_bytes(raw.replace("+", " ").encode("latin-1", "replace"))
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return json_error_response(
                    "invalid_query_string", "The query string is not valid UTF-8.", 400)
            if self._CONTROL.search(data):
                return json_error_response(
                    "invalid_query_string",
                    "The query string contains a NUL or another control character.", 400)
        return self.get_response(request)


# Django's own ASGI chunk size: one read per message it sends.
_FILE_BLOCK = 2**16


async def _file_blocks(file: Any) -> AsyncIterator[bytes]:
    while block := await asyncio.to_thread(file.read, _FILE_BLOCK):
        yield block


class ThreadedChunks:
    """A sync iterator of a streamed answer (an S3 object's body, say) as an async one whose
    every ``next`` runs in a thread: under ASGI the event loop never blocks on it, and one
    chunk at a time is in memory.

    The iterator is closed however the stream ends: at its end or when the client goes
    away while it is read (in a thread: closing may release a connection), and by
    ``close``, which ``StreamingHttpResponse`` registers and calls (Django's ASGI handler
    calls ``response.close`` in a thread) even when no chunk was ever asked for: then the
    async generator never started and its ``finally`` would never run. A ``close`` that
    comes while a read runs in its thread leaves the closing to that read, once it
    returns: an iterator is never closed under a read in progress."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False
        self._stream = self._stream_in_threads()

    def __aiter__(self) -> ThreadedChunks:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        return self._stream.__anext__()

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def _stream_in_threads(self) -> AsyncIterator[bytes]:
        try:
            while (chunk := await asyncio.to_thread(self._pull)) is not None:
                yield chunk
        finally:
            await asyncio.to_thread(self.close)

    def _pull(self) -> bytes | None:
        with self._lock:
            if self._closed:
                return None
            self._reading = True
        try:
            return next(self._chunks, None)
        finally:
            with self._lock:
                self._reading = False
                close_now = self._closed  # close() came during the read: ours to do
            if close_now:
                self._close_chunks()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._reading:
                return  # the read in progress closes the iterator when it returns
        self._close_chunks()

    def _close_chunks(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def chunks_in_threads(chunks: Iterator[bytes]) -> ThreadedChunks:
    """``chunks`` for a ``StreamingHttpResponse`` under ASGI (see ``ThreadedChunks``)."""
    return ThreadedChunks(chunks)


async def _parts(parts: Any) -> AsyncIterator[bytes]:
    for part in parts:  # no file: what the response holds is already in memory
        yield part


class AsyncFileResponseMiddleware:
    """Under ASGI, hands a file response (WhiteNoise's static files) to the server as an
    async iterator whose every read runs in a thread.

    Django consumes a sync iterator under ASGI with ``sync_to_async(list)``: the whole file
    in memory before the first byte goes out, and a warning. Listed just before WhiteNoise,
    which answers static files without calling what follows it. The file is still closed
    by the response, which registered it when it was created.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (isinstance(response, FileResponse) and not response.is_async
                and isinstance(request, ASGIRequest)):
            file = response.file_to_stream
            # No file for HEAD: WhiteNoise then gives an empty body.
            response.streaming_content = (
                _file_blocks(file) if file is not None else _parts(response.streaming_content))
        return response
