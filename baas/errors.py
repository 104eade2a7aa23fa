"""One application error type and one JSON error shape for every API error.

Services raise ``AppError`` subclasses with a stable ``code``; the DRF exception handler
below turns those, DRF's own exceptions and anything unexpected into::

    {"error": {"code": "...", "message": "...", "details": {...}, "request_id": "..."}}

The codes are part of the public API and listed in ``docs/api.md``; never rename one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.response import Response

from baas.context import current_request_id

logger = logging.getLogger(__name__)


class AppError(Exception):
    """An error a caller can act on: stable machine code, human message, HTTP status."""

    code = "error"
    status = 400

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.code
        self.message = message or self.code.replace("_", " ")
        self.status = status or self.status
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(AppError):
    code = "validation_failed"
    status = 400


class NotAuthenticated(AppError):
    code = "not_authenticated"
    status = 401


class PermissionDenied(AppError):
    code = "permission_denied"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class QuotaExceeded(AppError):
    code = "quota_exceeded"
    status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


def error_body(
    code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": str(message),
            "details": details or {},
            "request_id": current_request_id(),
        }
    }


# DRF exception class -> stable code. Order matters: subclasses before their bases.
_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.ParseError, "malformed_request"),
    (drf.AuthenticationFailed, "authentication_failed"),
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "throttled"),
    (drf.ValidationError, "validation_failed"),
]


def _drf_error(exc: drf.APIException) -> tuple[str, str, dict[str, Any]]:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    if isinstance(exc, drf.ValidationError):
        detail = exc.detail
        details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return code, _("The request data is not valid."), details
    if isinstance(exc, drf.Throttled):
        return code, _("Too many requests; try again later."), {"wait_seconds": exc.wait}
    return code, str(exc.detail), {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: every error leaves the API in the one shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, AppError):
        code, message, details, status = exc.code, exc.message, exc.details, exc.status
        if status == 429 and isinstance(details.get("retry_after"), int):
            headers["Retry-After"] = str(details["retry_after"])
    elif isinstance(exc, Http404):
        code, message, details, status = "not_found", _("Not found."), {}, 404
    elif isinstance(exc, DjangoPermissionDenied):
        code, message, details, status = "permission_denied", _("Permission denied."), {}, 403
    elif isinstance(exc, RequestDataTooBig):
        code, message, details, status = (
            "payload_too_large", _("Request body too large."), {}, 413
        )
    elif isinstance(exc, drf.APIException):
        code, message, details = _drf_error(exc)
        status = exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
    else:
        # Log the trace for operators; the caller only sees a code and the request id.
        logger.error("unhandled error in API view (request id %s)", current_request_id(),
                     exc_info=exc)
        code, message, details, status = (
            "internal_error",
            _("An internal error occurred; quote the request id when reporting it."),
            {},
            500,
        )
    return Response(error_body(code, message, details), status=status, headers=headers)


def json_error_response(code: str, message: str, status: int) -> JsonResponse:
    """The same shape outside DRF views (middleware, URL-level 404/500 handlers)."""
    return JsonResponse(error_body(code, message), status=status)
