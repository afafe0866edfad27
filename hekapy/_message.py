"""The Heka message model: :class:`Message` and :class:`Field`.

Encoding follows Go Heka byte for byte: fields in number order, numeric
arrays always packed, Severity and Pid as 32-bit varints (a negative
value takes five bytes), and ``value_type`` plus ``representation``
written for every field.  Decoding is as lenient as Heka's on the top
level (missing required fields, packed or unpacked numerics, unknown
fields kept and written back) but refuses a Field sub-message that does
not parse.  A decoded message that nobody changed encodes to its
original bytes.

Text values are ``str``; bytes that are not UTF-8 survive the round trip
through the ``surrogateescape`` error handler.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Iterable, Sequence
from typing import Any

from hekapy import _wire as w
from hekapy._errors import DecodeError

STRING, BYTES, INTEGER, DOUBLE, BOOL = range(5)
VALUE_TYPE_NAMES = ("STRING", "BYTES", "INTEGER", "DOUBLE", "BOOL")

Value = str | bytes | int | float | bool

_HEADERS = (
    "uuid", "timestamp", "type", "logger", "severity", "payload",
    "env_version", "pid", "hostname",
)
_TEXT_HEADERS = {3: "type", 4: "logger", 6: "payload", 7: "env_version",
                 9: "hostname"}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _header_utf8(name: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return _utf8(text)


def _value_type_of(value: Value) -> int:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BYTES
    raise TypeError(f"unsupported field value {value!r}")


def _coerce_type(value_type: int | str | None) -> int | None:
    if value_type is None or isinstance(value_type, int):
        if isinstance(value_type, int) and not 0 <= value_type <= 4:
            raise ValueError(f"value_type must be 0-4, got {value_type!r}")
        return value_type
    name = value_type.upper()
    if name not in VALUE_TYPE_NAMES:
        raise ValueError(f"unknown value_type {value_type!r}")
    return VALUE_TYPE_NAMES.index(name)


INT64 = (-(1 << 63), (1 << 63) - 1)
INT32 = (-(1 << 31), (1 << 31) - 1)


def _convert(name: str, vt: int, v: Any) -> Any:
    """``v`` as a value of type ``vt``; refuses what would change it."""
    if vt == STRING:
        if isinstance(v, str):
            return v
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v).decode("utf-8", "surrogateescape")
    elif vt == BYTES:
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        if isinstance(v, str):
            return _utf8(v)
    elif vt == INTEGER:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int):
            return _in_range(f"field {name!r}", int(v), INT64)
    elif vt == DOUBLE:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif isinstance(v, bool) or v in (0, 1):
        return bool(v)
    raise TypeError(f"field {name!r} cannot hold {v!r} as "
                    f"{VALUE_TYPE_NAMES[vt]}")


def _in_range(what: str, v: int, bounds: tuple[int, int]) -> int:
    if not bounds[0] <= v <= bounds[1]:
        bits = 64 if bounds is INT64 else 32
        raise ValueError(f"{what} {v!r} does not fit a signed {bits}-bit "
                         "integer")
    return v


def _infer(name: str, values: list[Any]) -> int:
    types = {_value_type_of(v) for v in values}
    if types == {INTEGER, DOUBLE}:
        return DOUBLE
    if len(types) > 1:
        names = sorted(VALUE_TYPE_NAMES[t] for t in types)
        raise TypeError(f"field {name!r} mixes value types {names}")
    return types.pop() if types else STRING


class Field:
    """One named field holding an array of values of one type.

    Parameters
    ----------
    name:
        The field name.
    value:
        One value or a list of values.  The type follows the Python type
        (str STRING, bytes BYTES, int INTEGER, float DOUBLE, bool BOOL)
        unless ``value_type`` is given.
    value_type:
        An int 0-4 or the type's name (``"INTEGER"``).
    representation:
        Free-form metadata such as a unit (``"ms"``).
    """

    __slots__ = (
        "_unknown",
        "name",
        "representation",
        "value_type",
        "values",
    )

    def __init__(self, name: str, value: Value | Sequence[Value] = (),
                 value_type: int | str | None = None,
                 representation: str = "") -> None:
        if isinstance(value, (list, tuple)):
            values = list(value)
        else:
            values = [value]
        vt = _coerce_type(value_type)
        if vt is None:
            vt = _infer(name, values)
        self.name = name
        self.value_type: int = vt
        self.representation = representation
        self.values: list[Any] = [_convert(name, vt, v) for v in values]
        self._unknown = b""

    @property
    def value(self) -> Any:
        """The single value, or the list when there are several."""
        if len(self.values) == 1:
            return self.values[0]
        return list(self.values)

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.value_type, self.representation,
                tuple(self.values), self._unknown)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        rep = f", representation={self.representation!r}" \
            if self.representation else ""
        return (f"Field({self.name!r}, {self.value!r}, "
                f"value_type={VALUE_TYPE_NAMES[self.value_type]!r}{rep})")

    def encode(self) -> bytes:
        """Encode as the body of a Field sub-message, as Go Heka does."""
        out = [w.length_delimited(1, _utf8(self.name)),
               b"\x10" + w.varint(self.value_type),
               w.length_delimited(3, _utf8(self.representation))]
        vt = self.value_type
        if vt == INTEGER:
            for v in self.values:
                _in_range(f"field {self.name!r}", v, INT64)
        if vt == STRING:
            out.extend(w.length_delimited(4, _utf8(v)) for v in self.values)
        elif vt == BYTES:
            out.extend(w.length_delimited(5, bytes(v)) for v in self.values)
        elif self.values:
            if vt == INTEGER:
                body = b"".join(w.varint(v) for v in self.values)
            elif vt == DOUBLE:
                body = b"".join(w.double(v) for v in self.values)
            else:
                body = bytes(1 if v else 0 for v in self.values)
            out.append(w.length_delimited(5 + vt - 1, body))
        out.append(self._unknown)
        return b"".join(out)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int) -> Field:
        f = cls.__new__(cls)
        f.name = ""
        f.value_type = STRING
        f.representation = ""
        f._unknown = b""
        lists: list[list[Any]] = [[], [], [], [], []]
        unknown = []
        pos = start
        while pos < end:
            tag_pos = pos
            key, pos = w.read_varint(data, pos)
            num, wt = key >> 3, key & 7
            if num == 1 and wt == w.WT_BYTES:
                vend, pos = _bounded_length(data, pos, end)
                f.name = _text(data[pos:vend])
                pos = vend
            elif num == 2 and wt == w.WT_VARINT:
                v, pos = w.read_varint(data, pos)
                f.value_type = v
            elif num == 3 and wt == w.WT_BYTES:
                vend, pos = _bounded_length(data, pos, end)
                f.representation = _text(data[pos:vend])
                pos = vend
            elif num in (4, 5) and wt == w.WT_BYTES:
                vend, pos = _bounded_length(data, pos, end)
                chunk = data[pos:vend]
                lists[num - 4].append(_text(chunk) if num == 4 else chunk)
                pos = vend
            elif num in (6, 7, 8):
                pos = _decode_numbers(data, pos, end, num, wt, tag_pos,
                                      lists[num - 4])
            elif num == 0 or num in (1, 2, 3, 4, 5):
                raise DecodeError(
                    f"bad tag {num} wire type {wt} in field", tag_pos)
            else:
                pos = w.skip_value(data, pos, wt, tag_pos)
                if pos > end:
                    raise DecodeError("field value runs past its end",
                                      tag_pos)
                unknown.append(data[tag_pos:pos])
        if f.value_type > 4:
            raise DecodeError(f"unknown value_type {f.value_type}", start)
        f.values = lists[f.value_type]
        f._unknown = b"".join(unknown)
        return f


def _bounded_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    n, pos = w.read_varint(data, pos)
    if pos + n > end:
        raise DecodeError(f"length {n} runs past the end", start)
    return pos + n, pos


def _decode_numbers(data: bytes, pos: int, end: int, num: int, wt: int,
                    tag_pos: int, out: list[Any]) -> int:
    if wt == w.WT_BYTES:
        vend, pos = _bounded_length(data, pos, end)
        if num == 7 and (vend - pos) % 8:
            raise DecodeError("packed doubles not a multiple of 8 bytes",
                              tag_pos)
        while pos < vend:
            pos = _decode_number(data, pos, vend, num, out)
        return pos
    if (num == 7) != (wt == w.WT_FIXED64) or wt not in (0, 1):
        raise DecodeError(f"bad wire type {wt} for field value", tag_pos)
    return _decode_number(data, pos, end, num, out)


def _decode_number(data: bytes, pos: int, end: int, num: int,
                   out: list[Any]) -> int:
    if num == 7:
        if pos + 8 > end:
            raise DecodeError("truncated double", pos)
        out.append(w.read_double(data, pos)[0])
        return pos + 8
    v, npos = w.read_varint(data, pos)
    if npos > end:
        raise DecodeError("truncated varint", pos)
    out.append(w.to_int64(v) if num == 6 else v != 0)
    return npos


class Message:
    """A Heka message.

    Every header is a keyword argument; a header not given stays None and
    is not written.  ``fields`` is a list of :class:`Field`.

    Use :meth:`decode` to read protobuf bytes and :meth:`encode` to write
    them.
    """

    __slots__ = (*_HEADERS, "fields", "_raw", "_raw_key", "_unknown")

    uuid: bytes | None
    timestamp: int | None
    type: str | None
    logger: str | None
    severity: int | None
    payload: str | None
    env_version: str | None
    pid: int | None
    hostname: str | None

    def __init__(self, *, uuid: bytes | None = None,
                 timestamp: int | None = None, type: str | None = None,
                 logger: str | None = None, severity: int | None = None,
                 payload: str | None = None, env_version: str | None = None,
                 pid: int | None = None, hostname: str | None = None,
                 fields: Iterable[Field] = ()) -> None:
        self.uuid = uuid
        self.timestamp = timestamp
        self.type = type
        self.logger = logger
        self.severity = severity
        self.payload = payload
        self.env_version = env_version
        self.pid = pid
        self.hostname = hostname
        self.fields = list(fields)
        self._raw: bytes | None = None
        self._raw_key: tuple[Any, ...] | None = None
        self._unknown = b""

    @classmethod
    def new(cls, **headers: Any) -> Message:
        """A message stamped like Heka's own: random v4 uuid, now, Severity 7.
        """
        import time
        headers.setdefault("uuid", _uuid.uuid4().bytes)
        headers.setdefault("timestamp", time.time_ns())
        headers.setdefault("severity", 7)
        return cls(**headers)

    def _key(self) -> tuple[Any, ...]:
        return (*(getattr(self, h) for h in _HEADERS),
                tuple(f._key() for f in self.fields), self._unknown)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"{h}={getattr(self, h)!r}" for h in _HEADERS
                 if getattr(self, h) is not None]
        if self.fields:
            parts.append(f"fields={self.fields!r}")
        return f"Message({', '.join(parts)})"

    @property
    def uuid_str(self) -> str:
        """The dashed lowercase uuid, or "" when it is not 16 bytes."""
        u = self.uuid
        return str(_uuid.UUID(bytes=u)) if u and len(u) == 16 else ""

    def field(self, name: str, default: Any = None) -> Any:
        """The first value of the first field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f.values[0] if f.values else default
        return default

    def encode(self) -> bytes:
        """The protobuf bytes; the original bytes if decoded and unchanged.
        """
        if self._raw is not None and self._raw_key == self._key():
            return self._raw
        out = []
        if self.uuid is not None:
            out.append(w.length_delimited(1, bytes(self.uuid)))
        if self.timestamp is not None:
            _in_range("timestamp", self.timestamp, INT64)
            out.append(b"\x10" + w.varint(self.timestamp))
        for num in (3, 4):
            text = getattr(self, _TEXT_HEADERS[num])
            if text is not None:
                out.append(w.length_delimited(
                    num, _header_utf8(_TEXT_HEADERS[num], text)))
        if self.severity is not None:
            _in_range("severity", self.severity, INT32)
            out.append(b"\x28" + w.int32_varint(self.severity))
        for num in (6, 7):
            text = getattr(self, _TEXT_HEADERS[num])
            if text is not None:
                out.append(w.length_delimited(
                    num, _header_utf8(_TEXT_HEADERS[num], text)))
        if self.pid is not None:
            _in_range("pid", self.pid, INT32)
            out.append(b"\x40" + w.int32_varint(self.pid))
        if self.hostname is not None:
            out.append(w.length_delimited(
                9, _header_utf8("hostname", self.hostname)))
        out.extend(w.length_delimited(10, f.encode()) for f in self.fields)
        out.append(self._unknown)
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> Message:
        """Decode protobuf bytes.

        Raises
        ------
        hekapy.DecodeError
            When the bytes do not form a message; ``offset`` says where.
        """
        data = bytes(data)
        # The view performs every check and names the offset; once it
        # accepts the bytes, the conversion below cannot fail.
        from hekapy._impl import MessageView

        MessageView(data).field_count()
        m = cls()
        unknown = []
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
                unknown.append(data[tag_pos:pos])
                continue
            if wt != expected:
                raise DecodeError(
                    f"wrong wire type {wt} for {_NAMES[num]}", tag_pos)
            if wt == w.WT_VARINT:
                v, pos = w.read_varint(data, pos)
                if num == 2:
                    m.timestamp = w.to_int64(v)
                elif num == 5:
                    m.severity = w.to_int32(v)
                else:
                    m.pid = w.to_int32(v)
                continue
            vend, pos = w.read_length(data, pos)
            if num == 1:
                m.uuid = data[pos:vend]
            elif num == 10:
                m.fields.append(Field._decode(data, pos, vend))
            else:
                setattr(m, _TEXT_HEADERS[num], _text(data[pos:vend]))
            pos = vend
        m._unknown = b"".join(unknown)
        m._raw = data
        m._raw_key = m._key()
        return m

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: uuid as text, fields as name → value."""
        out: dict[str, Any] = {}
        for h in _HEADERS:
            v = getattr(self, h)
            if v is not None:
                out[h] = self.uuid_str if h == "uuid" else v
        out["fields"] = [
            {"name": f.name, "value_type": VALUE_TYPE_NAMES[f.value_type],
             "representation": f.representation,
             "value": [v.hex() if isinstance(v, bytes) else v
                       for v in f.values]}
            for f in self.fields]
        return out


_WIRE_TYPES = {1: 2, 2: 0, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 0, 9: 2,
               10: 2}
_NAMES = {1: "Uuid", 2: "Timestamp", 3: "Type", 4: "Logger",
          5: "Severity", 6: "Payload", 7: "EnvVersion", 8: "Pid",
          9: "Hostname", 10: "Fields"}
