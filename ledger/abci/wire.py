"""Framing of ABCI socket messages: an unsigned varint length, then the protobuf bytes.

CometBFT v0.38 writes messages with ``protoio.NewDelimitedWriter`` (``binary.PutUvarint``).
"""

from __future__ import annotations

import asyncio

MAX_MESSAGE_BYTES = 104_857_600  # CometBFT's own cap on one ABCI message (100 MiB)


class FramingError(ValueError):
    pass


def encode_uvarint(value: int) -> bytes:
    if value < 0:
        raise FramingError("uvarint cannot encode a negative number")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


def decode_uvarint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Return (value, next position); raise IndexError when ``buf`` ends mid-varint."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FramingError("varint longer than 64 bits")


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """Read one framed message; ``None`` on a clean end of stream between messages."""
    length = shift = 0
    first = True
    while True:
        try:
            byte = (await reader.readexactly(1))[0]
        except asyncio.IncompleteReadError:
            if first:
                return None
            raise FramingError("connection closed inside a length prefix") from None
        first = False
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise FramingError("varint longer than 64 bits")
    if length > MAX_MESSAGE_BYTES:
        raise FramingError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FramingError("connection closed inside a message") from None
