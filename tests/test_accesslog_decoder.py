"""AccessLogDecoder and its codec against the Lua access-log decoder.

The native decoder promises the message sandboxes/decoders/access_log.lua
makes of a line, Uuid aside.  The Lua script is the reference here: real
lines and randomly damaged ones go through both.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from test_sandbox_helpers import Collector

from hekapy import ConfigError, Message, Pack, PluginFailure, frame
from hekapy._impl import StreamReader
from hekapy.plugins.decoders.accesslog import AccessLogDecoder
from hekapy.sandbox import SandboxDecoder

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / "sandboxes" / "decoders" / "access_log.lua")
LOGS = ROOT / "data" / "logs"
REAL_LOGS = ["test-zeus.log", "access_pathsetfreq.log", "access_webinj.log"]
HEADERS: dict[str, Any] = {
    "timestamp": 1_500_000_000_000_000_000,
    "logger": "access_logs",
    "hostname": "web1",
    "pid": 42,
}


def lua_decoder(**config: Any) -> SandboxDecoder:
    # The Lua patterns parser needs no LPeg and agrees with the LPeg one.
    config.setdefault("use_lpeg", False)
    d = SandboxDecoder("lua", {"filename": SCRIPT, "config": config})
    d.start(Collector().context)
    return d


def original(line: bytes, **headers: Any) -> Pack:
    m = Message(payload=line.decode("utf-8", "surrogateescape"), **headers)
    return Pack(m.encode())


def without_uuid(m: Message) -> Message:
    m.uuid = None
    return m


def by_lua(d: SandboxDecoder, line: bytes, **headers: Any) -> Any:
    try:
        (out,) = d.decode(original(line, **headers))
    except PluginFailure:
        return None
    return without_uuid(out.message)


def by_codec(codec: Any, line: bytes, **headers: Any) -> Any:
    data = codec.decode(
        line,
        headers.get("timestamp"),
        None if "logger" not in headers else headers["logger"].encode(),
        None if "hostname" not in headers else headers["hostname"].encode(),
        headers.get("pid"),
    )
    return None if data is None else without_uuid(Message.decode(data))


def real_lines() -> list[bytes]:
    out = []
    for name in REAL_LOGS:
        out += (LOGS / name).read_bytes().splitlines(keepends=True)
    return out


def test_every_real_line_matches_the_lua_decoder(impl: ModuleType) -> None:
    lua = lua_decoder()
    codec = impl.AccessLogCodec(b"nginx.access")
    lines = real_lines()
    assert len(lines) > 500
    for line in lines:
        want = by_lua(lua, line, **HEADERS)
        assert want is not None, line
        assert by_codec(codec, line, **HEADERS) == want, line


def test_damaged_lines_match_the_lua_decoder(impl: ModuleType) -> None:
    rng = random.Random(20261204)
    sources = [
        *real_lines()[:40],
        b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 -',
        b'h - - [29/Feb/2000:00:00:00 +1400] "GET  HTTP/1.1" 404 1 "" ""',
        b'h - - [1/Jan/1969:23:59:59 -0000] "POST /a b  c HTTP/2" 5 6 "r" '
        b'"a" x ',
    ]
    alphabet = b' "\\[]-/:0aAZ\t\r\n+'
    lua = lua_decoder()
    codec = impl.AccessLogCodec(b"nginx.access")
    failed = 0
    for _ in range(2000):
        s = bytearray(rng.choice(sources).rstrip(b"\n"))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(s))
            op = rng.randrange(3)
            if op == 0:
                del s[i]
            elif op == 1:
                s[i] = rng.choice(alphabet)
            else:
                s.insert(i, rng.choice(alphabet))
        line = bytes(s)
        want = by_lua(lua, line, timestamp=7, logger="l")
        assert by_codec(codec, line, timestamp=7, logger="l") == want, line
        failed += want is None
    assert 0 < failed < 2000


def test_config_type_and_payload_keep(impl: ModuleType) -> None:
    line = real_lines()[0]
    lua = lua_decoder(type="web", payload_keep=True)
    codec = impl.AccessLogCodec(b"web", True)
    got = by_codec(codec, line, **HEADERS)
    assert got == by_lua(lua, line, **HEADERS)
    assert got.type == "web"
    assert got.payload == line.rstrip(b"\r\n").decode()


def decoder(**config: Any) -> AccessLogDecoder:
    d = AccessLogDecoder("access", config)
    d.start(Collector().context)
    return d


def test_decoder_plugin_keeps_signer_and_loop_count() -> None:
    line = real_lines()[0]
    d = decoder()
    pack = original(line, **HEADERS)
    pack.signer, pack.loop_count = "ops", 2
    (out,) = d.decode(pack)
    assert (out.signer, out.loop_count) == ("ops", 2)
    assert len(out.message.uuid or b"") == 16
    assert without_uuid(out.message) == by_lua(lua_decoder(), line,
                                               **HEADERS)


@pytest.mark.parametrize(
    ("payload", "error"),
    [(None, "no payload"), (b"garbage", "not an access log line")],
)
def test_decoder_plugin_failures(payload: bytes | None, error: str) -> None:
    m = Message(payload=None if payload is None else payload.decode())
    with pytest.raises(PluginFailure, match=error):
        decoder().decode(Pack(m.encode()))


@pytest.mark.parametrize(
    "config",
    [{"message_type": 5}, {"payload_keep": "yes"}],
)
def test_decoder_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        AccessLogDecoder("access", config)


def test_frame_lines_handles_a_block(impl: ModuleType) -> None:
    codec = impl.AccessLogCodec(b"nginx.access")
    good = real_lines()[:5]
    long_line = good[0].rstrip(b"\n") + b" " + b"x" * 3000 + b"\n"
    block = b"".join([good[0], b"garbage\n", good[1], long_line, good[2],
                      b"\n", good[3], good[4]])
    pieces, stops, pos = [], [], 0
    totals = [0, 0, 0]
    while pos < len(block):
        framed, decoded, oversized, truncated, pos, rec = codec.frame_lines(
            block, pos, 2000, False, 65536, 7, b"in", b"host")
        pieces.append(framed)
        stops.append(rec)
        for i, v in enumerate((decoded, oversized, truncated)):
            totals[i] += v
    assert totals == [5, 1, 0]
    # It stops at each line that does not decode, for the caller.
    assert stops == [b"garbage\n", b"\n", None]
    framed = b"".join(pieces)
    got = [without_uuid(Message.decode(r.message))
           for r in StreamReader().feed(framed)]
    want = [by_codec(codec, line, timestamp=7, logger="in",
                     hostname="host") for line in good]
    assert got == want
    # Each record is framed as frame() frames it.
    first = next(iter(StreamReader().feed(framed))).message
    assert framed.startswith(frame(first))


def test_frame_lines_truncates_and_leaves_big_messages(
    impl: ModuleType,
) -> None:
    codec = impl.AccessLogCodec(b"nginx.access")
    line = real_lines()[0]
    long_line = line.rstrip(b"\n") + b" " + b"x" * 300 + b"\n"
    block = long_line + line
    framed, decoded, oversized, truncated, pos, rec = codec.frame_lines(
        block, 0, len(line) + 10, True, 65536, 7, b"in", b"h")
    assert (decoded, oversized, truncated, pos, rec) == (
        2, 1, 1, len(block), None)
    framed, decoded, _, _, pos, rec = codec.frame_lines(
        line + line, 0, 65536, False, 50, 7, b"in", b"h")
    assert (framed, decoded, pos, rec) == (b"", 0, len(line), line)
    with pytest.raises(ValueError):
        codec.frame_lines(line, len(line) + 1, 9999, False, 9999, 7,
                          b"", b"")
