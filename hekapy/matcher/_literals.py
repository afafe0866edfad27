"""Turn literal tokens into checked :class:`Literal` values.

Numbers: an integer lexeme that fits in 64 bits becomes ``K_INT`` and is
compared exactly; anything else becomes a double (``K_DBL``).  Regexes
(Heka) are compiled with RE2, whose syntax and ``$`` (end of text) are
Go's; a pattern that is only a literal, optionally anchored, is searched
without the regex engine.  Lua patterns (lua_sandbox) are checked here
and compiled by each evaluator twin from their bytes.  Timestamps
(lua_sandbox) may be written as RFC3339 text and become exact integer
nanoseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import re2

from hekapy._purepath._luapattern import LuaPatternError, parse_pattern
from hekapy.matcher._ast import (
    K_CONTAINS,
    K_DBL,
    K_EQUALS,
    K_INT,
    K_LUA,
    K_PREFIX,
    K_REGEX,
    K_STR,
    K_SUFFIX,
    Literal,
)

Fail = Callable[[str], Exception]

_INT64 = range(-(2**63), 2**63)
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_LUA_SPECIALS = frozenset(b"^$*+?.[%-")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(Z|[+-]\d{4})")
_OPTIONS = re2.Options()
_OPTIONS.never_capture = True
_OPTIONS.log_errors = False


def number(lexeme: str, fail: Fail) -> Literal:
    """A number literal from a lexeme the lexer already checked."""
    if lexeme.lstrip("+-").isdigit():
        ival = int(lexeme)
        if ival in _INT64:
            return Literal(K_INT, lexeme, ival=ival, dval=float(ival))
    dval = float(lexeme)
    if math.isinf(dval):
        raise fail(f"number {lexeme!r} does not fit in a double")
    return Literal(K_DBL, lexeme, dval=dval)


def string(data: bytes, text: str) -> Literal:
    return Literal(K_STR, text, data=data)


def regex(pattern: str, fail: Fail) -> Literal:
    """A Heka ``/regex/`` literal: a fast path or a compiled RE2."""
    text = "/" + pattern.replace("/", "\\/") + "/"
    try:
        rx = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise fail(f"invalid regular expression {text}: {why}") from None
    body = pattern
    prefix = body.startswith("^")
    suffix = body.endswith("$") and len(body) > prefix
    body = body[prefix:len(body) - suffix]
    if not _RE2_META.intersection(body):
        data = body.encode("utf-8", "surrogateescape")
        kind = ((K_EQUALS if suffix else K_PREFIX) if prefix
                else (K_SUFFIX if suffix else K_CONTAINS))
        return Literal(kind, text, data=data)
    return Literal(K_REGEX, text, data=pattern.encode(), obj=rx)


def lua_pattern(data: bytes, plain: bool, text: str,
                fail: Fail) -> Literal:
    """A lua_sandbox pattern: a plain search or a checked Lua pattern."""
    if plain or not _LUA_SPECIALS.intersection(data):
        return Literal(K_CONTAINS, text, data=data)
    try:
        parse_pattern(data)
    except LuaPatternError as exc:
        raise fail(f"invalid Lua pattern {text}: {exc}") from None
    return Literal(K_LUA, text, data=data)


def rfc3339(data: bytes, text: str, fail: Fail) -> Literal:
    """An RFC3339 time as exact integer nanoseconds since the epoch."""
    m = _RFC3339.fullmatch(data.decode("ascii", "replace"))
    if not m:
        raise fail(f"expected a number or an RFC3339 time such as "
                   f"'2015-04-11T17:30:26Z', found {text}")
    year, month, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    if not (1 <= month <= 12 and 1 <= day <= _month_days(year, month)
            and hour < 24 and minute < 60 and sec <= 60):
        raise fail(f"time {text} is out of range")
    seconds = (_days_from_civil(year, month, day) * 86400 + hour * 3600
               + minute * 60 + sec)
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[3:5])
        if oh > 23 or om > 59:
            raise fail(f"time zone offset in {text} is out of range")
        offset = oh * 3600 + om * 60
        seconds -= offset if zone[0] == "+" else -offset
    ns = seconds * 10**9 + int((frac + "000000000")[:9])
    return Literal(K_INT, text, ival=ns, dval=float(ns))


def _month_days(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Days since 1970-01-01 in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
