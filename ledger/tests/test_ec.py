"""ledger/ec.py: the secp256k1 group, its encodings (what decodes and what does not), the
identity and negation, transcripts byte for byte, and discrete logs of small counts."""

from __future__ import annotations

import hashlib

import pytest

from ledger import ec

# Known multiples of G (SEC 2 / any secp256k1 table).
G1 = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
G2 = "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
G3 = "02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
G_UNCOMPRESSED = ("0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
                  "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8")


def test_generator_and_small_multiples_match_the_standard_values() -> None:
    assert ec.GENERATOR.hex() == G1
    assert ec.base_mul(2).hex() == G2
    assert ec.add(ec.GENERATOR, ec.GENERATOR).hex() == G2
    assert ec.add(ec.GENERATOR, ec.from_hex(G2)).hex() == G3
    assert ec.small_multiple(3).hex() == G3
    assert ec.lincomb([(1, ec.GENERATOR), (2, ec.GENERATOR)]).hex() == G3


def test_identity_is_00_and_behaves_as_zero() -> None:
    p = ec.base_mul(12345)
    assert ec.from_hex("00") is ec.IDENTITY and ec.IDENTITY.is_identity
    assert ec.IDENTITY.hex() == "00"
    assert ec.add() == ec.IDENTITY
    assert ec.add(ec.IDENTITY, ec.IDENTITY) == ec.IDENTITY
    assert ec.add(ec.IDENTITY, p) == p == ec.add(p, ec.IDENTITY)
    assert ec.add(p, ec.neg(p)) == ec.IDENTITY  # libsecp256k1 refuses this sum itself
    assert ec.add(p, p, ec.neg(p), ec.neg(p)) == ec.IDENTITY
    assert ec.mul(0, p) == ec.IDENTITY
    assert ec.mul(ec.ORDER, p) == ec.IDENTITY
    assert ec.mul(5, ec.IDENTITY) == ec.IDENTITY
    assert ec.base_mul(0) == ec.IDENTITY
    assert ec.neg(ec.IDENTITY) == ec.IDENTITY
    assert ec.sub(p, p) == ec.IDENTITY
    assert ec.small_multiple(0) == ec.IDENTITY
    assert ec.lincomb([]) == ec.IDENTITY
    assert ec.lincomb([(3, p), (ec.ORDER - 3, p)]) == ec.IDENTITY


def test_negation_flips_y_and_matches_scalar_arithmetic() -> None:
    p = ec.base_mul(987654321)
    minus = ec.neg(p)
    assert minus != p
    assert minus.hex()[2:] == p.hex()[2:] and minus.hex()[:2] != p.hex()[:2]
    assert ec.neg(minus) == p
    assert ec.mul(ec.ORDER - 1, p) == minus
    assert ec.mul(-1, p) == minus  # scalars are reduced modulo ORDER
    assert ec.base_mul(ec.ORDER - 1) == ec.neg(ec.GENERATOR)
    assert ec.small_multiple(-7) == ec.neg(ec.small_multiple(7))
    assert ec.sub(ec.small_multiple(10), ec.small_multiple(3)) == ec.small_multiple(7)
    assert ec.sub(ec.small_multiple(3), ec.small_multiple(10)) == ec.small_multiple(-7)


def test_operations_agree_with_each_other() -> None:
    a, b = 0x1234567890ABCDEF, 0xFEDCBA0987654321
    pa = ec.base_mul(a)
    assert ec.mul(b, pa) == ec.base_mul(a * b % ec.ORDER)
    assert ec.add(ec.base_mul(a), ec.base_mul(b)) == ec.base_mul(a + b)
    assert ec.lincomb([(a, ec.GENERATOR), (b, pa)]) == ec.base_mul(a + a * b)
    # round trip through every encoding
    assert ec.from_hex(pa.hex()) == pa == ec.decode(pa.to_bytes())
    assert hash(ec.from_hex(pa.hex())) == hash(pa)


@pytest.mark.parametrize("text,reason", [
    ("", "66 hex digits"),
    ("0", "66 hex digits"),
    ("02" + "00" * 31, "66 hex digits"),  # 32 bytes
    (G_UNCOMPRESSED, "66 hex digits"),  # uncompressed form
    ("04" + G_UNCOMPRESSED[2:66], "starting with 02 or 03"),
    ("01" + G2[2:], "starting with 02 or 03"),
    ("05" + G2[2:], "starting with 02 or 03"),
    ("01", "starting with 02 or 03"),  # a one-byte encoding other than 00
    (G2.upper(), "lower-case"),
    ("02C6" + G2[4:], "lower-case"),
    ("zz", "hex"),
    ("02" + "g" * 64, "hex"),
    ("02 " + G2[3:], "hex|02 or 03"),  # whitespace: never 33 bytes in 66 characters
    ("02" + f"{ec.FIELD:064x}", "below the field prime"),  # x = p
    ("03" + f"{ec.FIELD + 1:064x}", "below the field prime"),  # x = 1 + p
    ("02" + "ff" * 32, "below the field prime"),
    ("02" + f"{5:064x}", "not a point"),  # x^3 + 7 = 132 has no square root mod p
])
def test_invalid_point_encodings_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ec.GroupError, match=reason):
        ec.from_hex(text)


