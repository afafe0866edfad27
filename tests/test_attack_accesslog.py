"""AccessLogCodec fuzzed against the Lua access-log decoder.

Generated lines mix every byte the grammar cares about (blanks of each
kind, quotes, escapes at the ends, brackets, NUL, bytes over 0x7F) with
dates at the edges (leap days, one-digit days, offsets, years 0000 and
9999).  The compiled codec, its pure twin and the Lua decoder (string
patterns, and LPeg when it loads) must agree, Uuid aside and within the
documented exceptions: numbers over 18 digits are not generated, and
the Timestamp is not compared for a year that does not fit one.  The
daemon's line-block path is fuzzed against its per-record path, and a
damaged log goes through the daemon itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_accesslog_decoder import by_codec, by_lua, lua_decoder, real_lines
from test_line_blocks import Run

from hekapy import Message, StreamReader
from hekapy._purepath._accesslog import AccessLogCodec as PureCodec
from hekapy.sandbox import _lupa

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sandboxes" / "decoders" / "access_log.lua"
HEADERS: dict[str, Any] = {"timestamp": 7, "logger": "l",
                           "hostname": "h", "pid": 3}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def codecs() -> list[Any]:
    out: list[Any] = [PureCodec(b"nginx.access")]
    if os.environ.get("HEKAPY_NO_EXTENSIONS", "") not in ("", "0"):
        return out
    try:
        from hekapy._fastpath import AccessLogCodec
    except ImportError:
        return out
    return [*out, AccessLogCodec(b"nginx.access")]


def lua_decoders() -> list[Any]:
    out = [lua_decoder(use_lpeg=False)]
    if _lupa.find_lpeg() is not None:
        out.append(lua_decoder(use_lpeg=True))
    return out


LUA = lua_decoders()
CODECS = codecs()
YEAR = re.compile(rb"/(\d{4}):")


def all_agree(line: bytes, **headers: Any) -> None:
    headers = headers or HEADERS
    want = by_lua(LUA[0], line, **headers)
    got = [by_lua(d, line, **headers) for d in LUA[1:]]
    got += [by_codec(c, line, **headers) for c in CODECS]
    m = YEAR.search(line)
    if m and not 1678 <= int(m[1]) <= 2261:
        # Such a time does not fit a Timestamp: not compared.
        for x in [want, *got]:
            if x is not None:
                x.timestamp = None
    for x in got:
        assert x == want, line


BLANK = st.sampled_from([b" ", b"  ", b"\t", b""])
PIECES = st.sampled_from([
    b" ", b"  ", b"\t", b"\r", b"\n", b"\x0b", b"\x0c", b'"', b"\\",
    b'\\"', b"\\\\", b"[", b"]", b"-", b"/", b":", b"+", b"\x00", b"\xff",
    b"\xc3\xa9", b"\x80", b"GET", b"HTTP/1.1", b"a", b"0", b"200",
    b"Jan", b"%s", b"10/Oct/2000:13:55:36 -0700",
])
JUNK = st.lists(PIECES, max_size=8).map(b"".join)
DAY = st.sampled_from([b"1", b"01", b"9", b"29", b"31", b"0", b"00",
                       b"32", b"123", b""])
MONTH = st.sampled_from([b"Jan", b"Feb", b"feb", b"FEB", b"Dec", b"Foo",
                         b"Fe", b"\xc3\xa9ab"])
YEARS = st.sampled_from([b"0000", b"0001", b"1677", b"1678", b"1969",
                         b"1970", b"2000", b"2100", b"2261", b"2262",
                         b"9999", b"999", b"20000"])
CLOCK = st.sampled_from([b"00:00:00", b"23:59:59", b"23:59:60",
                         b"24:00:00", b"12:60:00", b"1:2:3", b"12:00:61"])
ZONE = st.sampled_from([b" +0000", b" -0000", b" +1400", b" -1200",
                        b" +9999", b" +0060", b"  +0130", b"+0100",
                        b" +01000", b" 0100", b" +01", b""])
TIME = st.tuples(DAY, MONTH, YEARS, CLOCK, ZONE).map(
    lambda t: b"%s/%s/%s:%s%s" % t) | JUNK
REQUEST = st.tuples(
    st.sampled_from([b"GET", b"POST", b"", b"-", b"G\tT"]), BLANK, JUNK,
    BLANK, st.sampled_from([b"HTTP/1.1", b"HTTP/", b"H/x", b"http/1.0",
                            b"", b"HTTP/1.1 ", b'\\"', b"A/\xff"]),
).map(b"".join)
NUMBER = st.sampled_from([b"200", b"404", b"500", b"599", b"600", b"-",
                          b"0", b"007", b"1" * 15, b"9" * 16, b"9" * 17,
                          b"9" * 18, b"12a", b"-1", b"+5", b"\xff"])
QUOTED = st.tuples(st.just(b'"'), JUNK, st.sampled_from(
    [b'"', b"", b'\\"', b"\\"])).map(b"".join)
LINE = st.tuples(
    st.sampled_from([b"1.2.3.4", b"::1", b"h\xff", b"-", b"", b" a"]),
    st.sampled_from([b" ", b"  ", b"\t"]),
    st.sampled_from([b"-", b"id"]), st.sampled_from([b" ", b"  "]),
    st.sampled_from([b"-", b"user", b"u[x]"]), BLANK,
    TIME.map(lambda t: b"[" + t + b"]"), BLANK,
    REQUEST.map(lambda r: b'"' + r + b'"'), BLANK,
    NUMBER, st.sampled_from([b" ", b"  ", b"\t"]), NUMBER,
    st.just(b"") | st.tuples(BLANK, QUOTED, BLANK, QUOTED).map(b"".join),
    st.sampled_from([b"", b" ", b"\t", b"\r", b"\r\n", b"\n", b" x ",
                     b" \x00", b"  extra stuff\t", b"\\", b'"']),
).map(b"".join)


@FUZZ
@given(LINE)
def test_generated_lines_decode_alike(line: bytes) -> None:
    all_agree(line)


SOURCES = [line.rstrip(b"\n") for line in real_lines()[::37]] + [
    b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 -',
    b'h - - [29/Feb/2000:00:00:00 +1400] "GET  HTTP/1.1" 404 1 "" ""',
    b'h - - [1/Jan/1969:23:59:59 -0000] "POST /a b  c HTTP/2" 5 6 "r" '
    b'"a" x ',
]
EDIT = st.tuples(st.integers(0, 1 << 20), st.integers(0, 2),
                 st.sampled_from(list(b' "\\[]-/:0aAZ9.%+\t\r\n\x00\x0b'
                                      b"\x0c\x80\xff")))


@FUZZ
@given(st.sampled_from(SOURCES), st.lists(EDIT, min_size=1, max_size=6),
       st.sampled_from([b"", b"\n", b"\r\n", b"\r", b"\r\r\n"]))
def test_damaged_real_lines_decode_alike(
    source: bytes, edits: list[tuple[int, int, int]], end: bytes
) -> None:
    s = bytearray(source)
    for i, op, c in edits:
        i %= max(len(s), 1)
        if op == 0 and s:
            del s[i]
        elif op == 1 and s:
            s[i] = c
        else:
            s.insert(i, c)
    line = bytes(s) + end
    if re.search(rb"\d{19}", line):
        return
    all_agree(line)


def test_long_lines_and_headers_decode_alike() -> None:
    base = (b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /%s HTTP/1.1" '
            b'200 5 "r" "a"\n')
    for n in (0, 1000, 60000):
        all_agree(base % (b"x" * n))
    line = base % b""
    all_agree(line, pid=-5, logger="", hostname="")
    all_agree(line.replace(b"10/Oct", b"xx/Oct"), timestamp=-5)


@pytest.mark.parametrize("when", [b"31/Dec/2261:23:59:59 +0000",
                                  b"01/Jan/2262:00:00:00 +0000",
                                  b"01/Jan/1678:00:00:00 +0000"])
def test_times_that_fit_a_timestamp_are_kept(when: bytes) -> None:
    line = b'1.2.3.4 - - [' + when + b'] "GET / HTTP/1.1" 200 5'
    want = by_lua(LUA[0], line, timestamp=7)
    assert want.timestamp != 7
    for c in CODECS:
        assert by_codec(c, line, timestamp=7).timestamp == want.timestamp


# -- the daemon's line blocks -------------------------------------------

REAL = real_lines()[:50]
CHUNK_PIECES = st.one_of(
    st.sampled_from(REAL),
    st.sampled_from(REAL).map(lambda x: x.rstrip(b"\n") + b"\r\n"),
    st.sampled_from(REAL).map(
        lambda x: x.rstrip(b"\n") + b" " + b"q" * 500 + b"\n"),
    st.sampled_from([b"\n", b"\r\n", b"garbage\n", b"\x00\xff\n",
                     b"x" * 800 + b"\n", b"y" * 1500, b"z" * 957 + b"\n",
                     b"w" * 958 + b"\n", b"v" * 959 + b"\n"]),
    st.binary(max_size=40),
)


def summary(run: Run) -> tuple[Any, ...]:
    msgs = []
    for m in run.messages:
        m.uuid = None
        if (m.timestamp or 0) > 1_700_000_000 * 10**9:
            # Stamped when read: not comparable between two runs.
            m.timestamp = None
        msgs.append(m)
    return msgs, dict(run.host.counters), dict(run.stream.splitter.counters)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(CHUNK_PIECES, max_size=25),
       st.lists(st.integers(1, 3000), min_size=1, max_size=5),
       st.sampled_from([{}, {"send_decode_failures": True}]),
       st.sampled_from([{}, {"keep_truncated": True},
                        {"deliver_incomplete_final": True},
                        {"keep_truncated": True,
                         "deliver_incomplete_final": True}]))
def test_blocks_and_records_route_alike(
    pieces: list[bytes], chunks: list[int], config: dict[str, Any],
    split: dict[str, Any],
) -> None:
    data = b"".join(pieces)
    got = []
    for blocks in (False, True):
        run = Run(blocks, config, split)
        pos = i = 0
        while pos < len(data):
            step = chunks[i % len(chunks)]
            run.stream.feed(data[pos:pos + step])
            pos += step
            i += 1
        run.stream.close()
        got.append(summary(run))
    assert got[0] == got[1]


CONFIG = """\
[hekad]
base_dir = "{state}"

