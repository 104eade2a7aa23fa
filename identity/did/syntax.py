"""DID and DID URL syntax, as the ABNF of W3C DID Core 1.0 (sections 3.1 and 3.2) has it.

    did                = "did:" method-name ":" method-specific-id
    method-name        = 1*method-char
    method-char        = %x61-7A / DIGIT
    method-specific-id = *( *idchar ":" ) 1*idchar
    idchar             = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded
    pct-encoded        = "%" HEXDIG HEXDIG
    did-url            = did path-abempty [ "?" query ] [ "#" fragment ]

``path-abempty``, ``query`` and ``fragment`` are RFC 3986's. Every character class below is
spelled out in ASCII ranges (never ``\\w`` or ``\\d``, which match non-ASCII letters and
digits), and the patterns are matched whole with ``fullmatch``. Their nested repetitions
are each bounded by a separator the inner class cannot match (``:``, ``/``), so matching
is linear; the length bound is checked before any pattern runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from identity.did.errors import InvalidDid, InvalidDidUrl

# Neither DID Core nor RFC 3986 bounds a DID; resolvers do (the Universal Resolver and
# browsers stop near 2 KiB). A did:jwk of a P-521 key is about 250 characters.
MAX_LENGTH = 2048

_PCT = r"%[0-9A-Fa-f]{2}"
_IDCHAR = rf"(?:[A-Za-z0-9._-]|{_PCT})"
_METHOD_SPECIFIC_ID = rf"(?:{_IDCHAR}*:)*{_IDCHAR}+"
_DID = rf"did:(?P<method>[a-z0-9]+):(?P<msid>{_METHOD_SPECIFIC_ID})"
# RFC 3986: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
_PCHAR = rf"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|{_PCT})"
_PATH = rf"(?:/{_PCHAR}*)*"
_QUERY_OR_FRAGMENT = rf"(?:{_PCHAR}|[/?])*"

DID_RE = re.compile(_DID)
DID_URL_RE = re.compile(
    rf"(?P<did>{_DID})(?P<path>{_PATH})"
    rf"(?:\?(?P<query>{_QUERY_OR_FRAGMENT}))?(?:#(?P<fragment>{_QUERY_OR_FRAGMENT}))?"
)


@dataclass(frozen=True)
class DidUrl:
    """A parsed DID or DID URL; ``query`` holds the percent-decoded parameters in order.

    ``path`` is ``""`` when there is none; ``query_string`` and ``fragment`` are ``None``
    when absent and ``""`` when present but empty (``did:ex:1#``). ``path``,
    ``query_string`` and ``fragment`` are kept as written, percent-encoding included.
    """

    did: str
    method: str
    method_specific_id: str
    path: str = ""
    query_string: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    fragment: str | None = None

    @property
    def is_did(self) -> bool:
        """True when this is a bare DID, with no path, query or fragment."""
        return not self.path and self.query_string is None and self.fragment is None

    def param(self, name: str) -> str | None:
        """The first value of DID parameter ``name`` (``versionId``, ``service``...)."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def __str__(self) -> str:
        text = self.did + self.path
        if self.query_string is not None:
            text += "?" + self.query_string
        if self.fragment is not None:
            text += "#" + self.fragment
        return text


def _check_text(value: object, error: type[InvalidDid]) -> str:
    if not isinstance(value, str):
        raise error(f"a DID is a string, not {type(value).__name__}")
    if len(value) > MAX_LENGTH:
        raise error(f"longer than {MAX_LENGTH} characters ({len(value)})")
    if not value:
        raise error("empty")
    return value


def _explain(did: str) -> str:
    """Why ``did`` is not a DID, in words (the pattern only says that it is not)."""
    if not did.startswith("did:"):
        return "does not start with 'did:'"
    method, sep, msid = did[4:].partition(":")
    if not sep:
        return "has no method-specific id (expected did:<method>:<id>)"
    if not method:
        return "has an empty method name"
    if not re.fullmatch(r"[a-z0-9]+", method):
        return f"method name {method!r} is not lowercase ASCII letters and digits"
    if not msid:
        return "has an empty method-specific id"
    if msid.endswith(":"):
        return "method-specific id ends with ':'"
    bad = re.search(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9._:%-]", msid)
    if bad and bad.group() == "%":
        return f"bad percent-encoding at {bad.start() + len(method) + 5}"
    if bad:
        return f"character {bad.group()!r} is not allowed in a method-specific id"
    return "is not a DID"


def parse_did(value: object) -> DidUrl:
    """Parse a bare DID; anything else (a DID URL included) raises ``InvalidDid``."""
    text = _check_text(value, InvalidDid)
    match = DID_RE.fullmatch(text)
    if not match:
        raise InvalidDid(f"{text[:80]!r} {_explain(text)}")
    return DidUrl(did=text, method=match["method"], method_specific_id=match["msid"])


def parse_did_url(value: object) -> DidUrl:
    """Parse a DID or DID URL (path, query, fragment).

    A malformed DID part raises ``InvalidDid``; a well-formed DID followed by a malformed
    path, query or fragment raises ``InvalidDidUrl``.
    """
    text = _check_text(value, InvalidDidUrl)
    match = DID_URL_RE.fullmatch(text)
    if match:
        query_string = match["query"]
        return DidUrl(
            did=match["did"],
            method=match["method"],
            method_specific_id=match["msid"],
            path=match["path"],
            query_string=query_string,
            query=_parse_query(query_string) if query_string else (),
            fragment=match["fragment"],
        )
    did = DID_RE.match(text)
    # The longest DID prefix, then what follows it: if that is not a path, query or fragment
    # the DID itself is malformed (did:ex:a b), otherwise the DID URL part is.
    if did is None or text[did.end() : did.end() + 1] not in ("/", "?", "#"):
        head = re.split(r"[/?#]", text, maxsplit=1)[0]
        raise InvalidDid(f"{head[:80]!r} {_explain(head)}")
    raise InvalidDidUrl(f"{text[:80]!r}: malformed path, query or fragment after {did[0]!r}")


def _parse_query(query: str) -> tuple[tuple[str, str], ...]:
    """``a=1&b=x%20y`` -> (("a", "1"), ("b", "x y")). ``+`` stays a plus (RFC 3986, not
    HTML forms); percent-escapes must decode to UTF-8."""
    params = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, val = part.partition("=")
        try:
            params.append((unquote(name, errors="strict"), unquote(val, errors="strict")))
        except UnicodeDecodeError as exc:
            raise InvalidDidUrl(f"query parameter {part[:40]!r} is not UTF-8") from exc
    return tuple(params)
