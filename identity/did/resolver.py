"""DID resolution and DID URL dereferencing for the methods this library knows.

Results are shaped as the DID Resolution spec's: ``didDocument``, ``didResolutionMetadata``
(``contentType`` on success, ``error`` and ``errorMessage`` on failure) and
``didDocumentMetadata``; a dereferenced DID URL gives ``contentStream``,
``dereferencingMetadata`` and ``contentMetadata``. Nothing here raises for bad input: every
failure is a result with the spec's error name (``invalidDid``, ``invalidDidUrl``,
``methodNotSupported``, ``representationNotSupported``, ``notFound``, and the did:key key
errors). Resolution is local computation (did:key and did:jwk need no registry); the ledger
method and did:web come later behind the same ``METHODS`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from identity.did.did_jwk import did_jwk_document
from identity.did.did_key import did_key_document
from identity.did.errors import (
    DidError,
    MethodNotSupported,
    NotFound,
    RepresentationNotSupported,
)
from identity.did.syntax import DidUrl, parse_did_url

DID_LD_JSON = "application/did+ld+json"
DID_JSON = "application/did+json"
REPRESENTATIONS = (DID_LD_JSON, DID_JSON)

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


def resolve(did_url: str, accept: str = DID_LD_JSON) -> ResolutionResult:
    """Resolve a DID, or a DID URL's DID and then its ``#fragment``.

    ``accept`` is the representation asked for: ``application/did+ld+json`` (with
    ``@context``) or ``application/did+json`` (without: a JSON-LD-only member).
    """
    try:
        parsed = parse_did_url(did_url)
        create = METHODS.get(parsed.method)
        if create is None:
            raise MethodNotSupported(f"did:{parsed.method} is not supported here")
        if accept not in REPRESENTATIONS:
            raise RepresentationNotSupported(
                f"{accept!r} is not a DID document representation here: "
                f"ask for one of {', '.join(REPRESENTATIONS)}"
            )
        _refuse_path_and_query(parsed)
        document = create(parsed.did)
        content = _fragment(document, parsed) if parsed.fragment is not None else None
    except DidError as exc:
        return _failure(exc)
    if accept == DID_JSON:
        document = {k: v for k, v in document.items() if k != "@context"}
    elif content is not None:
        content = {"@context": document["@context"], **content}
    return ResolutionResult(document, {"contentType": accept}, {}, content)


def dereference(did_url: str, accept: str = DID_LD_JSON) -> DereferencingResult:
    """Dereference a DID URL: a bare DID gives its document, a ``#fragment`` the
    verification method it names."""
    result = resolve(did_url, accept)
    if result.error:
        return DereferencingResult(None, dict(result.did_resolution_metadata))
    if result.content_stream is not None:
        return DereferencingResult(result.content_stream, {"contentType": accept})
    return DereferencingResult(
        result.did_document, {"contentType": accept}, result.did_document_metadata
    )


def _refuse_path_and_query(parsed: DidUrl) -> None:
    # did:key and did:jwk documents have one version, no services and nothing at a path:
    # every DID parameter (versionId, versionTime, service, ...) names something absent.
    if parsed.path:
        raise NotFound(f"did:{parsed.method} has no resources at paths ({parsed.path!r})")
    if parsed.query_string is not None:
        names = ", ".join(name for name, _ in parsed.query) or "an empty query"
        raise NotFound(f"did:{parsed.method} has no versions or services ({names})")


def _fragment(document: dict[str, Any], parsed: DidUrl) -> dict[str, Any]:
    wanted = {f"{parsed.did}#{parsed.fragment}", f"#{parsed.fragment}"}
    for method in document.get("verificationMethod", []):
        if method.get("id") in wanted:
            return method
    raise NotFound(f"{parsed.did} has no verification method #{parsed.fragment}")
