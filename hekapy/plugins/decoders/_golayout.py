"""Go reference-time layouts (``2006-01-02 15:04:05``) for Python.

Heka configures timestamp parsing and formatting with Go layouts; this
module turns one into a ``strptime``/``strftime`` format.  Fractional
seconds (``.000``, ``.999999999``) are handled apart from strftime.
"""

from __future__ import annotations

import datetime as _dt

from hekapy._errors import ConfigError

NAMED = {
    "ANSIC": "Mon Jan _2 15:04:05 2006",
    "UnixDate": "Mon Jan _2 15:04:05 MST 2006",
    "RFC822": "02 Jan 06 15:04 MST",
    "RFC822Z": "02 Jan 06 15:04 -0700",
    "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
    "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "RFC3339": "2006-01-02T15:04:05Z07:00",
    "RFC3339Nano": "2006-01-02T15:04:05.999999999Z07:00",
    "Stamp": "Jan _2 15:04:05",
    "ApacheCombined": "02/Jan/2006:15:04:05 -0700",
}

# Longest tokens first so "January" wins over "Jan".
_TOKENS = [
    ("January", "%B"),
    ("Monday", "%A"),
    ("Z07:00", "%z"),
    ("-07:00", "%z"),
    ("-0700", "%z"),
    ("2006", "%Y"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("_2", "%d"),
    ("01", "%m"),
    ("02", "%d"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
    ("pm", "%p"),
]


def translate(layout: str) -> tuple[str, bool]:
    """A strftime format for ``layout``; True when it has fractions."""
    layout = NAMED.get(layout, layout)
    out: list[str] = []
    frac = False
    i = 0
    while i < len(layout):
        if layout.startswith((".000", ".999"), i):
            j = i + 1
            while j < len(layout) and layout[j] in "09":
                j += 1
            out.append(".%f")
            frac = True
            i = j
            continue
        for tok, fmt in _TOKENS:
            if layout.startswith(tok, i):
                out.append(fmt)
                i += len(tok)
                break
        else:
            ch = layout[i]
            out.append("%%" if ch == "%" else ch)
            i += 1
    return "".join(out), frac


def parse(
    text: str,
    layout: str,
    tz: _dt.tzinfo = _dt.timezone.utc,
) -> int:
    """Nanoseconds since the epoch for ``text`` read with ``layout``.

    A layout without a year takes the current one, as Heka does.

    Raises
    ------
    ValueError
        When ``text`` does not fit the layout.
    """
    fmt, _ = translate(layout)
    value = text.strip()
    if "%z" in fmt and value.endswith("Z"):
        value = value[:-1] + "+0000"
    if ".%f" in fmt:
        head, dot, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}{dot}{digits[:6].ljust(6, '0')}{rest}"
    t = _dt.datetime.strptime(value, fmt)
    if "%Y" not in fmt and "%y" not in fmt:
        t = t.replace(year=_dt.datetime.now(tz).year)
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def format_ns(ns: int, layout: str) -> str:
    """``ns`` (since the epoch, UTC) formatted with a Go layout."""
    fmt, _ = translate(layout)
    t = _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc)
    return t.strftime(fmt)


def timezone(name: str) -> _dt.tzinfo:
    """A tzinfo for a Go location name ("UTC", "Local", IANA names)."""
    if name in ("", "UTC"):
        return _dt.timezone.utc
    if name == "Local":
        local = _dt.datetime.now().astimezone().tzinfo
        return local or _dt.timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception as exc:
        raise ConfigError(f"unknown time zone {name!r}") from exc
