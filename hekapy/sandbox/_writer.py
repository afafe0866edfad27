"""``write_message`` for decoders and encoders, applied to a Message.

Heka's rules: headers take values of their own kind (strings, numbers,
RFC 4122 text for Uuid, numbers or parseable strings for Timestamp,
Severity and Pid); ``Fields[name]`` may replace a value, append one at
the end of an array or create the next occurrence of a name, always
replacing the representation; ``nil`` deletes.  Anything else fails
with :class:`WriteFailed`.
"""

from __future__ import annotations

import re
import uuid as _uuid
from datetime import datetime, timezone
from typing import Any

from hekapy._message import (
    BOOL,
    BYTES,
    DOUBLE,
    INTEGER,
    STRING,
    Field,
    Message,
)

_TEXT = {b"Type": "type", b"Logger": "logger", b"Payload": "payload",
         b"EnvVersion": "env_version", b"Hostname": "hostname"}
_GO_INT = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*)\Z")
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
    "%d/%b/%Y:%H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %z",
    "%a, %d %b %Y %H:%M:%S GMT", "%Y-%m-%d",
)


class WriteFailed(Exception):
    """The write was refused (Lua sees ``write_message() failed``)."""


def _text(v: bytes) -> str:
    return v.decode("utf-8", "surrogateescape")


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _parse_go_int(s: str) -> int | None:
    s = s.strip()
    if not _GO_INT.match(s):
        return None
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-")
    lowered = body.lower()
    if lowered.startswith("0x"):
        return sign * int(body[2:], 16)
    if lowered.startswith("0b"):
        return sign * int(body[2:], 2)
    if lowered.startswith("0o"):
        return sign * int(body[2:], 8)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)
    return sign * int(body)


def parse_time(s: str) -> int | None:
    """Nanoseconds since the epoch for a time string, UTC when unzoned."""
    text = s.strip().replace("Z", "+0000")
    for fmt in _TIME_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return ((delta.days * 86400 + delta.seconds) * 1000000000
                + delta.microseconds * 1000)
    return None


def _header(msg: Message, name: bytes, value: Any) -> None:
    attr = _TEXT.get(name)
    if attr is not None:
        if not isinstance(value, bytes):
            raise WriteFailed
        setattr(msg, attr, _text(value))
        return
    number = isinstance(value, (int, float)) and not isinstance(value,
                                                                bool)
    if name == b"Uuid":
        if not isinstance(value, bytes):
            raise WriteFailed
        try:
            msg.uuid = _uuid.UUID(_text(value)).bytes
        except ValueError:
            raise WriteFailed from None
    elif name == b"Timestamp":
        if number:
            if value != value or abs(value) >= 2 ** 63:
                raise WriteFailed
            msg.timestamp = int(value)
        elif isinstance(value, bytes):
            ts = _parse_go_int(_text(value))
            if ts is None:
                ts = parse_time(_text(value))
            if ts is None or abs(ts) >= 2 ** 63:
                raise WriteFailed
            msg.timestamp = ts
        else:
            raise WriteFailed
    elif name in (b"Severity", b"Pid"):
        if number:
            if value != value or abs(value) >= 2 ** 63:
                raise WriteFailed
            n = int(value)
        elif isinstance(value, bytes):
            try:
                n = int(_text(value).strip())
            except ValueError:
                raise WriteFailed from None
        else:
            raise WriteFailed
        setattr(msg, "severity" if name == b"Severity" else "pid",
                _int32(n))
    else:
        raise WriteFailed


def _matches(vt: int, value: Any) -> bool:
    if isinstance(value, bool):
        return vt == BOOL
    if isinstance(value, (int, float)):
        return vt == DOUBLE
    return vt == STRING


def _convert(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return _text(value)


def write_message(msg: Message, name: bytes, value: Any, rep: bytes,
                  fi: float, ai: float | None) -> None:
    """Apply one write; ``ai`` is None when the script gave none."""
    if not (name.startswith(b"Fields[") and name.endswith(b"]")
            and len(name) >= 8):
        if value is None:
            raise WriteFailed
        _header(msg, name, value)
        return
    fname = _text(name[7:-1])
    fi = int(fi)
    ai_given = ai is not None
    ai = 0 if ai is None else int(ai)
    if fi < 0 or ai < 0:
        raise WriteFailed
    found = [i for i, f in enumerate(msg.fields) if f.name == fname]
    if value is None:
        if fi >= len(found):
            return
        f = msg.fields[found[fi]]
        if not ai_given:
            del msg.fields[found[fi]]
        elif ai < len(f.values):
            del f.values[ai]
        else:
            raise WriteFailed
        return
    if fi > len(found):
        raise WriteFailed
    if fi == len(found):
        if ai != 0:
            raise WriteFailed
        vt = BOOL if isinstance(value, bool) else (
            DOUBLE if isinstance(value, (int, float)) else STRING)
        msg.fields.append(Field(fname, [_convert(value)], vt, _text(rep)))
        return
    f = msg.fields[found[fi]]
    if f.value_type in (INTEGER, BYTES) or not _matches(f.value_type,
                                                          value):
        raise WriteFailed
    if ai > len(f.values):
        raise WriteFailed
    if ai == len(f.values):
        f.values.append(_convert(value))
    else:
        f.values[ai] = _convert(value)
    f.representation = _text(rep)
