"""The public DID resolver: ``GET /1.0/identifiers/<did or DID URL>``.

The Universal Resolver driver interface (DID Resolution, HTTP(S) binding): anyone may call
it (no login, no session, no CSRF: it only reads), it is rate-limited per client address
(``BAAS_DID_RESOLVER_THROTTLE_RATE``; did:web, which makes this process fetch from the
internet, also by the lower ``BAAS_DID_WEB_THROTTLE_RATE``) and answers any origin
(``Access-Control-Allow-Origin: *``). Representations by ``Accept``:

- ``application/did+ld+json`` (also ``application/ld+json``, ``*/*`` and no header): the
  DID document with ``@context``;
- ``application/did+json`` (also ``application/json``): the document without it;
- ``application/ld+json;profile="https://w3id.org/did-resolution"``: the whole resolution
  result (``didDocument``, ``didResolutionMetadata``, ``didDocumentMetadata``).

A DID URL with a ``#fragment`` (sent percent-encoded, ``%23``) or ``?service=`` gives the
resource it names. Errors answer the resolution result with ``didResolutionMetadata.error``
and the status of the HTTP binding: 400 ``invalidDid``/``invalidDidUrl``/``invalidOptions``,
404 ``notFound``, 406 ``representationNotSupported``, 410 for a deactivated DID,
501 ``methodNotSupported`` and 502 ``internalError`` when the registry failed (a did:web
server, or a ledger network none of whose nodes answered).

Every answer may be kept by caches for ``BAAS_DID_CACHE_SECONDS`` at most, a given
``versionId`` included: a shared cache must not keep serving a registry's DIDs long after
the registry was taken out of the public resolver.

Query parameters of the HTTP request: ``proof=true`` (did:baas: a checked state proof in
``didResolutionMetadata.proof``) and ``versionId``, ``versionTime``, ``service``, which are
added to the DID URL as its DID parameters.
"""

from __future__ import annotations

import json
import logging
import ssl
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from baas.errors import error_body
from identity.did.did_baas import BaasMethod
from identity.did.did_web import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, WebMethod
from identity.did.resolver import (
    DEFAULT_METHODS,
    DID_JSON,
    DID_LD_JSON,
    RESOLUTION_RESULT,
    ResolutionResult,
    Resolver,
)
from identity.ledger_reader import LedgerReader, cache_seconds
from tenants.throttling import ClientAddressThrottle

logger = logging.getLogger(__name__)

PREFIX = "/1.0/identifiers/"
DEFAULT_RATE = "600/minute"
DEFAULT_WEB_RATE = "60/minute"
RESULT_PROFILE = "https://w3id.org/did-resolution"
DID_PARAMETERS = ("versionId", "versionTime", "service")
OPTIONS = ("proof",)
STATUS = {
    "invalidDid": 400,
    "invalidDidUrl": 400,
    "invalidOptions": 400,
    "invalidPublicKey": 400,
    "invalidPublicKeyLength": 400,
    "unsupportedPublicKeyType": 400,
    "notFound": 404,
    "representationNotSupported": 406,
    "methodNotSupported": 501,
}


class ResolverThrottle(ClientAddressThrottle):
    """Per client address (``BAAS_DID_RESOLVER_THROTTLE_RATE``, default 600/minute)."""

    def get_rate(self) -> str:
        return getattr(settings, "BAAS_DID_RESOLVER_THROTTLE_RATE", DEFAULT_RATE)


class WebResolverThrottle(ClientAddressThrottle):
    """did:web only, per client address (``BAAS_DID_WEB_THROTTLE_RATE``, default
    60/minute), on top of ``ResolverThrottle``: each did:web resolution makes this process
    look a name up and connect to a server somebody else chose."""

    def get_rate(self) -> str:
        return getattr(settings, "BAAS_DID_WEB_THROTTLE_RATE", DEFAULT_WEB_RATE)


