"""One error type per DID Resolution error name.

``error`` is the name the DID Resolution spec (and, for the public key errors, the did:key
spec) gives the failure; the resolver puts it in ``didResolutionMetadata.error`` and the
message in ``errorMessage``. The key errors are kinds of ``InvalidDid`` (the key *is* the
identifier), so ``except InvalidDid`` catches every malformed identifier.
"""

from __future__ import annotations


class DidError(Exception):
    error = "internalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDid(DidError):
    error = "invalidDid"


class InvalidDidUrl(InvalidDid):
    error = "invalidDidUrl"


class InvalidPublicKey(InvalidDid):
    error = "invalidPublicKey"


class InvalidPublicKeyLength(InvalidDid):
    error = "invalidPublicKeyLength"


class UnsupportedPublicKeyType(InvalidDid):
    error = "unsupportedPublicKeyType"


class MethodNotSupported(DidError):
    error = "methodNotSupported"


class RepresentationNotSupported(DidError):
    error = "representationNotSupported"


class NotFound(DidError):
    error = "notFound"


class InternalError(DidError):
    """The method could not answer: a registry (a did:web server, a ledger network) was
    unreachable, too slow, or sent something that is not a DID document of the DID."""

    error = "internalError"
