"""The message model: Go Heka's bytes, lenient decoding, raw reuse."""

from __future__ import annotations

import pytest
from _vectors import GOLDEN

from hekapy import DecodeError, Field, Message


def golden_message() -> Message:
    return Message(
        uuid=bytes.fromhex("8e414f019d7f4a48a5e1ae92e5954df5"),
        timestamp=1136239445000000000, type="TEST", logger="GoSpec",
        severity=6, payload="Test Payload", env_version="0.8", pid=43,
        hostname="my.host.name", fields=[Field("foo", "bar")])


def test_golden_vector_encodes_exactly() -> None:
    assert golden_message().encode() == GOLDEN
    assert len(GOLDEN) == 95


def test_golden_vector_decodes_to_the_same_message() -> None:
    m = Message.decode(GOLDEN)
    assert m == golden_message()
    assert m.uuid_str == "8e414f01-9d7f-4a48-a5e1-ae92e5954df5"
    assert m.field("foo") == "bar"


def test_string_field_bytes_match_go() -> None:
    body = Field("foo", "bar").encode()
    assert (b"\x52" + bytes([len(body)]) + body).hex() == \
        "520e0a03666f6f10001a002203626172"


@pytest.mark.parametrize(("value", "vtype", "values"), [
    ("x", 0, ["x"]),
    (b"\x00\xff", 1, [b"\x00\xff"]),
    (5, 2, [5]),
    (2.5, 3, [2.5]),
    (True, 4, [True]),
    ([1, 2, 3], 2, [1, 2, 3]),
    ([True, False], 4, [True, False]),
])
def test_field_type_follows_python_type(value, vtype, values) -> None:
    f = Field("f", value)
    assert f.value_type == vtype
    assert f.values == values


def test_field_value_type_by_name_and_number() -> None:
    assert Field("f", 3, value_type="DOUBLE").values == [3.0]
    assert Field("f", 3, value_type=3).values == [3.0]
    with pytest.raises(ValueError, match="unknown value_type 'NUMBER'"):
        Field("f", 3, value_type="NUMBER")
    with pytest.raises(ValueError, match="value_type must be 0-4"):
        Field("f", 3, value_type=9)


def test_integer_arrays_are_packed_even_for_one_value() -> None:
    assert Field("n", 64).encode().endswith(bytes.fromhex("320140"))


def test_negative_severity_and_pid_take_five_bytes() -> None:
    data = Message(severity=-1, pid=-2).encode()
    assert data == bytes.fromhex("28ffffffff0f40feffffff0f")
    m = Message.decode(data)
    assert (m.severity, m.pid) == (-1, -2)


def test_ten_byte_negative_int32_decodes_too() -> None:
    m = Message.decode(bytes.fromhex("28ffffffffffffffffff01"))
    assert m.severity == -1


def test_absent_headers_stay_absent() -> None:
    m = Message.decode(bytes.fromhex("1a0178"))
    assert m.type == "x"
    assert m.severity is None and m.uuid is None and m.timestamp is None
    assert Message().encode() == b""


def test_unpacked_numbers_decode() -> None:
    field = bytes.fromhex("0a016e1002" "3005" "3007")
    data = b"\x52" + bytes([len(field)]) + field
    assert Message.decode(data).fields[0].values == [5, 7]


def test_unknown_fields_are_kept_and_written_back() -> None:
    data = GOLDEN + bytes.fromhex("5803")  # field 11, varint 3
    m = Message.decode(data)
    assert m.encode() == data
    m.type = "changed"
    assert m.encode().endswith(bytes.fromhex("5803"))


def test_unchanged_message_reuses_its_original_bytes() -> None:
    # Hindsight-style: no representation, a single double
    # unpacked: canonical encoding would differ.
    field = bytes.fromhex("0a0164" "1003" "390000000000000040")
    data = b"\x52" + bytes([len(field)]) + field
    m = Message.decode(data)
    assert m.encode() == data
    m.fields[0].values[0] = 3.0
    assert m.encode() != data
    assert Message.decode(m.encode()).fields[0].values == [3.0]


def test_nested_field_error_names_the_offset() -> None:
    field = bytes.fromhex("0a016e" "3a05" "0000000000")
    data = GOLDEN[:18] + b"\x52" + bytes([len(field)]) + field
    with pytest.raises(DecodeError, match="at byte") as info:
        Message.decode(data)
    assert info.value.offset >= 18


@pytest.mark.parametrize(("hex_data", "offset"), [
    ("0a10", 0),         # uuid length runs past the end
    ("10ffffffff", 0),   # truncated varint
    ("1801", 0),         # Type with the varint wire type
    ("00", 0),           # field number 0
])
def test_bad_top_level_bytes(hex_data: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        Message.decode(bytes.fromhex(hex_data))
    assert info.value.offset == offset


def test_non_utf8_text_survives_the_round_trip() -> None:
    data = bytes.fromhex("1a02ff00")
    m = Message.decode(data)
    m.logger = "x"
    assert Message.decode(m.encode()).type == m.type
    assert m.encode().startswith(data)


def test_new_stamps_like_heka() -> None:
    m = Message.new(type="t")
    assert len(m.uuid or b"") == 16 and m.severity == 7
    assert m.timestamp and m.timestamp > 1_600_000_000 * 10**9


@pytest.mark.parametrize("header", ["type", "logger", "payload",
                                    "env_version", "hostname"])
def test_a_text_header_given_bytes_is_refused_by_name(header: str) -> None:
    m = Message.new(**{header: b"x"})
    with pytest.raises(TypeError, match=f"{header} must be a str, got bytes"):
        m.encode()
