"""sandboxes/decoders/access_log.lua through SandboxDecoder."""

from __future__ import annotations

import random
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_helpers import Collector, pack

from hekapy import Message, PluginFailure, SandboxError
from hekapy.sandbox import SandboxDecoder
from hekapy.sandbox._lupa import find_lpeg

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / "sandboxes" / "decoders" / "access_log.lua")
LOGS = ROOT / "data" / "logs"
REAL_LOGS = ["test-zeus.log", "access_pathsetfreq.log", "access_webinj.log"]

HAVE_LPEG = find_lpeg() is not None
PARSERS = [
    pytest.param(
        True,
        id="lpeg",
        marks=pytest.mark.skipif(
            not HAVE_LPEG, reason="lua-lpeg not installed"
        ),
    ),
    pytest.param(False, id="patterns"),
]

COMBINED = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\S+) '
    r'"([^"]*)" "([^"]*)"(.*)$'
)


def decoder(use_lpeg: bool | None, **config: Any) -> SandboxDecoder:
    if use_lpeg is not None:
        config["use_lpeg"] = use_lpeg
    d = SandboxDecoder("access", {"filename": SCRIPT, "config": config})
    d.start(Collector().context)
    return d


def decode(d: SandboxDecoder, line: str, **headers: Any) -> Message:
    (out,) = d.decode(pack(payload=line, **headers))
    return out.message


def fields(m: Message) -> dict[str, Any]:
    return {f.name: f.value for f in m.fields}


def lines(name: str) -> list[str]:
    return (LOGS / name).read_text().splitlines()


def without_uuid(m: Message) -> bytes:
    m.uuid = bytes(16)
    return m.encode()


ZEUS = lines("test-zeus.log")[0]
# Lines of the Zeus log whose "-" values were overwritten by a user name
# (the offset, request and status are not what they should be).
SCRUBBED = [line for line in lines("test-zeus.log") if "user200700" in line]


def test_the_scrubbed_lines_are_there() -> None:
    assert len(SCRUBBED) == 3


@pytest.mark.parametrize("use_lpeg", PARSERS)
def test_scrubbed_lines_keep_what_reads(use_lpeg: bool) -> None:
    d = decoder(use_lpeg)
    for line in SCRUBBED:
        m = decode(d, line, timestamp=42)
        f = fields(m)
        assert m.timestamp == 42
        assert m.severity == 6
        assert "status" not in f
        assert f["body_bytes_sent"] == 0
        assert f["request"] == "  "
        assert f["http_user_agent"] == "user20"
        assert f["extra"].startswith('"user20" "ssl: user20" node_s:')


@pytest.mark.parametrize("use_lpeg", PARSERS)
@pytest.mark.parametrize("log", REAL_LOGS)
def test_every_real_line_parses(use_lpeg: bool, log: str) -> None:
    d = decoder(use_lpeg)
    text = lines(log)
    parsed = 0
    for line in text:
        m = decode(d, line, logger="logs")
        assert m.type == "nginx.access"
        parsed += 1
    assert parsed == len(text) > 0
    assert d.failure_count == 0


@pytest.mark.parametrize("use_lpeg", PARSERS)
@pytest.mark.parametrize("log", REAL_LOGS)
def test_fields_agree_with_an_independent_parse(
    use_lpeg: bool, log: str
) -> None:
    d = decoder(use_lpeg)
    for line in lines(log):
        g = COMBINED.match(line)
        if g is None:
            assert line in SCRUBBED
            continue
        f = fields(decode(d, line))
        assert f["remote_addr"] == g[1]
        assert f["remote_user"] == g[3]
        assert (f["method"], f["path"], f["protocol"]) == g.group(5, 6, 7)
        assert f["status"] == int(g[8])
        assert f["body_bytes_sent"] == (0 if g[9] == "-" else int(g[9]))
        assert f["http_referer"] == g[10]
        assert f["http_user_agent"] == g[11]
        assert f.get("extra", "") == g[12].strip()