class _Scope:
    throttle_scope = "did_resolver"


class _WebScope:
    throttle_scope = "did_resolver_web"


@lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def web_method() -> WebMethod:
    return WebMethod(
        timeout=float(getattr(settings, "BAAS_DID_WEB_TIMEOUT_SECONDS", DEFAULT_TIMEOUT)),
        max_bytes=int(getattr(settings, "BAAS_DID_WEB_MAX_BYTES", DEFAULT_MAX_BYTES)),
        allow_private=bool(getattr(settings, "BAAS_DID_WEB_ALLOW_PRIVATE", False)),
        ssl_context=_ssl_context(getattr(settings, "BAAS_DID_WEB_CA_FILE", None) or None),
    )


def public_resolver() -> Resolver:
    """did:key, did:jwk, did:baas of public registries and (unless switched off) did:web."""
    methods: dict[str, Any] = {**DEFAULT_METHODS,
                               "baas": BaasMethod(LedgerReader(public_only=True))}
    if getattr(settings, "BAAS_DID_WEB_ENABLED", True):
        methods["web"] = web_method()
    return Resolver(methods)


# -- content negotiation -------------------------------------------------------------------


def _media_ranges(accept: str) -> list[tuple[float, int, str, dict[str, str]]]:
    """``Accept`` -> [(q, order, type, params)], best first (RFC 9110 12.5.1)."""
    ranges = []
    for order, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for part in parts[1:]:
            name, _sep, value = part.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif name:
                params[name] = value
        if q > 0:
            ranges.append((q, order, media, params))
    ranges.sort(key=lambda r: (-r[0], r[1]))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """The representation to answer: ``DID_LD_JSON``, ``DID_JSON``, ``RESOLUTION_RESULT``,
    or None when nothing asked for is offered (406)."""
    if not accept or not accept.strip():
        return DID_LD_JSON
    for _q, _order, media, params in _media_ranges(accept):
        if media == "application/ld+json" and params.get("profile") == RESULT_PROFILE:
            return RESOLUTION_RESULT
        if media in ("application/did+ld+json", "application/ld+json", "*/*",
                     "application/*"):
            return DID_LD_JSON
        if media in ("application/did+json", "application/json"):
            return DID_JSON
    return None


# -- the view ------------------------------------------------------------------------------


def _raw_did(request: HttpRequest) -> str:
    """The DID URL as the client meant it.

    A DID is sent as it is (``/1.0/identifiers/did:web:example.com%3A8443``) or encoded
    whole, as ``encodeURIComponent`` does (``did%3Aweb%3Aexample.com%253A8443``). Servers
    that keep the raw path (ASGI ``raw_path``, gunicorn ``RAW_URI``) tell the two apart: a
    raw path starting with ``did%3A`` is decoded once; otherwise it is taken as sent (a
    did:web's ``%3A`` stays), with only ``%3F`` and ``%23`` (``?`` and ``#``, which cannot be
    sent raw in a path) decoded. Without a raw path, the path arrives decoded once (a
    client then writes ``%`` as ``%25``)."""
    decoded = request.path[request.path.find(PREFIX) + len(PREFIX):]
    raw: str | None = None
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and scope.get("raw_path"):
        raw = scope["raw_path"].decode("latin-1")
    elif request.META.get("RAW_URI") or request.META.get("REQUEST_URI"):
        raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw is None:
        return decoded
    raw = raw.split("?", 1)[0]
    at = raw.find(PREFIX)
    if at < 0:
        return decoded
    text = raw[at + len(PREFIX):]
    if text[:6].lower() == "did%3a":
        return decoded
    for encoded, char in (("%3F", "?"), ("%3f", "?"), ("%23", "#")):
        text = text.replace(encoded, char)
    return text


