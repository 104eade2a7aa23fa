"""DID resolution and DID URL dereferencing, with methods plugged in.

Results are shaped as the DID Resolution spec's: ``didDocument``, ``didResolutionMetadata``
(``contentType`` on success, ``error`` and ``errorMessage`` on failure) and
``didDocumentMetadata``; a dereferenced DID URL gives ``contentStream``,
``dereferencingMetadata`` and ``contentMetadata``. Nothing here raises for bad input: every
failure is a result with the spec's error name (``invalidDid``, ``invalidDidUrl``,
``methodNotSupported``, ``representationNotSupported``, ``notFound``, ``internalError`` and
the did:key key errors).

did:key and did:jwk are local computation and always here (``DEFAULT_METHODS``). Methods
that need a registry take it when they are made and are passed in: ``Resolver(methods)``
or ``resolve(..., methods=...)``, for example ``BaasMethod(reader)`` (identity.did.did_baas,
the reader reads a ledger network) and ``WebMethod(...)`` (identity.did.did_web, HTTPS).
The module stays pure: whoever has the settings and the network builds the methods.

A method is an object with ``resolve(parsed: DidUrl, options: dict) -> dict`` returning
``{"document", "metadata"}`` and optionally ``"resolution"`` (extra resolution metadata)
and ``"content"`` (what a DID parameter such as ``service`` selected); it raises
``DidError`` subclasses. ``document`` None with ``metadata["deactivated"]`` is a
deactivated DID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from identity.did.did_jwk import did_jwk_document
from identity.did.did_key import did_key_document
from identity.did.errors import (
    DidError,
    InternalError,
    MethodNotSupported,
    NotFound,
    RepresentationNotSupported,
)
from identity.did.syntax import DidUrl, parse_did_url

logger = logging.getLogger(__name__)

DID_LD_JSON = "application/did+ld+json"
DID_JSON = "application/did+json"
REPRESENTATIONS = (DID_LD_JSON, DID_JSON)
# The whole resolution result (document and both metadata), as the HTTP binding names it.
RESOLUTION_RESULT = 'application/ld+json;profile="https://w3id.org/did-resolution"'


class Method(Protocol):
    def resolve(self, parsed: DidUrl, options: dict[str, Any]) -> dict[str, Any]: ...


class StaticMethod:
    """A method whose document is computed from the identifier (did:key, did:jwk): one
    version, no services, nothing at a path."""

    def __init__(self, document: Callable[[str], dict[str, Any]]) -> None:
        self.document = document

    def resolve(self, parsed: DidUrl, options: dict[str, Any]) -> dict[str, Any]:
        _refuse_path_and_query(parsed)
        return {"document": self.document(parsed.did), "metadata": {}}


DEFAULT_METHODS: dict[str, Method] = {
    "key": StaticMethod(did_key_document),
    "jwk": StaticMethod(did_jwk_document),
}
# Kept for callers of the first slice: method name -> document function.
METHODS: dict[str, Callable[[str], dict[str, Any]]] = {
    "key": did_key_document,
    "jwk": did_jwk_document,
}


@dataclass(frozen=True)
class ResolutionResult:
    """``content_stream`` is set when the input was a DID URL with a fragment: the resource
    it names (a verification method), with ``did_document`` the document it came from."""

    did_document: dict[str, Any] | None
    did_resolution_metadata: dict[str, Any]
    did_document_metadata: dict[str, Any] = field(default_factory=dict)
    content_stream: dict[str, Any] | None = None

    @property
    def error(self) -> str | None:
        return self.did_resolution_metadata.get("error")

    def to_dict(self) -> dict[str, Any]:
        result = {
            "didDocument": self.did_document,
            "didResolutionMetadata": self.did_resolution_metadata,
            "didDocumentMetadata": self.did_document_metadata,
        }
        if self.content_stream is not None:
            result["contentStream"] = self.content_stream
        return result


@dataclass(frozen=True)
class DereferencingResult:
    content_stream: dict[str, Any] | None
    dereferencing_metadata: dict[str, Any]
    content_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return self.dereferencing_metadata.get("error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dereferencingMetadata": self.dereferencing_metadata,
            "contentStream": self.content_stream,
            "contentMetadata": self.content_metadata,
        }


def _failure(exc: DidError) -> ResolutionResult:
    return ResolutionResult(None, {"error": exc.error, "errorMessage": exc.message})


class Resolver:
    """Resolves with ``methods`` (method name -> ``Method``); did:key and did:jwk unless
    ``methods`` is given whole."""

    def __init__(self, methods: Mapping[str, Method] | None = None) -> None:
        self.methods: dict[str, Method] = dict(DEFAULT_METHODS if methods is None else methods)

    def with_methods(self, **methods: Method) -> Resolver:
        return Resolver({**self.methods, **methods})

    def resolve(self, did_url: str, accept: str = DID_LD_JSON,
                options: Mapping[str, Any] | None = None) -> ResolutionResult:
        """Resolve a DID, or a DID URL's DID and then what its ``#fragment`` or DID
        parameter (``service``) names.

        ``accept`` is the representation asked for: ``application/did+ld+json`` (with
        ``@context``) or ``application/did+json`` (without: a JSON-LD-only member).
        ``options`` are resolution options (``{"proof": True}`` for did:baas).
        """
        try:
            parsed = parse_did_url(did_url)
            method = self.methods.get(parsed.method)
            if method is None:
                raise MethodNotSupported(f"did:{parsed.method} is not supported here")
            if accept not in REPRESENTATIONS:
                raise RepresentationNotSupported(
                    f"{accept!r} is not a DID document representation here: "
                    f"ask for one of {', '.join(REPRESENTATIONS)}"
                )
            answer = method.resolve(parsed, dict(options or {}))
            document = answer.get("document")
            content = answer.get("content")
            if parsed.fragment is not None and document is not None:
                content = _fragment(document, parsed)
        except DidError as exc:
            return _failure(exc)
        except Exception:  # noqa: BLE001
            # A method met something nobody foresaw (a registry's answer of an odd shape):
            # the resolver promises a result, never an exception, so it is internalError,
            # with the details in the log and not in the public answer.
            logger.exception("resolving %.200r failed", did_url)
            return _failure(InternalError("the method failed on this DID; the error is "
                                          "logged"))
        metadata = {"contentType": accept, **answer.get("resolution", {})}
        if document is not None and accept == DID_JSON:
            document = {k: v for k, v in document.items() if k != "@context"}
        elif document is not None and content is not None and "@context" in document:
            content = {"@context": document["@context"], **content}
        return ResolutionResult(document, metadata, dict(answer.get("metadata") or {}), content)

    def dereference(self, did_url: str, accept: str = DID_LD_JSON,
                    options: Mapping[str, Any] | None = None) -> DereferencingResult:
        """Dereference a DID URL: a bare DID gives its document, a ``#fragment`` the
        verification method or service it names, ``?service=`` the service."""
        result = self.resolve(did_url, accept, options)
        if result.error:
            return DereferencingResult(None, dict(result.did_resolution_metadata))
        metadata = dict(result.did_resolution_metadata)
        if result.content_stream is not None:
            return DereferencingResult(result.content_stream, metadata)
        return DereferencingResult(result.did_document, metadata, result.did_document_metadata)


DEFAULT = Resolver()


def resolve(did_url: str, accept: str = DID_LD_JSON, *,
            options: Mapping[str, Any] | None = None,
            methods: Mapping[str, Method] | None = None) -> ResolutionResult:
    """``Resolver(methods).resolve(...)``; did:key and did:jwk when ``methods`` is None."""
    resolver = DEFAULT if methods is None else Resolver(methods)
    return resolver.resolve(did_url, accept, options)


def dereference(did_url: str, accept: str = DID_LD_JSON, *,
                options: Mapping[str, Any] | None = None,
                methods: Mapping[str, Method] | None = None) -> DereferencingResult:
    resolver = DEFAULT if methods is None else Resolver(methods)
    return resolver.dereference(did_url, accept, options)


def _refuse_path_and_query(parsed: DidUrl) -> None:
    # did:key and did:jwk documents have one version, no services and nothing at a path:
    # every DID parameter (versionId, versionTime, service, ...) names something absent.
    if parsed.path:
        raise NotFound(f"did:{parsed.method} has no resources at paths ({parsed.path!r})")
    if parsed.query_string is not None:
        names = ", ".join(name for name, _ in parsed.query) or "an empty query"
        raise NotFound(f"did:{parsed.method} has no versions or services ({names})")


def _fragment(document: dict[str, Any], parsed: DidUrl) -> dict[str, Any]:
    """The verification method or service ``#fragment`` names (its full or relative id)."""
    wanted = {f"{parsed.did}#{parsed.fragment}", f"#{parsed.fragment}"}
    for name in ("verificationMethod", "service"):
        entries = document.get(name)
        # A did:web document is whatever its server sent: skip members that are not lists.
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and entry.get("id") in wanted:
                return entry
    raise NotFound(f"{parsed.did} has no verification method or service #{parsed.fragment}")
