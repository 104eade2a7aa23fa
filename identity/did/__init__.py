"""DIDs as a pure library: syntax, did:key, did:jwk and a resolver for them.

No Django, no control plane, no ledger here (an import-linter contract holds it): the HTTP
resolver, the ledger method and the portal build on this package, never the other way.
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