[logs]
type = "LogstreamerInput"
log_directory = "{logs}"
file_match = 'access\\.log'
decoder = "dec"

[dec]
type = "AccessLogDecoder"

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{out}"
"""


def daemon(tmp: Path, content: bytes) -> tuple[list[Message], str]:
    logs = tmp / "logs"
    logs.mkdir(parents=True)
    (logs / "access.log").write_bytes(content)
    out = tmp / "out.hpb"
    cfg = tmp / "hekad.toml"
    cfg.write_text(CONFIG.format(state=tmp / "state", logs=logs, out=out))
    res = subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", "-config", str(cfg),
         "--run-once"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes() if out.exists() else b""
    return [Message.decode(r.message) for r in StreamReader().feed(data)], \
        res.stderr


def test_daemon_reads_every_good_line_of_a_damaged_log(
    tmp_path: Path,
) -> None:
    good = REAL[:40]
    content = b"".join([
        *good[:10],
        *(x.rstrip(b"\n") + b"\r\n" for x in good[10:20]),
        b"\x00" * 100 + b"\n",
        b"\xff\xfe garbage \x80\n",
        b"A" * (10 << 20) + b"\n",
        *good[20:30],
        b"\n\n",
        *good[30:39],
        good[39].rstrip(b"\n"),
    ])
    msgs, log = daemon(tmp_path / "damaged", content)
    # The last line has no newline yet: it waits for the next run.
    assert len(msgs) == 39
    assert [m.field("path") for m in msgs] == [
        by_codec(CODECS[0], x).field("path") for x in good[:39]]
    assert "43 records, 39 messages, 4 decode failures" in log
    assert "1 oversized" in log


def test_daemon_reads_an_empty_log(tmp_path: Path) -> None:
    msgs, log = daemon(tmp_path / "empty", b"")
    assert msgs == []
    assert "0 records, 0 messages, 0 decode failures" in log
