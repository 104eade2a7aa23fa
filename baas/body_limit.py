"""The limit on request bodies: one rule (``api_body_limit``) for the WSGI middleware and for
the ASGI wrapper that enforces it before Django reads a byte.

Under ASGI Django's handler reads the WHOLE body into a temporary file before any middleware
runs (``ASGIHandler.read_body``), so ``baas.middleware.ApiBodyLimitMiddleware`` alone would
answer 413 only after a client had sent, and the server had written to disk, as much as it
liked; a chunked body (no ``Content-Length``) was not limited at all. ``BodyLimitMiddleware``
wraps the ASGI application (``baas/asgi.py``): a declared length above the limit gets the 413
at once, the body unread; otherwise the body is counted as it arrives and cut at the limit.
The WSGI middleware stays for runserver and the test client and gives the same answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils.http import parse_header_parameters

from baas.context import request_id_var
from baas.errors import json_error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RequestContextMiddleware's rule for an incoming X-Request-ID (baas/middleware.py).
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def api_body_limit(*, view_cls: Any, content_type: str) -> int | None:
    """The largest body (bytes) an API request to ``view_cls`` may carry; None: no limit.

    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``BAAS_MAX_BODY_BYTES``), except that a view taking a
    file upload names a larger limit for multipart bodies only (``upload_limit_setting``,
    the name of a setting: the restore of a backup file)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return None
    upload = getattr(view_cls, "upload_limit_setting", None)
    if upload and content_type == "multipart/form-data":
        limit = max(limit, int(getattr(settings, upload)))
    return int(limit)


def too_large_message(length: int | None, limit: int) -> str:
    if length is None:
        return f"Request body is more than {limit} bytes; the limit is {limit} bytes."
    return f"Request body is {length} bytes; the limit is {limit} bytes."


def portal_body_limit() -> int | None:
    """The ceiling outside ``/api/`` (portal forms; the largest is the 2 MiB bundle
    upload): ``BAAS_PORTAL_MAX_BODY_BYTES``, never less than the API's own limit. Not the
    restore upload's: a page takes no backup file, and every body is written to disk
    before anyone signed in."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return None
    return max(int(limit), int(getattr(settings, "BAAS_PORTAL_MAX_BODY_BYTES", 4 * 2**20)))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def scope_body_limit(scope: Scope) -> int | None:
    """The body limit of an HTTP scope, by the rule of ``ApiBodyLimitMiddleware``."""
    path = scope["path"]
    # Served under a prefix (``--root-path``, ``FORCE_SCRIPT_NAME``): the rule is about
    # the path below it.
    root = scope.get("root_path") or str(getattr(settings, "FORCE_SCRIPT_NAME", "") or "")
    root = root.rstrip("/")
    path_info = path[len(root):] if root and path.startswith(root + "/") else path
    if not path_info.startswith("/api/"):
        return portal_body_limit()
    try:
        view_cls = getattr(resolve(path_info).func, "cls", None)
    except Resolver404:
        view_cls = None
    content_type, _ = parse_header_parameters(_header(scope, b"content-type") or "")
    return api_body_limit(view_cls=view_cls, content_type=content_type)


def _declared_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        return None  # the server refuses such a request; if not, the count still holds
    return length if length >= 0 else None


async def _send_too_large(send: Send, scope: Scope, length: int | None, limit: int) -> None:
    """The 413 ``ApiBodyLimitMiddleware`` answers, with the request id header."""
    incoming = _header(scope, b"x-request-id") or ""
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = json_error_response("payload_too_large", too_large_message(length, limit),
                                       413)
    finally:
        request_id_var.reset(token)
    response["X-Request-ID"] = request_id
    response["X-Content-Type-Options"] = "nosniff"
    # The body is left unread: the connection cannot carry another request.
    response["Connection"] = "close"
    body = response.content
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _CountedBody:
    """``receive`` and ``send`` of one request whose body may hold at most ``limit`` bytes.

    Past the limit the application is told the client went away (``http.disconnect``;
    Django's handler then stops reading and answers nothing), the 413 goes out here if no
    response has started, and whatever the application sends afterwards is dropped, so the
    server never sees two responses. No more of the body is read."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.cut = False
        self.started = False
        self.answered = False

    async def receive(self) -> Message:
        if self.cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.cut = True
                if not self.started:
                    self.answered = True
                    await _send_too_large(self._send, self.scope, None, self.limit)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodyLimitMiddleware:
    """ASGI wrapper: HTTP bodies above their limit never reach Django (module docstring).
    Other scopes (lifespan, websocket) pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope_body_limit(scope)
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = _declared_length(scope)
        if length is not None and length > limit:
            await _send_too_large(send, scope, length, limit)
            return
        body = _CountedBody(scope, receive, send, limit)
        await self.app(scope, body.receive, body.send)
