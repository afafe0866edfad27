"""Pure-Python twin of the compiled ``AccessLogCodec``.

Access log lines in the nginx/apache "combined" format (or the common
format, which ends after the byte count) become Heka messages with the
headers and fields ``sandboxes/decoders/access_log.lua`` gives them;
see ``hekapy/_fp_accesslog.pxi`` for the rules both twins follow.  The
bytes written are the same as the compiled codec's, Uuid aside.
"""

from __future__ import annotations

import os
import re
import time

from hekapy._signing import frame
from hekapy._wire import int32_varint, length_delimited, varint

_Q = rb'"((?:\\.|[^"\\])*)"'
_LINE = re.compile(
    rb"(\S+) +(\S+) +(\S+) +\[([^\]]+)\] +" + _Q + rb" +(\S+) +(\S+)"
    rb"(?: +" + _Q + rb" +" + _Q + rb"(.*)|\s*)\Z",
    re.S,
)
_TIME = re.compile(
    rb"(\d\d?)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d) +([+-])"
    rb"(\d\d)(\d\d)\Z"
)
_REQUEST3 = re.compile(rb"(\S+) +(.*?) +([A-Z]+/\S+)\Z", re.S)
_REQUEST2 = re.compile(rb"(\S+) +(\S+)\Z")
_UNESCAPE = re.compile(rb'\\(["\\])')
_MONTHS = {m: i + 1 for i, m in enumerate(
    b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
_BLANK = b" \t\n\r\f\v"


def _digits(text: bytes) -> int | None:
    if not 1 <= len(text) <= 18 or not text.isdigit():
        return None
    v = int(text)
    # Beyond 2**53 the Lua decoder holds a double: round the same.
    return int(float(v)) if len(text) > 15 else v


def _days_since_epoch(y: int, m: int, d: int) -> int:
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _clf_time(text: bytes) -> int | None:
    t = _TIME.match(text)
    if t is None:
        return None
    d, mon, y, hh, mm, ss, sign, oh, om = t.groups()
    month = _MONTHS.get(mon)
    day, hour, minute, sec = int(d), int(hh), int(mm), int(ss)
    if month is None or not 1 <= day <= 31 or hour > 23 or minute > 59 \
            or sec > 60 or int(om) > 59:
        return None
    offset = int(oh) * 3600 + int(om) * 60
    if sign == b"-":
        offset = -offset
    secs = (_days_since_epoch(int(y), month, day) * 86400 + hour * 3600
            + minute * 60 + sec - offset)
    ns = float(secs) * 1e9
    if not -9.223372036854775808e18 <= ns < 9.223372036854775808e18:
        return None
    return int(ns)


def _field(name: bytes, value: bytes | int) -> bytes:
    if isinstance(value, int):
        body = (length_delimited(1, name) + b"\x10\x02\x30"
                + varint(value & 0xFFFFFFFFFFFFFFFF))
    else:
        body = length_delimited(1, name) + length_delimited(4, value)
    return length_delimited(10, body)


def _uuid() -> bytes:
    u = bytearray(os.urandom(16))
    u[6] = (u[6] & 0x0F) | 0x40
    u[8] = (u[8] & 0x3F) | 0x80
    return bytes(u)


class AccessLogCodec:
    """Access log lines to Heka messages (see the module doc).

    Parameters
    ----------
    msg_type:
        The Type of the messages made.
    payload_keep:
        Keep the line (without its line end) as the Payload.
    """

    def __init__(self, msg_type: bytes, payload_keep: bool = False) -> None:
        self._type = bytes(msg_type)
        self._keep = bool(payload_keep)

    def decode(self, line: bytes, timestamp: int | None = None,
               logger: bytes | None = None, hostname: bytes | None = None,
               pid: int | None = None) -> bytes | None:
        """Protobuf bytes of the message for ``line``, or None.

        The other arguments are the headers of the message the line
        came in (None: absent); Timestamp falls back to ``timestamp``
        when the line's time does not read, Logger, Pid and Hostname
        are kept.
        """
        line = bytes(line).rstrip(b"\r\n")
        m = _LINE.match(line)
        if m is None:
            return None
        (addr, _ident, user, when, request, status, sent, referer, agent,
         extra) = m.groups()
        code = _digits(status)
        nbytes = 0 if sent == b"-" else _digits(sent)
        sev = 6
        if code is not None and 500 <= code < 600:
            sev = 3
        elif code is not None and 400 <= code < 500:
            sev = 4
        ts = _clf_time(when)
        if ts is None:
            ts = timestamp if timestamp is not None \
                else int(time.time()) * 1_000_000_000
        out = [length_delimited(1, _uuid()),
               b"\x10" + varint(ts & 0xFFFFFFFFFFFFFFFF),
               length_delimited(3, self._type)]
        if logger is not None:
            out.append(length_delimited(4, logger))
        out.append(b"\x28" + varint(sev))
        if self._keep:
            out.append(length_delimited(6, line))
        if pid is not None:
            out.append(b"\x40" + int32_varint(pid))
        if hostname is not None:
            out.append(length_delimited(9, hostname))
        out.append(_field(b"remote_addr", addr))
        out.append(_field(b"remote_user", user))
        req = _UNESCAPE.sub(rb"\1", request)
        parts = _REQUEST3.match(req) or _REQUEST2.match(req)
        if parts is None:
            out.append(_field(b"request", req))
        else:
            out.append(_field(b"method", parts[1]))
            out.append(_field(b"path", parts[2]))
            if parts.re is _REQUEST3:
                out.append(_field(b"protocol", parts[3]))
        if code is not None:
            out.append(_field(b"status", code))
        if nbytes is not None:
            out.append(_field(b"body_bytes_sent", nbytes))
        if agent is not None:
            out.append(_field(b"http_referer",
                              _UNESCAPE.sub(rb"\1", referer)))
            out.append(_field(b"http_user_agent",
                              _UNESCAPE.sub(rb"\1", agent)))
            rest = extra.strip(_BLANK)
            if rest:
                out.append(_field(b"extra", rest))
        return b"".join(out)

    def frame_lines(self, block: bytes, start: int, max_record: int,
                    keep_truncated: bool, max_message: int,
                    timestamp: int, logger: bytes, hostname: bytes
                    ) -> tuple[bytes, int, int, int, int, bytes | None]:
        """Decode the lines of ``block`` from ``start`` into one framed
        stream, up to the first line that needs the caller.

        ``block`` holds whole records, each ending with a newline.  A
        record longer than ``max_record`` is dropped, or cut to that
        length with ``keep_truncated``.  Returns ``(framed, decoded,
        oversized, truncated, pos, rec)``: ``rec`` is None when the
        block is done, else the record that did not decode or whose
        message is longer than ``max_message``, which the caller
        handles by itself before calling again from ``pos``.
        """
        out: list[bytes] = []
        left: bytes | None = None
        oversized = truncated = 0
        data = bytes(block)
        if not 0 <= start <= len(data):
            raise ValueError(f"start {start} is outside the block")
        pos = start
        while pos < len(data):
            nl = data.find(b"\n", pos)
            end = len(data) if nl < 0 else nl + 1
            rec = data[pos:end]
            pos = end
            if len(rec) > max_record:
                oversized += 1
                if not keep_truncated:
                    continue
                truncated += 1
                rec = rec[:max_record]
            msg = self.decode(rec, timestamp, logger, hostname)
            if msg is None or len(msg) > max_message:
                left = rec
                break
            out.append(frame(msg))
        return b"".join(out), len(out), oversized, truncated, pos, left
