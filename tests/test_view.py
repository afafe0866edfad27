"""MessageView: values read lazily, the same from both twins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _vectors import GOLDEN

from hekapy import DecodeError, Field, Message

CASES = Path(__file__).resolve().parent / "data" / "matcher"
SPEC_MESSAGE = bytes.fromhex(json.loads(
    (CASES / "matcher_heka.json").read_text())["message_hex"])


def test_headers(impl) -> None:
    v = impl.MessageView(GOLDEN)
    assert v.uuid == bytes.fromhex("8e414f019d7f4a48a5e1ae92e5954df5")
    assert (v.timestamp, v.severity, v.pid) == (1136239445000000000, 6, 43)
    assert (v.type, v.logger, v.payload, v.env_version, v.hostname) == \
        (b"TEST", b"GoSpec", b"Test Payload", b"0.8", b"my.host.name")
    assert v.raw == GOLDEN


def test_absent_headers_are_none(impl) -> None:
    v = impl.MessageView(b"")
    assert v.uuid is None and v.severity is None and v.type is None
    assert v.field_count() == 0
    assert v.read_field(b"x") is None


def test_fields_of_the_spec_message(impl) -> None:
    v = impl.MessageView(SPEC_MESSAGE)
    assert v.read_field(b"foo") == b"bar"
    assert v.read_field(b"foo", 1) == b"alternate"
    assert v.read_field(b"foo", 2) is None
    assert v.read_field(b"int", 0, 1) == 1024
    assert v.read_field(b"int", 0, 2) is None
    assert v.read_field(b"double") == 99.9
    assert v.read_field(b"bool") is True
    assert v.read_field(b"bytes") == b"data"
    i = v.find_field(b"Timestamp")
    assert v.field_representation(i) == b"date-time"
    assert v.field_type(v.find_field(b"number")) == 2


def test_every_value_type_and_packing(impl) -> None:
    m = Message(fields=[Field("s", ["a", "b"]), Field("b", [b"\x00"]),
                        Field("i", [-1, 2**62]), Field("d", [0.5, -2.0]),
                        Field("t", [True, False, True])])
    v = impl.MessageView(m.encode())
    got = [[v.field_value(i, ai) for ai in range(v.field_len(i))]
           for i in range(v.field_count())]
    assert got == [[b"a", b"b"], [b"\x00"], [-1, 2**62], [0.5, -2.0],
                   [True, False, True]]


def test_reset_reuses_the_view(impl) -> None:
    v = impl.MessageView(GOLDEN)
    v.reset(Message(type="other").encode())
    assert v.type == b"other" and v.uuid is None
    assert v.field_count() == 0


@pytest.mark.parametrize("hex_data", [
    "0a10", "10ff", "1801", "00", "5203" "0a0161" "7f",
    "5206" "0a0161" "1009" "00", "5205" "3a03000000",
    "5203" "4a01ff", "5202" "1001",
])
def test_both_twins_refuse_the_same_way(hex_data: str) -> None:
    from hekapy import _purepath

    _fastpath = pytest.importorskip("hekapy._fastpath")
    data = bytes.fromhex(hex_data)
    errors = []
    for mod in (_purepath, _fastpath):
        try:
            mod.MessageView(data).field_count()
        except DecodeError as exc:
            errors.append((str(exc), exc.offset))
        else:
            errors.append(None)
    assert errors[0] == errors[1]


def test_field_index_out_of_range(impl) -> None:
    v = impl.MessageView(GOLDEN)
    with pytest.raises(IndexError):
        v.field_name(5)


def test_clone_shares_the_index(impl) -> None:
    m = Message(type="t", fields=[Field("a", [1, 2]), Field("b", "x")])
    data = m.encode()
    v = impl.MessageView(data)
    assert v.read_field(b"a", 0, 1) == 2
    copy = v.clone(bytes(bytearray(data)))
    v.reset(b"")
    assert copy.type == b"t" and copy.read_field(b"b") == b"x"
    assert [copy.field_value(0, i) for i in range(2)] == [1, 2]
    with pytest.raises(ValueError, match="clone needs"):
        copy.clone(data + b"x")


def test_field_names_may_be_text(impl) -> None:
    v = impl.MessageView(Message(fields=[Field("é", 1)]).encode())
    assert v.read_field("é") == 1
    assert v.find_field("é") == 0 and v.find_field(b"\xc3\xa9") == 0
