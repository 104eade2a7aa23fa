"""The public, phone-sized page of a deployment (``/p/<id>/``): no login.

People outside the tenant (donors, residents) act with an Ed25519 key their browser makes
and keeps (``static/sectors/public.js``). The page offers only the functions the manifest
marks ``public = true``, and only for an active deployment on a network with
``public_access`` (``selectors.deployment_public_get``). A write goes in two steps: the
server prepares the transaction body (chain id, chaincode, nonce, time) and its sign bytes,
the browser checks the body is what its user asked for, signs it and sends the signature.

The JSON endpoints answer ``{"error": {"code", "message", ...}}`` with a 4xx status for
anything a caller gets wrong, are rate-limited per client address, and take Django's CSRF
token in the ``X-CSRFToken`` header (the page is same-origin).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from baas.errors import AppError, NotFound, error_body
from sectors import selectors, services
from sectors.forms_schema import form_class, localised
from sectors.models import Deployment
from sectors.tables import table
from tenants.throttling import ClientAddressThrottle
from tenants.views import page

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")
FUNCTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
DEFAULT_RATE = "60/minute"
MAX_REASON = 300


class PublicPageThrottle(ClientAddressThrottle):
    """Per client address, for the public JSON endpoints together
    (``BAAS_PUBLIC_PAGE_THROTTLE_RATE``, default 60/minute)."""

    def get_rate(self) -> str:
        return getattr(settings, "BAAS_PUBLIC_PAGE_THROTTLE_RATE", DEFAULT_RATE)


class _Scope:
    throttle_scope = "public_page"


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status, details


def error(code: str, message: str, status: int,
          details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


# Plumbing for the pages themselves, not something to offer a visitor.
NOT_SHOWN = frozenset({"roles_of"})


def public_functions(manifest: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in manifest.get("functions") or []
            if isinstance(f, dict) and f.get("public") is True and f.get("name")
            and f.get("kind", "write") == kind]


def shown(manifest: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    init = (manifest.get("init") or {}).get("function")
    return [f for f in public_functions(manifest, kind)
            if f["name"] not in NOT_SHOWN and f["name"] != init]


def table_json(value: Any) -> dict[str, Any]:
    result = table(value)
    return {"kind": result.kind, "columns": result.columns, "rows": result.rows,
            "value": result.value}


def _deployment(deployment_id: Any) -> Deployment:
    return selectors.deployment_public_get(deployment_id=deployment_id)


def _manifest(deployment: Deployment) -> dict[str, Any]:
    return (deployment.active.manifest if deployment.active else None) or {}


@require_GET
@ensure_csrf_cookie
def public_page(request: HttpRequest, deployment_id: Any) -> HttpResponse:
    try:
        deployment = _deployment(deployment_id)
    except NotFound:
        raise Http404 from None
    manifest = _manifest(deployment)

    def entry(spec: dict[str, Any]) -> dict[str, Any]:
        cls = form_class(spec.get("args"), name=f"{spec['name']}_form")
        return {"name": spec["name"], "title": localised(spec.get("title")) or spec["name"],
                "form": cls(prefix=spec["name"]), "automatic": not cls.base_fields}

    return page(request, "sectors/public.html", {
        "deployment": deployment,
        "title": localised(manifest.get("title")) or deployment.name,
        "description": localised(manifest.get("description")),
        "writes": [entry(f) for f in shown(manifest, "write")],
        "reads": [entry(f) for f in shown(manifest, "read")],
        "texts": {
            "no_webcrypto": _("This browser cannot make a signing key (Ed25519 in WebCrypto "
                              "is missing). Use a current browser."),
            "key_made": _("A new key was made and kept in this browser."),
            "copied": _("Copied."),
            "sending": _("Sending…"),
            "mismatch": _("The server prepared a transaction other than the one you asked "
                          "for; nothing was signed."),
            "failed": _("The request failed; try again."),
            "committed": _("Done: recorded in block %(height)s."),
            "empty": _("Nothing yet."),
        },
    })


def _read_json(request: HttpRequest) -> dict[str, Any]:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        raise Refused("payload_too_large", _("Request body too large."), 413)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise Refused("payload_too_large", _("Request body too large."), 413) from None
    if len(raw) > MAX_BODY_BYTES:
        raise Refused("payload_too_large", _("Request body too large."), 413)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused("malformed_request", _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise Refused("malformed_request", _("The request body must be a JSON object."))
    return data


def _function(data: dict[str, Any], manifest: dict[str, Any], kind: str) -> str:
    name = data.get("function")
    if not isinstance(name, str) or not FUNCTION.match(name):
        raise Refused("validation_failed", _("Name a function."))
    if name not in {f["name"] for f in public_functions(manifest, kind)}:
        raise Refused("function_not_public",
                      _("This function is not offered on the public page."), 403)
    return name


def _args(data: dict[str, Any]) -> dict[str, Any]:
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise Refused("validation_failed", _("The arguments must be a JSON object."))
    return args


def refusal_text(exc: AppError) -> str:
    """What the page shows for a service's refusal: when the chain refused, the contract's
    own reason (its log) after a sentence in the visitor's language, without the ledger's
    stage names; anything else as the service put it."""
    log = str((exc.details or {}).get("log") or "").strip()[:MAX_REASON]
    if exc.code == "tx_rejected" and log:
        return _("The transaction was refused: %(reason)s") % {"reason": log}
    if exc.code == "query_failed" and log:
        return _("The look-up was refused: %(reason)s") % {"reason": log}
    return str(exc.message)


def _json_endpoint(request: HttpRequest, deployment_id: Any, handle: Any) -> JsonResponse:
    throttle = PublicPageThrottle()
    if not throttle.allow_request(request, _Scope()):
        wait = int(throttle.wait() or 1)
        response = error("throttled", _("Too many requests; try again later."), 429,
                         {"wait_seconds": wait})
        response["Retry-After"] = str(wait)
        return response
    try:
        deployment = _deployment(deployment_id)
        data = _read_json(request)
        return JsonResponse(handle(deployment, _manifest(deployment), data))
    except Refused as exc:
        return error(exc.code, exc.message, exc.status, exc.details)
    except AppError as exc:
        status = exc.status if 400 <= exc.status < 500 else 503
        return error(exc.code, refusal_text(exc), status, exc.details)
    except Exception:
        # The page must never see a 500 page: log it for the operators, answer in JSON.
        logger.exception("public endpoint failed for deployment %s", deployment_id)
        return error("gateway_unavailable",
                     _("The network could not be reached; try again later."), 503)


def _prepare(deployment: Deployment, manifest: dict[str, Any],
             data: dict[str, Any]) -> dict[str, Any]:
    function = _function(data, manifest, "write")
    public_key = data.get("public_key")
    if not isinstance(public_key, str) or not HEX64.match(public_key):
        raise Refused("invalid_public_key",
                      _("The public key must be 64 lowercase hexadecimal characters."))
    prepared = services.public_prepare(deployment=deployment, function=function,
                                       args=_args(data), public_key=public_key)
    return {"body": prepared["body"], "sign_bytes": prepared["sign_bytes"]}


def _submit(deployment: Deployment, manifest: dict[str, Any],
            data: dict[str, Any]) -> dict[str, Any]:
    body = data.get("body")
    if not isinstance(body, dict):
        raise Refused("validation_failed", _("Send the prepared transaction body."))
    _function({"function": body.get("function")}, manifest, "write")
    signature = data.get("signature")
    if not isinstance(signature, str) or not HEX128.match(signature):
        raise Refused("invalid_signed_tx",
                      _("The signature must be 128 lowercase hexadecimal characters."))
    result = services.public_submit(deployment=deployment, body=body, signature=signature)
    return {**result, "table": table_json(result.get("data"))}


def _query(deployment: Deployment, manifest: dict[str, Any],
           data: dict[str, Any]) -> dict[str, Any]:
    function = _function(data, manifest, "read")
    answer = services.public_query(deployment=deployment, function=function, args=_args(data))
    return {"data": answer.get("data"), "table": table_json(answer.get("data"))}


@require_POST
def public_prepare(request: HttpRequest, deployment_id: Any) -> JsonResponse:
    return _json_endpoint(request, deployment_id, _prepare)


@require_POST
def public_submit(request: HttpRequest, deployment_id: Any) -> JsonResponse:
    return _json_endpoint(request, deployment_id, _submit)


@require_POST
def public_query(request: HttpRequest, deployment_id: Any) -> JsonResponse:
    return _json_endpoint(request, deployment_id, _query)
