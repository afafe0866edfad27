"""sandboxes/decoders/json.lua and sandboxes/encoders/alert.lua."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_helpers import Collector, pack

from hekapy import Field, Message, PluginFailure, SandboxError
from hekapy.sandbox import SandboxDecoder, SandboxEncoder

ROOT = Path(__file__).resolve().parent.parent
SANDBOXES = ROOT / "sandboxes"


def json_decoder(**config: Any) -> SandboxDecoder:
    d = SandboxDecoder(
        "json",
        {
            "filename": str(SANDBOXES / "decoders" / "json.lua"),
            "config": config,
        },
    )
    d.start(Collector().context)
    return d


def decode(d: SandboxDecoder, payload: Any, **headers: Any) -> Message:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    (out,) = d.decode(pack(payload=text, **headers))
    return out.message


def fields(m: Message) -> dict[str, Any]:
    return {f.name: f.value for f in m.fields}


# -- json.lua ---------------------------------------------------------------


def test_json_flattens_objects_into_typed_fields() -> None:
    doc = {
        "msg": "hi",
        "n": 3,
        "x": 1.5,
        "ok": True,
        "none": None,
        "user": {"id": "u1", "geo": {"cc": "DE"}, "empty": {}},
        "tags": ["a", "b"],
        "nums": [1, 2],
        "mixed": [1, "a"],
        "objs": [{"a": 1}],
        "nothing": [],
    }
    m = decode(
        json_decoder(),
        doc,
        logger="app",
        hostname="h1",
        timestamp=99,
        severity=5,
    )
    assert (m.type, m.logger, m.hostname, m.timestamp, m.severity) == (
        "json",
        "app",
        "h1",
        99,
        5,
    )
    assert m.payload is None
    assert [f.name for f in m.fields] == sorted(fields(m))
    got = {f.name: (f.value_type, f.value) for f in m.fields}
    assert got == {
        "msg": (0, "hi"),
        "n": (3, 3.0),
        "x": (3, 1.5),
        "ok": (4, True),
        "user.id": (0, "u1"),
        "user.geo.cc": (0, "DE"),
        "tags": (0, ["a", "b"]),
        "nums": (3, [1.0, 2.0]),
        "mixed": (0, '[1,"a"]'),
        "objs": (0, '[{"a":1}]'),
    }


def test_json_separator_depth_type_and_payload() -> None:
    d = json_decoder(
        separator="_", maximum_depth=2, type="app.json", payload_keep=True
    )
    text = '{"a": {"b": {"c": 1}, "d": 2}}'
    m = decode(d, text)
    assert m.type == "app.json"
    assert m.payload == text
    assert fields(m) == {"a_b": '{"c":1}', "a_d": 2.0}


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "{",
        '{"a": }',
        "[1, 2]",
        '"text"',
        "42",
        "null",
    ],
)
def test_json_bad_payload_fails(payload: str) -> None:
    d = json_decoder()
    with pytest.raises(PluginFailure):
        d.decode(pack(payload=payload))
    assert fields(decode(d, {"a": "b"})) == {"a": "b"}


def test_json_empty_object_gives_a_message_without_fields() -> None:
    m = decode(json_decoder(), "{}", timestamp=5)
    assert (m.fields, m.timestamp) == ([], 5)


def rfc(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 10**9


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1500000000, "s", 1500000000 * 10**9),
        (1500000000.5, "s", 1500000000500000000),
        (1500000000123, "ms", 1500000000123000000),
        (1500000000123456, "us", 1500000000123456000),
        ("2017-07-14T02:40:00Z", "s", rfc("2017-07-14T02:40:00Z")),
        (
            "2017-07-14T02:40:00.25Z",
            "s",
            rfc("2017-07-14T02:40:00Z") + 250000000,
        ),
        ("2017-07-13T19:40:00-07:00", "s", rfc("2017-07-14T02:40:00Z")),
        ("2017-07-14 08:10:00+0530", "s", rfc("2017-07-14T02:40:00Z")),
        ("2000-02-29T00:00:00", "s", rfc("2000-02-29T00:00:00Z")),
    ],
)
def test_json_timestamp_mapping(value: Any, unit: str, expected: int) -> None:
    d = json_decoder(Timestamp="meta.time", timestamp_unit=unit)
    m = decode(d, {"meta": {"time": value}, "v": 1})
    # Lua numbers are doubles: near 1.5e18 they step by 256 ns.
    assert m.timestamp is not None
    assert abs(m.timestamp - expected) <= 256
    assert fields(m) == {"v": 1.0}


def test_json_header_mapping() -> None:
    d = json_decoder(map_fields=True, Hostname="host", Payload="message")
    doc = {
        "Type": "event",
        "Logger": "svc",
        "host": "web2",
        "Severity": "3",
        "Pid": 77,
        "EnvVersion": 2,
        "message": "disk full",
        "Hostname": "kept as field",
    }
    m = decode(d, doc)
    assert (
        m.type,
        m.logger,
        m.hostname,
        m.severity,
        m.pid,
        m.env_version,
        m.payload,
    ) == ("event", "svc", "web2", 3, 77, "2", "disk full")
    assert fields(m) == {"Hostname": "kept as field"}


@pytest.mark.parametrize(
    "doc",
    [
        {"Timestamp": "yesterday"},
        {"Timestamp": "2017-13-01T00:00:00Z"},
        {"Timestamp": True},
        {"Severity": "high"},
        {"Type": ["a", "b"]},
    ],
)
def test_json_bad_header_values_fail(doc: dict[str, Any]) -> None:
    with pytest.raises(PluginFailure, match="bad "):
        json_decoder(map_fields=True).decode(pack(payload=json.dumps(doc)))


def test_json_without_map_fields_keeps_header_names_as_fields() -> None:
    m = decode(json_decoder(), {"Type": "x", "Severity": 1}, type="orig")
    assert m.type == "json"
    assert fields(m) == {"Type": "x", "Severity": 1.0}


def test_json_bad_unit_is_a_load_error() -> None:
    with pytest.raises(SandboxError, match="timestamp_unit"):
        json_decoder(timestamp_unit="days")


# -- alert.lua --------------------------------------------------------------


def alert_encoder() -> SandboxEncoder:
    e = SandboxEncoder(
        "alert", {"filename": str(SANDBOXES / "encoders" / "alert.lua")}
    )
    e.start(Collector().context)
    return e


def test_alert_formats_a_sandbox_report() -> None:
    p = pack(
        timestamp=1500000000500000000,
        hostname="web1",
        logger="http_status",
        type="heka.sandbox-output",
        payload="counts\nmore",
        fields=[
            Field("payload_type", "txt"),
            Field("payload_name", "HTTP Status"),
        ],
    )
    assert alert_encoder().encode(p) == (
        b"Timestamp: 2017-07-14T02:40:00Z\n"
        b"Hostname: web1\n"
        b"Logger: http_status\n"
        b"Type: heka.sandbox-output\n"
        b"Name: HTTP Status\n"
        b"Payload:\n"
        b"counts\nmore\n"
    )


def test_alert_on_a_bare_message() -> None:
    e = alert_encoder()
    assert e.encode(pack(type="t", payload="done\n")) == (
        b"Timestamp: -\nHostname: \nLogger: \nType: t\nPayload:\ndone\n"
    )
    assert e.encode(pack(timestamp=0, fields=[Field("payload_name", "")])) == (
        b"Timestamp: 1970-01-01T00:00:00Z\nHostname: \nLogger: \nType: \n"
        b"Payload:\n\n"
    )
