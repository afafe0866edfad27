"""Protobuf for the sandbox API: Lua tables to bytes and back.

``encode_table`` turns the table given to ``inject_message`` into the
bytes Heka's sandbox produced for it: headers in field-number order, a
single numeric or boolean value written unpacked, arrays of several
packed, ``value_type`` written only where Heka wrote it.  Problems raise
:class:`TableError` with Heka's reason text.

``decode_message`` is the strict reader behind the Lua
``decode_message``: unknown tags and wrong wire types are refused with
the tag, wire type and offset, as Heka's sandbox refused them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from hekapy import _wire as w
from hekapy.sandbox._lupa import lua_type

MASK64 = (1 << 64) - 1
_TEXT_KEYS = ((3, b"Type"), (4, b"Logger"))
_TEXT_KEYS_2 = ((6, b"Payload"), (7, b"EnvVersion"))


class TableError(Exception):
    """A table that cannot be encoded; the text is Heka's reason."""


def random_uuid() -> bytes:
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


def lua_tostring(v: Any) -> bytes | None:
    """``lua_tostring`` for strings and numbers, None for the rest."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return lua_number_text(v)


def lua_number_text(v: float) -> bytes:
    if v != v:
        return b"nan" if str(v)[0] != "-" else b"-nan"
    if v in (float("inf"), float("-inf")):
        return b"inf" if v > 0 else b"-inf"
    return (b"%.14g" % v)


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, bytes):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _uint64(v: float) -> int:
    if v != v or v in (float("inf"), float("-inf")):
        return 0
    return int(v) & MASK64


def encode_table(t: Any, output: Callable[[Any], bytes | None],
                 now: Callable[[], float] = time.time) -> bytes:
    """Serialise an ``inject_message`` table.

    ``output`` turns a table with an output function (a circular
    buffer) into its text, or returns None.
    """
    out = []
    u = t[b"Uuid"]
    if not (isinstance(u, bytes) and len(u) == 16):
        u = random_uuid()
    out.append(w.length_delimited(1, u))

    ts = t[b"Timestamp"]
    n = _as_number(ts) if not isinstance(ts, bytes) else None
    ts_value = _uint64(n) if n is not None else int(now()) * 1000000000
    out.append(b"\x10" + w.varint(ts_value))

    for num, key in _TEXT_KEYS:
        s = lua_tostring(t[key])
        if s is not None:
            out.append(w.length_delimited(num, s))
    n = _as_number(t[b"Severity"])
    if n is not None:
        out.append(b"\x28" + w.varint(_uint64(n)))
    for num, key in _TEXT_KEYS_2:
        s = lua_tostring(t[key])
        if s is not None:
            out.append(w.length_delimited(num, s))
    n = _as_number(t[b"Pid"])
    if n is not None:
        out.append(b"\x40" + w.varint(_uint64(n)))
    s = lua_tostring(t[b"Hostname"])
    if s is not None:
        out.append(w.length_delimited(9, s))

    fields = t[b"Fields"]
    if lua_type(fields) == "table":
        first = fields[1]
        if lua_type(first) == "table":
            for i in range(1, len(fields) + 1):
                spec = fields[i]
                if lua_type(spec) != "table":
                    raise TableError("unsupported type: "
                                     + _type_name(spec))
                name = spec[b"name"]
                if not isinstance(name, bytes):
                    raise TableError("field name must be a string")
                out.append(_encode_field(name, spec, True, output))
        else:
            for name, value in fields.items():
                if not isinstance(name, bytes):
                    raise TableError("field name must be a string")
                out.append(_encode_field(name, value, False, output))
    return b"".join(out)


def _type_name(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, bytes):
        return "string"
    return str(lua_type(v))


def _encode_scalar(name: bytes, value: Any) -> bytes:
    # The common hash-form field: one string, number or boolean.
    if value.__class__ is bytes:
        body = w.length_delimited(1, name) + w.length_delimited(4, value)
    elif value.__class__ is bool:
        body = w.length_delimited(1, name) + (b"\x10\x04\x40\x01" if value
                                              else b"\x10\x04\x40\x00")
    else:
        body = w.length_delimited(1, name) + b"\x10\x03\x39" + \
            w.double(float(value))
    return w.length_delimited(10, body)


_SCALARS = (bytes, bool, int, float)


def _encode_field(name: bytes, value: Any, object_form: bool,
                  output: Callable[[Any], bytes | None]) -> bytes:
    if not object_form and value.__class__ in _SCALARS:
        return _encode_scalar(name, value)
    value_type = None
    rep = None
    if object_form:
        value_type = value[b"value_type"]
        rep = value[b"representation"]
        value = value[b"value"]
    elif lua_type(value) == "table" and output(value) is None:
        inner = value[b"value"]
        if inner is not None:
            value_type = value[b"value_type"]
            rep = value[b"representation"]
            value = inner

    if lua_type(value) == "table":
        text = output(value)
        if text is not None:
            values: list[Any] = [text]
            kind = "string"
            if value_type is None:
                value_type = 1
        else:
            values = [value[i] for i in range(1, len(value) + 1)]
            if not values:
                raise TableError("unsupported type: nil")
            kind = _type_name(values[0])
            for v in values:
                k = _type_name(v)
                if k in ("table", "function", "userdata", "thread"):
                    raise TableError(f"unsupported array type: {k}")
                if k != kind:
                    raise TableError("array has mixed types")
    else:
        values = [value]
        kind = _type_name(value)

    vt_num = _as_number(value_type) if value_type is not None else None
    if value_type is not None and vt_num is None:
        raise TableError(f"invalid value_type: {_type_name(value_type)}")
    vt = None if vt_num is None else int(vt_num)

    parts = [w.length_delimited(1, name)]
    if kind == "string":
        if vt not in (None, 0, 1):
            raise TableError(f"invalid string value_type: {vt}")
        if vt == 1:
            parts.append(b"\x10\x01")
    elif kind == "number":
        if vt not in (None, 2, 3):
            raise TableError(f"invalid numeric value_type: {vt}")
        vt = 3 if vt is None else vt
        parts.append(b"\x10" + w.varint(vt))
    elif kind == "boolean":
        if vt not in (None, 4):
            raise TableError(f"invalid boolean value_type: {vt}")
        vt = 4
        parts.append(b"\x10\x04")
    else:
        raise TableError(f"unsupported type: {kind}")

    if isinstance(rep, bytes):
        parts.append(w.length_delimited(3, rep))
    elif isinstance(rep, (int, float)) and not isinstance(rep, bool):
        parts.append(w.length_delimited(3, lua_number_text(rep)))

    if kind == "string":
        tag = 5 if vt == 1 else 4
        parts.extend(w.length_delimited(tag, v) for v in values)
    elif vt == 2:
        if len(values) == 1:
            parts.append(b"\x30" + w.varint(_int64(values[0])))
        else:
            body = b"".join(w.varint(_int64(v)) for v in values)
            parts.append(w.length_delimited(6, body))
    elif vt == 3:
        if len(values) == 1:
            parts.append(b"\x39" + w.double(float(values[0])))
        else:
            body = b"".join(w.double(float(v)) for v in values)
            parts.append(w.length_delimited(7, body))
    else:
        if len(values) == 1:
            parts.append(b"\x40" + (b"\x01" if values[0] else b"\x00"))
        else:
            body = bytes(1 if v else 0 for v in values)
            parts.append(w.length_delimited(8, body))
    return w.length_delimited(10, b"".join(parts))


def _int64(v: float) -> int:
    if v != v or v in (float("inf"), float("-inf")):
        return 0
    return int(v) & MASK64


# -- decode_message ---------------------------------------------------------

_TOP = {1: 2, 2: 0, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 0, 9: 2, 10: 2}
_TOP_NAMES = {1: b"Uuid", 2: b"Timestamp", 3: b"Type", 4: b"Logger",
              5: b"Severity", 6: b"Payload", 7: b"EnvVersion", 8: b"Pid",
              9: b"Hostname"}


class DecodeFailure(Exception):
    """decode_message refused the bytes; the text is the Lua error."""


def _tag_error(num: int, wt: int, offset: int) -> DecodeFailure:
    return DecodeFailure(
        f"error in tag: {num} wiretype: {wt} offset: {offset}")


def decode_message(data: bytes) -> dict[bytes, Any]:
    """Parse protobuf bytes into the dict behind decode_message's table.

    Numbers are floats or ints (Lua makes them all doubles); ``Fields``
    is a list of dicts whose ``value`` is always a list.
    """
    if len(data) < 20:
        raise DecodeFailure("invalid message, too short")
    msg: dict[bytes, Any] = {}
    fields: list[dict[bytes, Any]] = []
    pos = 0
    end = len(data)
    while pos < end:
        tag_pos = pos
        try:
            key, pos = w.read_varint(data, pos)
        except ValueError:
            raise _tag_error(0, 0, tag_pos) from None
        num, wt = key >> 3, key & 7
        if _TOP.get(num) != wt:
            raise _tag_error(num, wt, tag_pos)
        try:
            if wt == 0:
                v, pos = w.read_varint(data, pos)
                msg[_TOP_NAMES[num]] = w.to_int64(v)
                continue
            vend, pos = w.read_length(data, pos)
        except ValueError:
            raise _tag_error(num, wt, tag_pos) from None
        chunk = data[pos:vend]
        if num == 1 and len(chunk) != 16:
            raise _tag_error(num, wt, tag_pos)
        if num == 10:
            fields.append(_decode_field(data, pos, vend))
        else:
            msg[_TOP_NAMES[num]] = chunk
        pos = vend
    if b"Uuid" not in msg or b"Timestamp" not in msg:
        found = ("found" if b"Uuid" in msg else "not found",
                 "found" if b"Timestamp" in msg else "not found")
        raise DecodeFailure(f"missing required field uuid: {found[0]} "
                            f"timestamp: {found[1]}")
    if fields:
        msg[b"Fields"] = fields
    return msg


def _decode_field(data: bytes, pos: int, end: int) -> dict[bytes, Any]:
    f: dict[bytes, Any] = {}
    values: list[Any] = []
    while pos < end:
        tag_pos = pos
        num = wt = 0
        try:
            key, pos = w.read_varint(data, pos)
            num, wt = key >> 3, key & 7
            if num == 2 and wt == 0:
                v, pos = w.read_varint(data, pos)
                f[b"value_type"] = v
            elif num in (1, 3, 4, 5) and wt == 2:
                vend, pos = w.read_length(data, pos)
                if vend > end:
                    raise ValueError
                chunk = data[pos:vend]
                if num == 1:
                    f[b"name"] = chunk
                elif num == 3:
                    f[b"representation"] = chunk
                else:
                    values.append(chunk)
                pos = vend
            elif num in (6, 8) and wt in (0, 2):
                pos = _varints(data, pos, end, wt, num, values)
            elif num == 7 and wt in (1, 2):
                pos = _doubles(data, pos, end, wt, values)
            else:
                raise _tag_error(num, wt, tag_pos)
        except ValueError:
            raise _tag_error(num, wt, tag_pos) from None
        if pos > end:
            raise _tag_error(num, wt, tag_pos)
    f[b"value"] = values
    return f


def _varints(data: bytes, pos: int, end: int, wt: int, num: int,
             out: list[Any]) -> int:
    if wt == 0:
        v, pos = w.read_varint(data, pos)
        out.append(v != 0 if num == 8 else w.to_int64(v))
        return pos
    vend, pos = w.read_length(data, pos)
    if vend > end:
        raise ValueError("packed run too long")
    while pos < vend:
        v, pos = w.read_varint(data, pos)
        out.append(v != 0 if num == 8 else w.to_int64(v))
    if pos != vend:
        raise ValueError("packed run ends inside a value")
    return pos


def _doubles(data: bytes, pos: int, end: int, wt: int,
             out: list[Any]) -> int:
    if wt == 1:
        v, pos = w.read_double(data, pos)
        out.append(v)
        return pos
    vend, pos = w.read_length(data, pos)
    if vend > end or (vend - pos) % 8:
        raise ValueError("bad packed doubles")
    while pos < vend:
        v, pos = w.read_double(data, pos)
        out.append(v)
    return pos
