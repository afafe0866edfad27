"""Pure-Python twin of the fast path's MessageView.

The constructor indexes the message in one pass: the position of every
header and of every Field sub-message, whose own parts (name, type,
representation, values) are located at the same time.  Values are only
converted when asked for.
"""

from __future__ import annotations

import struct
from typing import Any

from hekapy import _wire as w
from hekapy._errors import DecodeError

_DOUBLE = struct.Struct("<d")
_STR_HEADERS = {1: "uuid", 3: "type", 4: "logger", 6: "payload",
                7: "env_version", 9: "hostname"}
_WIRE_TYPES = {1: 2, 2: 0, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 0, 9: 2,
               10: 2}


class _FieldIndex:
    __slots__ = ("name", "value_type", "representation", "spans")

    def __init__(self) -> None:
        self.name = b""
        self.value_type = 0
        self.representation = b""
        # One list of value spans per value type: (start, end, packed)
        self.spans: list[list[tuple[int, int]]] = [[], [], [], [], []]


class MessageView:
    """Lazy, read-only index of one protobuf-encoded Heka message."""

    __slots__ = ("raw", "uuid", "timestamp", "type", "logger", "severity",
                 "payload", "env_version", "pid", "hostname", "_fields")

    def __init__(self, data: bytes) -> None:
        self.reset(data)

    def reset(self, data: bytes) -> None:
        """Index ``data`` in place of the current message."""
        data = bytes(data)
        self.raw = data
        self.uuid = self.type = self.logger = None
        self.payload = self.env_version = self.hostname = None
        self.timestamp = self.severity = self.pid = None
        fields: list[_FieldIndex] = []
        pos = 0
        end = len(data)
        while pos < end:
            tag_pos = pos
            key, pos = w.read_varint(data, pos)
            num, wt = key >> 3, key & 7
            expected = _WIRE_TYPES.get(num)
            if expected is None:
                if num == 0:
                    raise DecodeError("invalid field number 0", tag_pos)
                pos = w.skip_value(data, pos, wt, tag_pos)
                continue
            if wt != expected:
                raise DecodeError(f"wrong wire type {wt} for field {num}",
                                  tag_pos)
            if wt == w.WT_VARINT:
                v, pos = w.read_varint(data, pos)
                if num == 2:
                    self.timestamp = w.to_int64(v)
                elif num == 5:
                    self.severity = w.to_int32(v)
                else:
                    self.pid = w.to_int32(v)
                continue
            vend, pos = w.read_length(data, pos)
            if num == 10:
                fields.append(_index_field(data, pos, vend))
            else:
                setattr(self, _STR_HEADERS[num], data[pos:vend])
            pos = vend
        self._fields = fields

    def field_count(self) -> int:
        return len(self._fields)

    def field_name(self, i: int) -> bytes:
        return self._fields[i].name

    def field_type(self, i: int) -> int:
        return self._fields[i].value_type

    def field_representation(self, i: int) -> bytes:
        return self._fields[i].representation

    def field_len(self, i: int) -> int:
        f = self._fields[i]
        vt = f.value_type
        if vt <= 1:
            return len(f.spans[vt])
        total = 0
        for start, end in f.spans[vt]:
            if vt == 3:
                total += (end - start) // 8
            else:
                total += _count_varints(self.raw, start, end)
        return total

    def field_value(self, i: int, ai: int = 0) -> Any:
        if ai < 0:
            return None
        f = self._fields[i]
        vt = f.value_type
        spans = f.spans[vt]
        data = self.raw
        if vt <= 1:
            if ai >= len(spans):
                return None
            start, end = spans[ai]
            return data[start:end]
        for start, end in spans:
            if vt == 3:
                n = (end - start) // 8
                if ai < n:
                    return _DOUBLE.unpack_from(data, start + 8 * ai)[0]
                ai -= n
                continue
            pos = start
            while pos < end:
                v, pos = w.read_varint(data, pos)
                if ai == 0:
                    return w.to_int64(v) if vt == 2 else v != 0
                ai -= 1
        return None

    def find_field(self, name: bytes, fi: int = 0) -> int:
        if fi < 0:
            return -1
        for i, f in enumerate(self._fields):
            if f.name == name:
                if fi == 0:
                    return i
                fi -= 1
        return -1

    def read_field(self, name: bytes, fi: int = 0, ai: int = 0) -> Any:
        i = self.find_field(name, fi)
        return None if i < 0 else self.field_value(i, ai)


def _count_varints(data: bytes, start: int, end: int) -> int:
    return sum(1 for b in data[start:end] if b < 0x80)


def _index_field(data: bytes, start: int, end: int) -> _FieldIndex:
    f = _FieldIndex()
    pos = start
    while pos < end:
        tag_pos = pos
        key, pos = w.read_varint(data, pos)
        if pos > end:
            raise DecodeError("truncated tag in field", tag_pos)
        num, wt = key >> 3, key & 7
        if num == 2 and wt == w.WT_VARINT:
            f.value_type, pos = w.read_varint(data, pos)
        elif num in (1, 3, 4, 5) and wt == w.WT_BYTES:
            vend, pos = _length(data, pos, end)
            if num == 1:
                f.name = data[pos:vend]
            elif num == 3:
                f.representation = data[pos:vend]
            else:
                f.spans[num - 4].append((pos, vend))
            pos = vend
        elif num in (6, 7, 8):
            pos = _index_numbers(data, pos, end, num, wt, tag_pos, f)
        elif num == 0 or num <= 5:
            raise DecodeError(f"bad tag {num} wire type {wt} in field",
                              tag_pos)
        else:
            pos = w.skip_value(data, pos, wt, tag_pos)
        if pos > end:
            raise DecodeError("field value runs past its end", tag_pos)
    if f.value_type > 4:
        raise DecodeError(f"unknown value_type {f.value_type}", start)
    return f


def _length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    n, pos = w.read_varint(data, pos)
    if pos + n > end:
        raise DecodeError(f"length {n} runs past the end", start)
    return pos + n, pos


def _index_numbers(data: bytes, pos: int, end: int, num: int, wt: int,
                   tag_pos: int, f: _FieldIndex) -> int:
    spans = f.spans[num - 4]
    if wt == w.WT_BYTES:
        vend, pos = _length(data, pos, end)
        if num == 7:
            if (vend - pos) % 8:
                raise DecodeError(
                    "packed doubles not a multiple of 8 bytes", tag_pos)
        elif vend > pos and data[vend - 1] >= 0x80:
            raise DecodeError("packed varints end inside a value", tag_pos)
        spans.append((pos, vend))
        return vend
    if num == 7 and wt == w.WT_FIXED64:
        if pos + 8 > end:
            raise DecodeError("truncated double", pos)
        spans.append((pos, pos + 8))
        return pos + 8
    if num != 7 and wt == w.WT_VARINT:
        vend = w.read_varint(data, pos)[1]
        spans.append((pos, vend))
        return vend
    raise DecodeError(f"bad wire type {wt} for field value", tag_pos)
