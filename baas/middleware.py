"""Request id + source IP for every request, and JSON errors for oversized API bodies."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error_response("bad_request", "Content-Length is not a number.", 400)
            if length > limit:
                return json_error_response(
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit is {limit} bytes.",
                    413,
                )
        return self.get_response(request)
