"""Framing of ABCI messages: uvarint length prefixes as CometBFT v0.38 writes them."""

import asyncio

import pytest

from ledger.abci.wire import FramingError, decode_uvarint, encode_uvarint, frame, read_frame


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**32, 2**63 - 1])
def test_uvarint_round_trip(value):
    encoded = encode_uvarint(value)
    assert decode_uvarint(encoded) == (value, len(encoded))


def test_uvarint_known_bytes():
    # Go's binary.PutUvarint(300) == []byte{0xac, 0x02}
    assert encode_uvarint(300) == b"\xac\x02"
    assert encode_uvarint(1) == b"\x01"


def test_negative_length_is_refused():
    with pytest.raises(FramingError):
        encode_uvarint(-1)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_read_frames_then_clean_eof():
    async def scenario():
        reader = _reader(frame(b"hello") + frame(b"") + frame(b"x" * 200))
        return [await read_frame(reader) for _ in range(4)]

    assert asyncio.run(scenario()) == [b"hello", b"", b"x" * 200, None]


@pytest.mark.parametrize("data", [b"\x85", b"\x05abc"])
def test_truncated_input_is_a_framing_error(data):
    async def scenario():
        return await read_frame(_reader(data))

    with pytest.raises(FramingError):
        asyncio.run(scenario())


def test_oversized_message_is_refused_before_reading_it():
    async def scenario():
        return await read_frame(_reader(encode_uvarint(2**40)))

    with pytest.raises(FramingError, match="exceeds"):
        asyncio.run(scenario())