def _with_parameters(did_url: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return did_url
    fragment = ""
    if "#" in did_url:
        did_url, fragment = did_url.split("#", 1)
        fragment = "#" + fragment
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe=':')}" for k, v in params)
    joiner = "&" if "?" in did_url else "?"
    return f"{did_url}{joiner}{query}{fragment}"


def _failure(error: str, message: str) -> ResolutionResult:
    return ResolutionResult(None, {"error": error, "errorMessage": message})


def _json(body: dict[str, Any], status: int, content_type: str) -> HttpResponse:
    return HttpResponse(json.dumps(body, ensure_ascii=False).encode("utf-8"), status=status,
                        content_type=content_type)


def _headers(response: HttpResponse, *, max_age: int = 0) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "Content-Type, Retry-After"
    response["Vary"] = "Accept"
    response["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-store"
    return response


def _status(result: ResolutionResult) -> int:
    if result.error:
        return STATUS.get(result.error, 502)  # internalError: a registry failed upstream
    if result.did_document_metadata.get("deactivated"):
        return 410
    return 200


@csrf_exempt
def identifiers(request: HttpRequest, did: str = "") -> HttpResponse:
    if request.method == "OPTIONS":  # CORS preflight (the profile's quotes make Accept unsafe)
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Accept"
        response["Access-Control-Max-Age"] = "86400"
        return _headers(response)
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(error_body("method_not_allowed", _("Only GET is allowed.")),
                                status=405)
        response["Allow"] = "GET, HEAD, OPTIONS"
        return _headers(response)
    did_url = _raw_did(request)
    throttles = [(ResolverThrottle(), _Scope())]
    if did_url[:8].lower() == "did:web:":
        throttles.append((WebResolverThrottle(), _WebScope()))
    for throttle, scope in throttles:
        if not throttle.allow_request(request, scope):
            wait = int(throttle.wait() or 1)
            response = JsonResponse(error_body("throttled", _("Too many requests; try "
                                                              "again later."),
                                               {"wait_seconds": wait}), status=429)
            response["Retry-After"] = str(wait)
            return _headers(response)

    representation = negotiate(request.headers.get("Accept"))
    options: dict[str, Any] = {}
    params: list[tuple[str, str]] = []
    result: ResolutionResult | None = None
    for name, values in request.GET.lists():
        if name == "proof" and values in (["true"], ["false"]):
            options["proof"] = values == ["true"]
        elif name in DID_PARAMETERS and len(values) == 1:
            params.append((name, values[0]))
        else:
            result = _failure("invalidOptions", _(
                "Unknown or repeated parameter %(name)s: use proof=true, versionId, "
                "versionTime or service.") % {"name": name[:40]})
            break
    if result is None and representation is None:
        result = _failure("representationNotSupported", _(
            "None of the asked representations is offered: application/did+ld+json, "
            "application/did+json or the DID resolution result."))
    if result is None:
        document_type = DID_JSON if representation == DID_JSON else DID_LD_JSON
        try:
            result = public_resolver().resolve(_with_parameters(did_url, params),
                                               document_type, options)
        except Exception:  # noqa: BLE001 - the resolver should not raise; never a 500 here
            logger.exception("the DID resolver failed on %.200r", did_url)
            result = _failure("internalError", _("The resolver failed on this DID; the "
                                                 "error is logged."))
    status = _status(result)
    if status == 200 and representation != RESOLUTION_RESULT:
        body = result.content_stream if result.content_stream is not None else \
            result.did_document
        assert body is not None
        # The short time for every answer, a given versionId's too (see the docstring).
        return _headers(_json(body, 200, representation or DID_LD_JSON),
                        max_age=cache_seconds())
    content_type = f'application/ld+json;profile="{RESULT_PROFILE}"'
    if status == 200 and representation == RESOLUTION_RESULT:
        result.did_resolution_metadata["contentType"] = DID_LD_JSON
    return _headers(_json(result.to_dict(), status, content_type),
                    max_age=cache_seconds() if status in (200, 410) else 0)
