"""Built-in decoders and encoders."""

from __future__ import annotations

import pytest

from hekapy import ConfigError, DecodeError, Field, Message, Pack
from hekapy._errors import PluginFailure
from hekapy.plugins.decoders import (
    MultiDecoder,
    PayloadRegexDecoder,
    ProtobufDecoder,
    ScribbleDecoder,
    _golayout,
)
from hekapy.plugins.encoders import (
    PayloadEncoder,
    ProtobufEncoder,
    RstEncoder,
)
from tests.conftest import LOGS

ACCESS = (
    r"^(?P<RemoteAddr>\S+) \S+ (?P<User>\S+) \[(?P<Timestamp>[^\]]+)"
    r'\] "(?P<Method>[A-Z]+) (?P<Path>\S+) [^"]*" (?P<Status>\d+) '
    r"(?P<Bytes>\d+|-)"
)


def payload_pack(text: str) -> Pack:
    return Pack.from_message(Message(payload=text, logger="in"))


def test_protobuf_decoder_passes_valid_bytes_unchanged() -> None:
    raw = Message.new(type="x").encode()
    pack = Pack(raw, "ops")
    (out,) = ProtobufDecoder("p").decode(pack)
    assert out.raw is raw and out.signer == "ops"


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\xff\xff",
        # a valid header, then a Field whose name has tag 0
        b"\x1a\x01t\x52\x03\x02\x01x",
    ],
)
def test_protobuf_decoder_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        ProtobufDecoder("p").decode(Pack(raw))


def test_payload_regex_decoder_on_real_access_log() -> None:
    dec = PayloadRegexDecoder(
        "d",
        {
            "match_regex": ACCESS,
            "timestamp_layout": "02/Jan/2006:15:04:05 -0700",
            "message_fields": {
                "Type": "nginx.access",
                "Severity": "6",
                "status": "%Status%",
                "path|uri": "%Path%",
                "Hostname": "%RemoteAddr%",
            },
        },
    )
    lines = (LOGS / "access_webinj.log").read_text().splitlines()[:50]
    for line in lines:
        (out,) = dec.decode(payload_pack(line))
        m = out.message
        assert m.type == "nginx.access" and m.severity == 6
        assert m.field("status").isdigit()
        assert m.hostname == line.split()[0]
        assert m.payload == line
    first = dec.decode(payload_pack(lines[0]))[0].message
    # 18/Jun/2018:09:12:50 -0500
    assert first.timestamp == 1529331170 * 10**9
    assert first.fields[1].representation == "uri"