def test_the_zeus_line_in_full() -> None:
    m = decode(
        decoder(None),
        ZEUS,
        logger="zeus",
        hostname="web1",
        timestamp=5,
        pid=77,
    )
    assert (m.logger, m.hostname, m.pid) == ("zeus", "web1", 77)
    assert m.type == "nginx.access"
    assert m.severity == 6
    assert m.payload is None
    assert [(f.name, f.value_type) for f in m.fields] == [
        ("remote_addr", 0),
        ("remote_user", 0),
        ("method", 0),
        ("path", 0),
        ("protocol", 0),
        ("status", 2),
        ("body_bytes_sent", 2),
        ("http_referer", 0),
        ("http_user_agent", 0),
        ("extra", 0),
    ]
    f = fields(m)
    assert f["path"] == (
        "/1.1/user1/storage/passwords?full=1&newer=1355973234.140"
    )
    assert f["http_user_agent"] == "Firefox AndroidSync 1.20.0.1.0 (Firefox)"
    assert f["extra"].startswith('"-" "ssl: SSL_RSA_WITH_RC4_128_SHA')
    assert f["extra"].endswith('req_b:327 "c_l:-"')


def clf_ns(text: str) -> int:
    dt = datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
    return int(dt.timestamp()) * 10**9


@pytest.mark.parametrize("use_lpeg", PARSERS)
@pytest.mark.parametrize(
    "when",
    [
        "15/Mar/2013:12:20:27 -0700",
        "18/Jun/2018:09:12:50 -0500",
        "01/Jan/1970:00:00:00 +0000",
        "01/Jan/1970:05:30:00 +0530",
        "31/Dec/1999:23:59:59 -1200",
        "29/Feb/2000:12:00:00 +1400",
        "28/Feb/2100:23:00:00 -0100",
        "01/Mar/2016:00:00:00 +0100",
        "10/Oct/2000:13:55:36 -0700",
    ],
)
def test_timestamp_applies_the_offset(use_lpeg: bool, when: str) -> None:
    line = f'1.2.3.4 - - [{when}] "GET / HTTP/1.0" 200 1 "-" "ua"'
    m = decode(decoder(use_lpeg), line, timestamp=1)
    assert m.timestamp == clf_ns(when)


def test_every_real_timestamp_is_right() -> None:
    d = decoder(None)
    for log in REAL_LOGS:
        for line in lines(log):
            if line in SCRUBBED:
                continue
            when = line.split("[", 1)[1].split("]", 1)[0]
            assert decode(d, line).timestamp == clf_ns(when)


@pytest.mark.parametrize(
    ("status", "severity"),
    [
        (100, 6),
        (200, 6),
        (304, 6),
        (399, 6),
        (400, 4),
        (404, 4),
        (499, 4),
        (500, 3),
        (503, 3),
        (599, 3),
        (600, 6),
        (99, 6),
    ],
)
def test_severity_follows_the_status(status: int, severity: int) -> None:
    line = (
        f'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" '
        f'{status} 5 "-" "ua"'
    )
    m = decode(decoder(None), line)
    assert (m.severity, fields(m)["status"]) == (severity, status)


def test_config_type_and_payload_keep() -> None:
    d = decoder(None, type="apache.access", payload_keep=True)
    m = decode(d, ZEUS + "\r\n")
    assert m.type == "apache.access"
    assert m.payload == ZEUS


@pytest.mark.parametrize("use_lpeg", PARSERS)
@pytest.mark.parametrize(
    "line",
    [
        "garbage",
        "",
        '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0 200 5',
        '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5 "-',
        '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5 x',
        '1.2.3.4 - - [] "GET / HTTP/1.0" 200 5',
        '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200',
        '1.2.3.4 - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5',
        '1.2.3.4 - - 10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.0" 200 5',
    ],
)
def test_a_line_that_does_not_parse_fails(use_lpeg: bool, line: str) -> None:
    d = decoder(use_lpeg)
    with pytest.raises(PluginFailure):
        d.decode(pack(payload=line))
    assert d.failure_count == 1
    assert fields(decode(d, ZEUS))["status"] == 200


