"""URL-level error handlers: JSON under ``/api/``, Django's templates elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from baas.errors import json_error_response


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response("not_found", "No such API endpoint.", 404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response(
            "internal_error",
            "An internal error occurred; quote the request id when reporting it.",
            500,
        )
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response("bad_request", "The request could not be understood.", 400)
    return defaults.bad_request(request, exception)
