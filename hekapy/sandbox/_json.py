"""The JSON codec behind the sandbox's ``cjson`` module.

Encoding walks Lua values the way lua-cjson does: a table whose keys are
all positive integers is an array (holes become ``null``; one sparser
than half full, past index 10, is refused), any other table is an object
with string or number keys; strings are escaped with ``\\/`` and
``\\u00XX`` as cjson escapes them; numbers use ``%.14g``.  Decoding gives
Lua numbers, strings and tables; ``null`` is dropped unless
``decode_null(true)`` asked for the ``cjson.null`` sentinel.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hekapy.sandbox._lupa import lua_type

_NULL_KEY = b"\0hekapy-null"


class JsonError(Exception):
    """The Lua error text for a failed encode or decode."""


_ESCAPES = {i: b"\\u%04x" % i for i in range(32)}
_ESCAPES.update({8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r",
                 34: b'\\"', 92: b"\\\\", 47: b"\\/", 127: b"\\u007f"})
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\/\x7f]')


def _escape(s: bytes) -> bytes:
    return b'"' + _NEEDS_ESCAPE.sub(
        lambda m: _ESCAPES[m.group()[0]], s) + b'"'


def _type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, bytes):
        return "string"
    if v is None:
        return "nil"
    return str(lua_type(v))


class Codec:
    """One sandbox's cjson settings and its ``null`` sentinel."""

    def __init__(self, output_limit: int) -> None:
        self.null: Any = None
        self.decode_null = False
        self.max_depth = 1000
        self.output_limit = output_limit

    def encode(self, value: Any) -> bytes:
        out: list[bytes] = []
        self._encode(value, out, 0)
        data = b"".join(out)
        if self.output_limit and len(data) > self.output_limit:
            raise JsonError("output_limit exceeded")
        return data

    def _number(self, v: float) -> bytes:
        if v != v or v in (float("inf"), float("-inf")):
            raise JsonError(
                "Cannot serialise number: must not be NaN or Inf")
        if isinstance(v, int):
            return b"%d" % v if abs(v) < 10 ** 14 else b"%.14g" % v
        return b"%.14g" % v

    def _encode(self, v: Any, out: list[bytes], depth: int) -> None:
        if v is None:
            out.append(b"null")
        elif isinstance(v, bool):
            out.append(b"true" if v else b"false")
        elif isinstance(v, (int, float)):
            out.append(self._number(v))
        elif isinstance(v, bytes):
            out.append(_escape(v))
        elif lua_type(v) == "table":
            if v[_NULL_KEY] is True:
                out.append(b"null")
                return
            depth += 1
            if depth > self.max_depth:
                raise JsonError(
                    f"Cannot serialise, excessive nesting ({depth})")
            self._table(v, out, depth)
        else:
            raise JsonError(
                f"Cannot serialise {_type_name(v)}: type not supported")

    def _table(self, t: Any, out: list[bytes], depth: int) -> None:
        items = list(t.items())
        max_index = 0
        is_array = bool(items)
        for k, _ in items:
            if (isinstance(k, (int, float)) and not isinstance(k, bool)
                    and k >= 1 and k == int(k)):
                max_index = max(max_index, int(k))
            else:
                is_array = False
                break
        if is_array and max_index > 2 * len(items) and max_index > 10:
            raise JsonError("Cannot serialise table: excessively sparse "
                            "array")
        if is_array:
            values = dict(items)
            out.append(b"[")
            for i in range(1, max_index + 1):
                if i > 1:
                    out.append(b",")
                self._encode(values.get(i), out, depth)
            out.append(b"]")
            return
        out.append(b"{")
        first = True
        for k, v in items:
            if isinstance(k, bytes):
                key = _escape(k)
            elif isinstance(k, (int, float)) and not isinstance(k, bool):
                key = b'"' + self._number(k) + b'"'
            else:
                raise JsonError(f"Cannot serialise {_type_name(k)}: table "
                                "key must be a number or string")
            if not first:
                out.append(b",")
            first = False
            out.append(key + b":")
            self._encode(v, out, depth)
        out.append(b"}")

    def decode(self, data: bytes) -> Any:
        text = data.decode("utf-8", "surrogateescape")
        try:
            value = json.loads(text, parse_int=float)
        except json.JSONDecodeError as e:
            if e.msg.startswith("Expecting value"):
                raise JsonError("Expected value but found invalid token "
                                f"at character {e.pos + 1}") from None
            raise JsonError(f"{e.msg} at character {e.pos + 1}") from None
        except RecursionError:
            raise JsonError("Found too many nested data structures") \
                from None
        return self._convert(value, 0)

    def _convert(self, v: Any, depth: int) -> Any:
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if v is None:
            return self.null if self.decode_null else None
        if isinstance(v, (list, dict)):
            depth += 1
            if depth > self.max_depth:
                raise JsonError("Found too many nested data structures "
                                f"({depth})")
            if isinstance(v, list):
                return {i: c for i, x in enumerate(v, 1)
                        if (c := self._convert(x, depth)) is not None}
            return {k.encode("utf-8", "surrogateescape"): c
                    for k, x in v.items()
                    if (c := self._convert(x, depth)) is not None}
        return v