@pytest.mark.parametrize("use_lpeg", PARSERS)
@pytest.mark.parametrize(
    ("part", "line"),
    [
        ("month", '[10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5'),
        ("hour", '[10/Oct/2000:25:55:36 -0700] "GET / HTTP/1.0" 200 5'),
        ("offset", '[10/Oct/2000:13:55:36] "GET / HTTP/1.0" 200 5'),
        ("status", '[10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" abc 5'),
        ("bytes", '[10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5x'),
    ],
)
def test_a_part_that_does_not_read_is_left_out(
    use_lpeg: bool, part: str, line: str
) -> None:
    m = decode(decoder(use_lpeg), "1.2.3.4 - - " + line, timestamp=7)
    f = fields(m)
    assert f["path"] == "/"
    assert (m.timestamp == 7) == (part in ("month", "hour", "offset"))
    assert ("status" in f) == (part != "status")
    assert ("body_bytes_sent" in f) == (part != "bytes")


@pytest.mark.parametrize("use_lpeg", PARSERS)
def test_common_format_escapes_and_odd_requests(use_lpeg: bool) -> None:
    d = decoder(use_lpeg)
    t = "[10/Oct/2000:13:55:36 -0700]"
    clf = fields(decode(d, f'h - frank {t} "GET /a.gif HTTP/1.0" 200 -'))
    assert clf["body_bytes_sent"] == 0
    assert "http_user_agent" not in clf and "extra" not in clf
    esc = fields(
        decode(
            d,
            f'h - - {t} "GET /q?a=\\"b\\" HTTP/1.1" 200 3 "-" '
            f'"Agent \\"x\\" \\\\ y"',
        )
    )
    assert esc["path"] == '/q?a="b"'
    assert esc["http_user_agent"] == 'Agent "x" \\ y'
    old = fields(decode(d, f'h - - {t} "GET /old" 200 3 "-" "-"'))
    assert (old["method"], old["path"]) == ("GET", "/old")
    assert "protocol" not in old
    bad = fields(decode(d, f'h - - {t} "\\x16\\x03\\x01" 400 0 "-" "-"'))
    assert bad["request"] == "\\x16\\x03\\x01"
    assert "method" not in bad
    spaced = fields(decode(d, f'h - - {t} "GET /a b HTTP/1.1" 200 3 "" ""'))
    assert spaced["path"] == "/a b"
    assert spaced["http_referer"] == ""


@pytest.mark.skipif(not HAVE_LPEG, reason="lua-lpeg not installed")
def test_both_parsers_agree_on_mutated_lines() -> None:
    rng = random.Random(1234)
    sources = [
        ZEUS,
        *lines("access_webinj.log")[:20],
        '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 -',
    ]
    alphabet = ' "\\[]-/:0a\t'
    a, b = decoder(True), decoder(False)
    agreed = failed = 0
    for _ in range(1500):
        s = list(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(s))
            op = rng.randrange(3)
            if op == 0:
                del s[i]
            elif op == 1:
                s[i] = rng.choice(alphabet)
            else:
                s.insert(i, rng.choice(alphabet))
        line = "".join(s)
        results = []
        for d in (a, b):
            try:
                results.append(without_uuid(decode(d, line, timestamp=1)))
            except PluginFailure:
                results.append(None)
        assert results[0] == results[1], line
        agreed += 1
        failed += results[0] is None
    assert agreed == 1500
    assert 0 < failed < agreed


def test_use_lpeg_true_needs_lpeg() -> None:
    if HAVE_LPEG:
        assert fields(decode(decoder(True), ZEUS))["status"] == 200
    else:
        with pytest.raises(SandboxError, match="lpeg"):
            decoder(True)