def test_x_1_is_a_point_so_x_p_plus_1_is_refused_only_for_its_encoding() -> None:
    """The x >= p check is what refuses p + 1: x = 1 itself decodes (1 + 7 = 8 is a square
    mod p), so p + 1 would otherwise be a second encoding of the same point."""
    for prefix in ("02", "03"):
        point = ec.from_hex(prefix + f"{1:064x}")
        assert point.hex() == prefix + f"{1:064x}"


def test_decode_refuses_non_bytes_and_uncompressed_bytes() -> None:
    with pytest.raises(ec.GroupError):
        ec.decode(G2)  # type: ignore[arg-type]
    with pytest.raises(ec.GroupError):
        ec.decode(bytes.fromhex(G_UNCOMPRESSED))
    with pytest.raises(ec.GroupError):
        ec.from_hex(b"00")  # type: ignore[arg-type]
    assert ec.decode(b"\x00") is ec.IDENTITY


def test_operations_refuse_wrong_types() -> None:
    p = ec.GENERATOR
    for bad in (lambda: ec.add(p, G2), lambda: ec.neg(G2), lambda: ec.mul(True, p),
                lambda: ec.mul("1", p), lambda: ec.mul(1, G2), lambda: ec.small_multiple(True),
                lambda: ec.small_multiple(1.0)):
        with pytest.raises(ec.GroupError):
            bad()


@pytest.mark.parametrize("text", [
    f"{ec.ORDER:064x}", f"{ec.ORDER + 1:064x}", "f" * 64,  # not below the order
    "A" * 64, "0" * 63, "0" * 65, "g" * 64, "+" + "0" * 63, "0x" + "0" * 62,
    "_" * 64, " " * 64, 5, None,
])
def test_invalid_scalars_are_refused(text) -> None:
    with pytest.raises(ec.GroupError):
        ec.scalar_from_hex(text)


def test_scalar_hex_round_trip() -> None:
    assert ec.scalar_from_hex("0" * 64) == 0
    assert ec.scalar_from_hex(f"{ec.ORDER - 1:064x}") == ec.ORDER - 1
    assert ec.scalar_hex(ec.ORDER - 1) == f"{ec.ORDER - 1:064x}"
    assert ec.scalar_hex(-1) == f"{ec.ORDER - 1:064x}"
    assert ec.scalar_from_hex(ec.scalar_hex(12345)) == 12345


def test_transcript_bytes_follow_the_spec() -> None:
    p = ec.base_mul(99)
    expected = hashlib.sha256(
        b"baas-vote/v1/test\x00"
        + (3).to_bytes(4, "big") + b"abc"
        + (66).to_bytes(4, "big") + p.hex().encode("ascii")
        + (2).to_bytes(4, "big") + b"00"
        + (32).to_bytes(4, "big") + (5).to_bytes(32, "big")
        + (0).to_bytes(4, "big")
        + (2).to_bytes(4, "big") + "é".encode()
    ).digest()
    got = ec.transcript("baas-vote/v1/test", "abc", p, ec.IDENTITY, 5, "", "é")
    assert got == expected
    # a point and its hex text are the same part
    assert ec.transcript("d", p) == ec.transcript("d", p.hex())
    assert ec.challenge("d", p) == int.from_bytes(expected_of("d", p.hex()), "big") % ec.ORDER
    # the length prefix separates parts: ("ab", "c") is not ("a", "bc")
    assert ec.transcript("d", "ab", "c") != ec.transcript("d", "a", "bc")
    assert ec.transcript("d1", "x") != ec.transcript("d2", "x")


def expected_of(domain: str, text: str) -> bytes:
    raw = text.encode()
    return hashlib.sha256(domain.encode() + b"\x00" + len(raw).to_bytes(4, "big")
                          + raw).digest()


@pytest.mark.parametrize("parts", [[1 << 256], [-1], [True], [1.5], [None], [[1]]])
def test_transcript_refuses_parts_out_of_range_or_of_other_types(parts) -> None:
    with pytest.raises(ec.GroupError):
        ec.transcript("d", *parts)


def test_transcript_refuses_a_domain_with_nul_or_not_text() -> None:
    with pytest.raises(ec.GroupError):
        ec.transcript("a\x00b")
    with pytest.raises(ec.GroupError):
        ec.transcript(b"d")  # type: ignore[arg-type]
