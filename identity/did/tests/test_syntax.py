"""DID and DID URL syntax (DID Core 1.0 ABNF): what parses, into what, and what is refused
with which error name."""

from __future__ import annotations

import pytest

from identity.did import InvalidDid, InvalidDidUrl, parse_did, parse_did_url
from identity.did.syntax import MAX_LENGTH

VALID_DIDS = [
    ("did:example:123456789abcdefghi", "example", "123456789abcdefghi"),
    (
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        "key",
        "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    ),
    ("did:web:example.com%3A8443:user", "web", "example.com%3A8443:user"),
    ("did:web:example.com", "web", "example.com"),
    (
        "did:indy:sovrin:staging:6cgbu8ZPoWTnR5Rv5JcSMB",
        "indy",
        "sovrin:staging:6cgbu8ZPoWTnR5Rv5JcSMB",
    ),
    ("did:ex::abc", "ex", ":abc"),  # empty segments before the last are allowed
    ("did:ex:a.b-c_d", "ex", "a.b-c_d"),
    ("did:ex:%E2%82%AC", "ex", "%E2%82%AC"),
    ("did:ex:%e2%82%ac", "ex", "%e2%82%ac"),
    ("did:123:x", "123", "x"),
    ("did:a1b2:X", "a1b2", "X"),
]


@pytest.mark.parametrize(("text", "method", "msid"), VALID_DIDS)
def test_valid_did(text, method, msid):
    for parse in (parse_did, parse_did_url):
        parsed = parse(text)
        assert (parsed.did, parsed.method, parsed.method_specific_id) == (text, method, msid)
        assert parsed.is_did
        assert (parsed.path, parsed.query_string, parsed.query, parsed.fragment) == (
            "",
            None,
            (),
            None,
        )
        assert str(parsed) == text


INVALID_DIDS = {
    "empty": "",
    "no scheme": "example:123",
    "scheme uppercase": "DID:example:123",
    "method uppercase": "did:Example:123",
    "method all uppercase": "did:EXAMPLE:123",
    "method with hyphen": "did:ex-ample:123",
    "method empty": "did::123",
    "no method-specific id": "did:example",
    "empty id": "did:example:",
    "trailing colon": "did:example:123:",
    "only colons": "did:example:::",
    "space in id": "did:example:12 3",
    "leading space": " did:example:123",
    "trailing space": "did:example:123 ",
    "trailing newline": "did:example:123\n",
    "tab": "did:example:1\t23",
    "bad pct: one hex digit": "did:example:12%3",
    "bad pct: not hex": "did:example:%G1",
    "bad pct: lone percent": "did:example:abc%",
    "unicode letter": "did:example:café",
    "unicode digit": "did:example:١٢٣",
    "unicode method": "did:exämple:123",
    "fullwidth method": "did:ｅｘ:123",
    "tilde (not an idchar)": "did:example:a~b",
    "plus": "did:example:a+b",
    "at sign": "did:example:a@b",
    "nul": "did:example:a\x00b",
    "too long": "did:example:" + "a" * (MAX_LENGTH - len("did:example:") + 1),
}


@pytest.mark.parametrize("text", INVALID_DIDS.values(), ids=INVALID_DIDS.keys())
def test_invalid_did(text):
    with pytest.raises(InvalidDid) as raised:
        parse_did(text)
    assert raised.value.error == "invalidDid"
    assert raised.value.message
    with pytest.raises(InvalidDid) as raised:
        parse_did_url(text)
    # A bad DID is invalidDid even when handed to the DID URL parser (too long or empty
    # is a bad DID URL: nothing says which part is wrong).
    assert raised.value.error in ("invalidDid", "invalidDidUrl")


@pytest.mark.parametrize("value", [None, 123, b"did:example:123", ["did:example:1"]])
def test_not_a_string(value):
    with pytest.raises(InvalidDid, match="is a string"):
        parse_did(value)


def test_longest_accepted_length():
    text = "did:example:" + "a" * (MAX_LENGTH - len("did:example:"))
    assert parse_did(text).did == text


def test_a_did_url_is_not_a_did():
    with pytest.raises(InvalidDid) as raised:
        parse_did("did:example:123#key-1")
    assert raised.value.error == "invalidDid"


def test_messages_say_what_is_wrong():
    cases = {
        "did:Example:1": "lowercase",
        "did:example:1:": "ends with ':'",
        "did:example:": "empty method-specific id",
        "did:example:1%2": "percent-encoding",
        "did:example:a b": "' '",
        "did:ex": "no method-specific id",
        "urn:example:1": "does not start with 'did:'",
    }
    for text, words in cases.items():
        with pytest.raises(InvalidDid, match=None) as raised:
            parse_did(text)
        assert words in raised.value.message, (text, raised.value.message)


VALID_URLS = [
    # text, did, path, query_string, query, fragment
    (
        "did:example:123?versionId=1#key-1",
        "did:example:123",
        "",
        "versionId=1",
        (("versionId", "1"),),
        "key-1",
    ),
    ("did:example:123/path", "did:example:123", "/path", None, (), None),
    ("did:example:123/path/to/x;y=1", "did:example:123", "/path/to/x;y=1", None, (), None),
    ("did:example:123/", "did:example:123", "/", None, (), None),
    ("did:example:123#", "did:example:123", "", None, (), ""),
    ("did:example:123?", "did:example:123", "", "", (), None),
    ("did:example:123#public-key-0", "did:example:123", "", None, (), "public-key-0"),
    (
        "did:example:123?service=agent&relativeRef=/credentials%23degree",
        "did:example:123",
        "",
        "service=agent&relativeRef=/credentials%23degree",
        (("service", "agent"), ("relativeRef", "/credentials#degree")),
        None,
    ),
    (
        "did:example:123?versionTime=2021-05-10T17:00:00Z",
        "did:example:123",
        "",
        "versionTime=2021-05-10T17:00:00Z",
        (("versionTime", "2021-05-10T17:00:00Z"),),
        None,
    ),
    (
        "did:example:123?a=x+y&b=&c",
        "did:example:123",
        "",
        "a=x+y&b=&c",
        (("a", "x+y"), ("b", ""), ("c", "")),
        None,
    ),
    ("did:example:123?q=%E2%82%AC", "did:example:123", "", "q=%E2%82%AC", (("q", "€"),), None),
    ("did:example:123#frag/with?chars:@!$", "did:example:123", "", None, (), "frag/with?chars:@!$"),
    (
        "did:web:example.com%3A8443:user/doc?x=1#k",
        "did:web:example.com%3A8443:user",
        "/doc",
        "x=1",
        (("x", "1"),),
        "k",
    ),
    ("did:example:123/a?b#c", "did:example:123", "/a", "b", (("b", ""),), "c"),
]


@pytest.mark.parametrize(("text", "did", "path", "qs", "query", "fragment"), VALID_URLS)
def test_valid_did_url(text, did, path, qs, query, fragment):
    parsed = parse_did_url(text)
    assert parsed.did == did
    assert (parsed.path, parsed.query_string, parsed.query, parsed.fragment) == (
        path,
        qs,
        query,
        fragment,
    )
    assert not parsed.is_did
    assert str(parsed) == text


def test_param():
    parsed = parse_did_url("did:example:123?versionId=1&versionId=2&service=s")
    assert parsed.param("versionId") == "1"
    assert parsed.param("service") == "s"
    assert parsed.param("versionTime") is None


INVALID_URLS = {
    "space in path": "did:example:123/pa th",
    "space in fragment": "did:example:123#key 1",
    "second fragment": "did:example:123#a#b",
    "bad pct in path": "did:example:123/%zz",
    "bad pct in query": "did:example:123?a=%2",
    "bad pct in fragment": "did:example:123#%",
    "unicode in fragment": "did:example:123#clé",
    "bracket in query": "did:example:123?a=[1]",
    "quote in path": 'did:example:123/"x"',
    "backslash": "did:example:123/a\\b",
    "query not UTF-8": "did:example:123?a=%FF",
    "newline in fragment": "did:example:123#a\n",
}


@pytest.mark.parametrize("text", INVALID_URLS.values(), ids=INVALID_URLS.keys())
def test_invalid_did_url(text):
    with pytest.raises(InvalidDidUrl) as raised:
        parse_did_url(text)
    assert raised.value.error == "invalidDidUrl"


BAD_DID_IN_URL = {
    "uppercase method": "did:Example:123#key-1",
    "empty id": "did:example:/path",
    "trailing colon": "did:example:123:#key",
    "space in id": "did:example:1 2/path",
    "unicode in id": "did:example:ü?x=1",
}


@pytest.mark.parametrize("text", BAD_DID_IN_URL.values(), ids=BAD_DID_IN_URL.keys())
def test_bad_did_inside_a_did_url_is_invalid_did(text):
    with pytest.raises(InvalidDid) as raised:
        parse_did_url(text)
    assert raised.value.error == "invalidDid"


def test_parsed_value_is_frozen():
    parsed = parse_did_url("did:example:123#k")
    with pytest.raises(AttributeError):
        parsed.fragment = "other"  # type: ignore[misc]
    assert hash(parsed) == hash(parse_did_url("did:example:123#k"))


def test_pathological_input_is_fast():
    import time

    start = time.perf_counter()
    for text in (
        "did:a:" + "a:" * 1000 + " ",
        "did:a:" + "%a" * 1000,
        "did:a:b" + "/" * 2000 + " ",
    ):
        with pytest.raises(InvalidDid):
            parse_did_url(text)
    assert time.perf_counter() - start < 1.0
