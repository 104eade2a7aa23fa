"""URL-level error handlers: JSON under ``/api/``, Django's templates elsewhere."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import Resolver404, get_resolver
from django.utils.translation import gettext as _
from django.views import defaults

from baas.errors import json_error_response


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response("not_found", _("No such API endpoint."), 404)
    return defaults.page_not_found(request, exception)


def _api_view_with_slash(request: HttpRequest) -> bool:
    """``/api/v1/networks`` names a real endpoint once a slash is added (what Django's
    ``APPEND_SLASH`` would redirect to, had this catch-all not matched first)."""
    if request.path_info.endswith("/"):
        return False
    try:
        match = get_resolver().resolve(request.path_info + "/")
    except Resolver404:
        return False
    return match.func is not api_not_found


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Every ``/api/...`` URL no endpoint matched: the JSON error shape, whatever ``DEBUG``
    says (Django's debug 404 page lists every URL pattern of the project)."""
    if settings.APPEND_SLASH and _api_view_with_slash(request):
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        return json_error_response(
            "not_found", _("No such API endpoint; the URL needs a trailing slash."), 404)
    return json_error_response("not_found", _("No such API endpoint."), 404)


def handler500(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response(
            "internal_error",
            _("An internal error occurred; quote the request id when reporting it."),
            500,
        )
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response("bad_request", _("The request could not be understood."),
                                   400)
    return defaults.bad_request(request, exception)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for ``/favicon.ico`` on pages without a ``<link rel="icon">`` (the API's
    JSON, the admin): the portal's icon instead of a logged 404."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
