"""Pure-Python twin of the fast path's MessageView.

The constructor finds every header and every Field sub-message; the
first look at any field indexes the parts (name, type, representation,
values) of all of them.  Values are only converted when asked for.
Every check mirrors hekapy/_fp_view.pxi, so both twins raise the same
DecodeError for the same bytes.
"""

from __future__ import annotations

import operator
import struct
from typing import Any

from hekapy._errors import DecodeError

_DOUBLE = struct.Struct("<d")
_STR_HEADERS = {1: "uuid", 3: "type", 4: "logger", 6: "payload",
                7: "env_version", 9: "hostname"}
_MSG_WIRE = (-1, 2, 0, 2, 2, 0, 2, 2, 0, 2, 2)
_MASK64 = (1 << 64) - 1


class _Fail(Exception):
    def __init__(self, what: str, pos: int) -> None:
        self.what = what
        self.pos = pos


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    result = shift = 0
    while True:
        if pos >= end:
            raise _Fail("truncated varint", start)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _Fail("varint longer than 10 bytes", start)


def _length(data: bytes, pos: int, end: int, tag_pos: int
            ) -> tuple[int, int]:
    try:
        n, pos = _varint(data, pos, end)
    except _Fail:
        raise _Fail("length runs past the end", tag_pos) from None
    if n > end - pos:
        raise _Fail("length runs past the end", tag_pos)
    return pos + n, pos


def _skip(data: bytes, pos: int, end: int, wt: int, tag_pos: int) -> int:
    what = f"truncated value of wire type {wt}"
    if wt == 0:
        try:
            return _varint(data, pos, end)[1]
        except _Fail:
            raise _Fail(what, tag_pos) from None
    if wt in (1, 5):
        n = 8 if wt == 1 else 4
        if pos + n > end:
            raise _Fail(what, tag_pos)
        return pos + n
    if wt == 2:
        try:
            return _length(data, pos, end, tag_pos)[0]
        except _Fail:
            raise _Fail(what, tag_pos) from None
    raise _Fail(f"unsupported wire type {wt}", tag_pos)


class _FieldIndex:
    __slots__ = ("name", "value_type", "representation", "spans")

    def __init__(self) -> None:
        self.name = b""
        self.value_type = 0
        self.representation = b""
        # Per value type, the (start, end) of each value or packed run.
        self.spans: list[list[tuple[int, int]]] = [[], [], [], [], []]


