"""DIDs as a pure library: syntax, did:key, did:jwk, did:web, did:baas and a resolver.

No Django and no control plane here (an import-linter contract holds it): the HTTP
resolver, the ledger reader and the portal build on this package, never the other way.
``did_baas`` uses the ledger's pure helpers (``ledger.system.did``, ``ledger.state``) and
reads the chain only through a reader it is given; ``did_web`` opens HTTPS connections.
"""

from identity.did.errors import (
    DidError,
    InvalidDid,
    InvalidDidUrl,
    InvalidPublicKey,
    InvalidPublicKeyLength,
    MethodNotSupported,
    NotFound,
    RepresentationNotSupported,
    UnsupportedPublicKeyType,
)
from identity.did.syntax import DidUrl, parse_did, parse_did_url

__all__ = [
    "DidError",
    "DidUrl",
    "InvalidDid",
    "InvalidDidUrl",
    "InvalidPublicKey",
    "InvalidPublicKeyLength",
    "MethodNotSupported",
    "NotFound",
    "RepresentationNotSupported",
    "UnsupportedPublicKeyType",
    "parse_did",
    "parse_did_url",
]
