"""Protobuf wire primitives shared by the pure-Python code.

Only what Heka's two schemas need: varints, tags, length-delimited
values and fixed 64-bit doubles.  Readers take ``(data, pos)`` and return
``(value, new_pos)``; they raise :class:`hekapy.DecodeError` naming the
offset where the value started.
"""

from __future__ import annotations

import struct

from hekapy._errors import DecodeError

WT_VARINT = 0
WT_FIXED64 = 1
WT_BYTES = 2
WT_FIXED32 = 5

_DOUBLE = struct.Struct("<d")
MASK64 = (1 << 64) - 1


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 10 bytes."""
    start = pos
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("truncated varint", start)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & MASK64, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes", start)


def to_int64(u: int) -> int:
    """Reinterpret an unsigned 64-bit value as two's complement."""
    return u - (1 << 64) if u >= 1 << 63 else u


def to_int32(u: int) -> int:
    """Keep the low 32 bits as a signed value, as Go's int32 decode does."""
    u &= 0xFFFFFFFF
    return u - (1 << 32) if u >= 1 << 31 else u


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """Read a length prefix and return ``(end, start_of_value)``."""
    start = pos
    n, pos = read_varint(data, pos)
    end = pos + n
    if end > len(data):
        raise DecodeError(f"length {n} runs past the end", start)
    return end, pos


def skip_value(data: bytes, pos: int, wire_type: int, tag_pos: int) -> int:
    """Skip one value of ``wire_type`` and return the position after."""
    if wire_type == WT_VARINT:
        return read_varint(data, pos)[1]
    if wire_type == WT_FIXED64:
        if pos + 8 > len(data):
            raise DecodeError("truncated fixed64", pos)
        return pos + 8
    if wire_type == WT_BYTES:
        return read_length(data, pos)[0]
    if wire_type == WT_FIXED32:
        if pos + 4 > len(data):
            raise DecodeError("truncated fixed32", pos)
        return pos + 4
    raise DecodeError(f"unsupported wire type {wire_type}", tag_pos)


def read_double(data: bytes, pos: int) -> tuple[float, int]:
    if pos + 8 > len(data):
        raise DecodeError("truncated double", pos)
    return _DOUBLE.unpack_from(data, pos)[0], pos + 8


_ONE_BYTE = [bytes((i,)) for i in range(128)]


def varint(value: int) -> bytes:
    """Encode ``value`` (taken modulo 2**64) as a varint."""
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    value &= MASK64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def int32_varint(value: int) -> bytes:
    """Encode an int32 the way Go Heka does: negatives take 5 bytes."""
    return varint(value & 0xFFFFFFFF)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    n = len(payload)
    if number < 16 and n < 128:
        return bytes(((number << 3) | WT_BYTES, n)) + payload
    return varint((number << 3) | WT_BYTES) + varint(n) + payload


def double(value: float) -> bytes:
    return _DOUBLE.pack(value)