class MessageView:
    """Lazy, read-only index of one protobuf-encoded Heka message."""

    __slots__ = ("raw", "uuid", "timestamp", "type", "logger", "severity",
                 "payload", "env_version", "pid", "hostname", "_spans",
                 "_indexed", "_broken", "_cache")

    def __init__(self, data: bytes) -> None:
        self.reset(data)

    def reset(self, data: bytes) -> None:
        """Index ``data`` in place of the current message."""
        data = bytes(data)
        self.raw = data
        try:
            self._index(data)
        except _Fail as fail:
            raise DecodeError(fail.what, fail.pos) from None

    def _index(self, data: bytes) -> None:
        self.uuid = self.type = self.logger = None
        self.payload = self.env_version = self.hostname = None
        self.timestamp = self.severity = self.pid = None
        spans: list[tuple[int, int]] = []
        self._spans = spans
        self._indexed: list[_FieldIndex] | None = None
        self._broken: _Fail | None = None
        self._cache: dict[int, list[Any]] = {}
        pos = 0
        end = len(data)
        while pos < end:
            tag_pos = pos
            key, pos = _varint(data, pos, end)
            num, wt = key >> 3, key & 7
            if num == 0:
                raise _Fail("invalid field number 0", tag_pos)
            if num > 10:
                pos = _skip(data, pos, end, wt, tag_pos)
                continue
            if wt != _MSG_WIRE[num]:
                raise _Fail(f"wrong wire type {wt} for field {num}",
                            tag_pos)
            if wt == 0:
                try:
                    v, pos = _varint(data, pos, end)
                except _Fail as fail:
                    raise _Fail(fail.what, tag_pos) from None
                if num == 2:
                    self.timestamp = v - (1 << 64) if v >> 63 else v
                elif num == 5:
                    self.severity = _int32(v)
                else:
                    self.pid = _int32(v)
                continue
            vend, pos = _length(data, pos, end, tag_pos)
            if num == 10:
                spans.append((pos, vend))
            else:
                setattr(self, _STR_HEADERS[num], data[pos:vend])
            pos = vend

    @property
    def _fields(self) -> list[_FieldIndex]:
        if self._indexed is None:
            if self._broken is None:
                try:
                    self._indexed = [_index_field(self.raw, s, e)
                                     for s, e in self._spans]
                    return self._indexed
                except _Fail as fail:
                    self._broken = fail
            raise DecodeError(self._broken.what, self._broken.pos)
        return self._indexed

    def clone(self, data: bytes) -> MessageView:
        """A view of ``data``, which must hold exactly this view's bytes,
        sharing the work of indexing them."""
        if len(data) != len(self.raw):
            raise ValueError(f"clone needs {len(self.raw)} bytes, got "
                             f"{len(data)}")
        v = MessageView.__new__(MessageView)
        for name in self.__slots__:
            setattr(v, name, getattr(self, name))
        v.raw = bytes(data)
        v._cache = {}
        return v

    def field_count(self) -> int:
        return len(self._fields)

    def _field(self, i: int) -> _FieldIndex:
        fields = self._fields
        if not 0 <= i < len(fields):
            raise IndexError(f"field index {i} out of range")
        return fields[i]

    def field_name(self, i: int) -> bytes:
        return self._field(i).name

    def field_type(self, i: int) -> int:
        return self._field(i).value_type

    def field_representation(self, i: int) -> bytes:
        return self._field(i).representation

    def field_len(self, i: int) -> int:
        return len(self._values_of(i))

    def field_value(self, i: int, ai: int = 0) -> Any:
        values = self._values_of(i)
        ai = operator.index(ai)
        return values[ai] if 0 <= ai < len(values) else None

    def _values_of(self, i: int) -> list[Any]:
        # Converted once per field, so reading them in turn stays linear.
        i = operator.index(i)
        values = self._cache.get(i)
        if values is None:
            values = self._cache[i] = self._values(self._field(i))
        return values

    def _values(self, f: _FieldIndex) -> list[Any]:
        vt = f.value_type
        data = self.raw
        if vt <= 1:
            return [data[s:e] for s, e in f.spans[vt]]
        out: list[Any] = []
        for start, end in f.spans[vt]:
            if vt == 3:
                out.extend(_DOUBLE.unpack_from(data, p)[0]
                           for p in range(start, end, 8))
                continue
            pos = start
            while pos < end:
                v, pos = _varint(data, pos, end)
                out.append((v - (1 << 64) if v >> 63 else v) if vt == 2
                           else v != 0)
        return out

    def find_field(self, name: bytes | str, fi: int = 0) -> int:
        """Index of the fi-th field called ``name``, or -1."""
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        fi = operator.index(fi)
        if fi < 0:
            return -1
        for i, f in enumerate(self._fields):
            if f.name == name:
                if fi == 0:
                    return i
                fi -= 1
        return -1

    def read_field(self, name: bytes | str, fi: int = 0, ai: int = 0
                   ) -> Any:
        """Value ai of the fi-th field called ``name``, or None."""
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        i = self.find_field(bytes(name), fi)
        return None if i < 0 else self.field_value(i, ai)


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _index_field(data: bytes, start: int, end: int) -> _FieldIndex:
    f = _FieldIndex()
    pos = start
    while pos < end:
        tag_pos = pos
        key, pos = _varint(data, pos, end)
        num, wt = key >> 3, key & 7
        if num == 2 and wt == 0:
            try:
                v, pos = _varint(data, pos, end)
            except _Fail as fail:
                raise _Fail(fail.what, tag_pos) from None
            if v > 4:
                raise _Fail(f"unknown value_type {v}", tag_pos)
            f.value_type = v
        elif num in (1, 3, 4, 5) and wt == 2:
            vend, pos = _length(data, pos, end, tag_pos)
            if num == 1:
                f.name = data[pos:vend]
            elif num == 3:
                f.representation = data[pos:vend]
            else:
                f.spans[num - 4].append((pos, vend))
            pos = vend
        elif 6 <= num <= 8:
            pos = _index_numbers(data, pos, end, num, wt, tag_pos, f)
        elif num <= 5:
            raise _Fail(f"bad tag {num} wire type {wt} in field", tag_pos)
        else:
            pos = _skip(data, pos, end, wt, tag_pos)
    return f


def _index_numbers(data: bytes, pos: int, end: int, num: int, wt: int,
                   tag_pos: int, f: _FieldIndex) -> int:
    spans = f.spans[num - 4]
    if wt == 2:
        vend, pos = _length(data, pos, end, tag_pos)
        if num == 7:
            if (vend - pos) % 8:
                raise _Fail("packed doubles not a multiple of 8 bytes",
                            tag_pos)
        else:
            p = pos
            while p < vend:
                try:
                    p = _varint(data, p, vend)[1]
                except _Fail:
                    raise _Fail("packed varints end inside a value",
                                tag_pos) from None
        if vend > pos:
            spans.append((pos, vend))
        return vend
    if num == 7 and wt == 1:
        if pos + 8 > end:
            raise _Fail("truncated double", tag_pos)
        spans.append((pos, pos + 8))
        return pos + 8
    if num != 7 and wt == 0:
        try:
            vend = _varint(data, pos, end)[1]
        except _Fail as fail:
            raise _Fail(fail.what, tag_pos) from None
        spans.append((pos, vend))
        return vend
    raise _Fail(f"bad wire type {wt} for field value", tag_pos)