def test_payload_regex_decoder_severity_map_and_failure() -> None:
    dec = PayloadRegexDecoder(
        "d",
        {
            "match_regex": r"^(?P<Severity>\w+): (?P<Text>.*)$",
            "severity_map": {"ERROR": 3, "INFO": 6},
            "message_fields": {"text": "%Text%"},
        },
    )
    (out,) = dec.decode(payload_pack("ERROR: disk full"))
    assert out.message.severity == 3
    assert out.message.field("text") == "disk full"
    with pytest.raises(PluginFailure, match="does not match"):
        dec.decode(payload_pack("no colon here"))


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"match_regex": "(unclosed"},
        {"match_regex": "x", "timestamp_location": "Mars/Base"},
    ],
)
def test_payload_regex_decoder_bad_config(config: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        PayloadRegexDecoder("d", config)


def test_scribble_decoder_sets_headers_and_fields() -> None:
    dec = ScribbleDecoder(
        "s",
        {
            "message_fields": {
                "Type": "scribbled",
                "Logger": "L",
                "Pid": 12,
                "env": "prod",
                "count": 3,
                "ratio|pct": 0.5,
                "flag": True,
            }
        },
    )
    (out,) = dec.decode(payload_pack("x"))
    m = Message.decode(out.raw)
    assert (m.type, m.logger, m.pid, m.payload) == ("scribbled", "L", 12, "x")
    assert m.field("env") == "prod" and m.field("count") == 3
    assert m.fields[2].representation == "pct"
    assert m.field("flag") is True


def test_multi_decoder_first_wins_and_all() -> None:
    a = PayloadRegexDecoder(
        "a",
        {"match_regex": r"^A(?P<n>\d)", "message_fields": {"Type": "A%n%"}},
    )
    b = ScribbleDecoder("b", {"message_fields": {"Type": "B"}})
    c = ScribbleDecoder("c", {"message_fields": {"Logger": "C"}})
    first = MultiDecoder("m", {"subs": ["a", "b"]})
    first.sub_decoders = [a, b]
    assert first.decode(payload_pack("A1"))[0].message.type == "A1"
    assert first.decode(payload_pack("zz"))[0].message.type == "B"
    chain = MultiDecoder("m", {"subs": ["b", "c"], "cascade_strategy": "all"})
    chain.sub_decoders = [b, c]
    m = chain.decode(payload_pack("q"))[0].message
    assert (m.type, m.logger) == ("B", "C")
    only_a = MultiDecoder("m", {"subs": ["a"]})
    only_a.sub_decoders = [a]
    with pytest.raises(PluginFailure, match="no sub-decoder succeeded"):
        only_a.decode(payload_pack("zz"))


@pytest.mark.parametrize(
    "config", [{}, {"subs": ["a"], "cascade_strategy": "some"}]
)
def test_multi_decoder_bad_config(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MultiDecoder("m", config)


@pytest.mark.parametrize(
    ("layout", "text", "ns"),
    [
        (
            "02/Jan/2006:15:04:05 -0700",
            "18/Jun/2018:09:12:50 -0500",
            1529331170 * 10**9,
        ),
        ("RFC3339", "2018-06-18T14:12:50Z", 1529331170 * 10**9),
        (
            "2006-01-02 15:04:05.000",
            "2018-06-18 14:12:50.250",
            1529331170 * 10**9 + 250_000_000,
        ),
        ("ApacheCombined", "18/Jun/2018:14:12:50 +0000", 1529331170 * 10**9),
    ],
)
def test_go_layouts(layout: str, text: str, ns: int) -> None:
    assert _golayout.parse(text, layout) == ns


def test_go_layout_format() -> None:
    assert (
        _golayout.format_ns(
            1529331170 * 10**9, "[2006/Jan/02:15:04:05 -0700] "
        )
        == "[2018/Jun/18:14:12:50 +0000] "
    )


def test_protobuf_encoder_returns_original_bytes() -> None:
    raw = Message.new(type="x").encode()
    assert ProtobufEncoder("e").encode(Pack(raw)) is raw


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, b"hello\n"),
        ({"append_newlines": False}, b"hello"),
        ({"prefix_ts": True}, b"[2018/Jun/18:14:12:50 +0000] hello\n"),
        ({"prefix_ts": True, "ts_format": "2006 "}, b"2018 hello\n"),
    ],
)
def test_payload_encoder(
    config: dict[str, object],
    expected: bytes,
) -> None:
    pack = Pack.from_message(
        Message(payload="hello", timestamp=1529331170 * 10**9)
    )
    assert PayloadEncoder("e", config).encode(pack) == expected


def test_payload_encoder_time_of_encoding() -> None:
    pack = Pack.from_message(Message(payload="p", timestamp=0))
    out = PayloadEncoder(
        "e",
        {"prefix_ts": True, "ts_format": "2006 ", "ts_from_message": False},
    ).encode(pack)
    assert out is not None and not out.startswith(b"1970")


def test_rst_encoder_lists_headers_and_fields() -> None:
    m = Message(
        uuid=bytes(range(16)),
        timestamp=1529331170 * 10**9,
        type="t",
        logger="l",
        severity=3,
        payload="p",
        pid=9,
        hostname="h",
        fields=[Field("n", 5), Field("s", ["a", "b"], representation="x")],
    )
    text = RstEncoder("r").encode(Pack.from_message(m)).decode()
    assert ":Timestamp: 2018-06-18 14:12:50.000000000 +0000 UTC" in text
    assert ":Uuid: 00010203-0405-0607-0809-0a0b0c0d0e0f" in text
    assert ":Severity: 3" in text and ":Pid: 9" in text
    assert '| name:"n" type:integer value:5' in text
    assert '| name:"s" type:string value:[a, b] representation:"x"' in text
