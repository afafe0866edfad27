"""Hostile input against the message model, the view, framing and cat.

Every reader test runs on both twins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import select
import struct
import subprocess
import sys
import time
import uuid as _uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _vectors import GOLDEN, MD5_HEADER, R67, SHA1_HEADER
from hypothesis import given, settings
from hypothesis import strategies as st

from hekapy import (
    DecodeError,
    Field,
    Message,
    Router,
    Signer,
    _purepath,
    frame,
)
from hekapy.cli import cat as cat_cli

if os.environ.get("HEKAPY_NO_EXTENSIONS", "") in ("", "0"):
    from hekapy import _fastpath as FAST
else:  # pragma: no cover - pure-only runs
    FAST = None

ROOT = Path(__file__).resolve().parent.parent


def twins() -> list[Any]:
    """Both twins as parameters."""
    out = [pytest.param(_purepath, id="purepath")]
    if FAST is not None:
        out.append(pytest.param(FAST, id="fastpath"))
    return out


def need_both() -> None:
    if FAST is None:
        pytest.skip("needs the compiled fast path")


# -- independent encoders, written here so nothing is shared with hekapy


def vint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(num: int, payload: bytes) -> bytes:
    return vint(num << 3 | 2) + vint(len(payload)) + payload


def record(header: bytes, message: bytes) -> bytes:
    return b"\x1e" + bytes([len(header)]) + header + b"\x1f" + message


def type_only(text: bytes) -> bytes:
    """A message holding only a Type header."""
    return ld(3, text)


# -- golden vectors, recomputed from the spec's description

GOLDEN_UUID = _uuid.UUID("8e414f01-9d7f-4a48-a5e1-ae92e5954df5").bytes


def test_golden_message_rebuilt_by_hand() -> None:
    field = ld(1, b"foo") + b"\x10\x00" + ld(3, b"") + ld(4, b"bar")
    by_hand = b"".join(
        (
            ld(1, GOLDEN_UUID),
            b"\x10" + vint(1136239445000000000),
            ld(3, b"TEST"),
            ld(4, b"GoSpec"),
            b"\x28" + vint(6),
            ld(6, b"Test Payload"),
            ld(7, b"0.8"),
            b"\x40" + vint(43),
            ld(9, b"my.host.name"),
            ld(10, field),
        )
    )
    assert by_hand == GOLDEN
    assert len(by_hand) == 95
    m = Message(
        uuid=GOLDEN_UUID,
        timestamp=1136239445000000000,
        type="TEST",
        logger="GoSpec",
        severity=6,
        payload="Test Payload",
        env_version="0.8",
        pid=43,
        hostname="my.host.name",
        fields=[Field("foo", "bar")],
    )
    assert m.encode() == by_hand


def test_golden_timestamp_is_the_go_reference_time() -> None:
    # Mon Jan 2 15:04:05 -0700 2006 is 22:04:05 UTC.
    import calendar

    secs = calendar.timegm((2006, 1, 2, 22, 4, 5, 0, 0, 0))
    assert secs * 1_000_000_000 == 1136239445000000000


@pytest.mark.parametrize(
    ("digest", "hash_fn", "header"),
    [
        (hashlib.md5, None, MD5_HEADER),
        (hashlib.sha1, 1, SHA1_HEADER),
    ],
)
def test_golden_signed_headers_recomputed(digest, hash_fn, header) -> None:
    mac = hmac.new(b"testkey", GOLDEN, digest).digest()
    parts = [b"\x08" + vint(95)]
    if hash_fn is not None:
        parts.append(b"\x18" + vint(hash_fn))
    parts += [ld(4, b"test"), b"\x28\x01", ld(6, mac)]
    assert b"".join(parts) == header
    name = "sha1" if hash_fn else "md5"
    assert frame(GOLDEN, Signer("test", "testkey", 1, name)) == record(
        header, GOLDEN
    )


def test_golden_vector_against_reference_protobuf() -> None:
    pb = _reference()
    m = pb["Message"]()
    m.ParseFromString(GOLDEN)
    assert m.SerializeToString() == GOLDEN
    assert (m.uuid, m.timestamp, m.type, m.severity, m.pid) == (
        GOLDEN_UUID,
        1136239445000000000,
        "TEST",
        6,
        43,
    )
    assert [
        (f.name, f.value_type, list(f.value_string)) for f in m.fields
    ] == [("foo", 0, ["bar"])]
    h = pb["Header"](
        message_length=95,
        hmac_signer="test",
        hmac_key_version=1,
        hmac=MD5_HEADER[-16:],
    )
    assert h.SerializeToString() == MD5_HEADER


M62 = R67[5:]


def with_length(n: int) -> bytes:
    return record(b"\x08" + vint(n), M62)


@pytest.mark.parametrize("mod", twins())
@pytest.mark.parametrize(
    ("stream", "messages", "garbage", "oversized"),
    [
        # (a) the splitter test stream
        (
            R67 + R67 + b"BOGUS" + R67 + b"BOGUS" + b"\x1e\x02\x08",
            [62, 62, 62],
            10,
            0,
        ),
        # (b) length too short: truncated record, orphans skipped
        (with_length(52) + R67, [52, 62], 10, 0),
        # (c) length too long: swallows the next record's start
        (with_length(72) + R67, [72], 57, 0),
        # (d) oversized: one byte skipped, then resync
        (with_length(131072) + R67, [62], 69, 1),
    ],
    ids=["a", "b", "c", "d"],
)
def test_spec_worked_examples(
    mod, stream, messages, garbage, oversized
) -> None:
    reader = mod.StreamReader()
    got = [len(r.message) for r in reader.feed(stream)]
    assert got == messages
    assert reader.counters["garbage_bytes"] == garbage
    assert reader.counters["oversized"] == oversized


@pytest.mark.parametrize("mod", twins())
def test_spec_example_e_partial_header_frames(mod) -> None:
    reader = mod.StreamReader()
    recs = reader.feed(record(b"\x08\x05\x18", b"abcde") + R67)
    assert [(r.message, r.offset) for r in recs] == [(b"abcde", 0), (M62, 11)]


# -- a reference decoder: google.protobuf with the schema built here

_PB: dict[str, Any] = {}


def _reference() -> dict[str, Any]:
    if _PB:
        return _PB
    from google.protobuf import (
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    fd = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="hostile_reference.proto", package="ref", syntax="proto2"
    )

    def add(
        msg: Any,
        name: str,
        num: int,
        typ: int,
        label: int = fd.LABEL_OPTIONAL,
        ref: str = "",
        packed: bool = False,
    ) -> None:
        f = msg.field.add(name=name, number=num, type=typ, label=label)
        if ref:
            f.type_name = ref
        if packed:
            f.options.packed = True

    header = proto.message_type.add(name="Header")
    enum = header.enum_type.add(name="Hash")
    enum.value.add(name="MD5", number=0)
    enum.value.add(name="SHA1", number=1)
    add(header, "message_length", 1, fd.TYPE_UINT32, fd.LABEL_REQUIRED)
    add(header, "hmac_hash_function", 3, fd.TYPE_ENUM, ref=".ref.Header.Hash")
    add(header, "hmac_signer", 4, fd.TYPE_STRING)
    add(header, "hmac_key_version", 5, fd.TYPE_UINT32)
    add(header, "hmac", 6, fd.TYPE_BYTES)
    field = proto.message_type.add(name="Field")
    enum = field.enum_type.add(name="ValueType")
    for i, n in enumerate(("STRING", "BYTES", "INTEGER", "DOUBLE", "BOOL")):
        enum.value.add(name=n, number=i)
    add(field, "name", 1, fd.TYPE_STRING, fd.LABEL_REQUIRED)
    add(field, "value_type", 2, fd.TYPE_ENUM, ref=".ref.Field.ValueType")
    add(field, "representation", 3, fd.TYPE_STRING)
    rep = fd.LABEL_REPEATED
    add(field, "value_string", 4, fd.TYPE_STRING, rep)
    add(field, "value_bytes", 5, fd.TYPE_BYTES, rep)
    add(field, "value_integer", 6, fd.TYPE_INT64, rep, packed=True)
    add(field, "value_double", 7, fd.TYPE_DOUBLE, rep, packed=True)
    add(field, "value_bool", 8, fd.TYPE_BOOL, rep, packed=True)
    msg = proto.message_type.add(name="Message")
    add(msg, "uuid", 1, fd.TYPE_BYTES, fd.LABEL_REQUIRED)
    add(msg, "timestamp", 2, fd.TYPE_INT64, fd.LABEL_REQUIRED)
    for num, name in ((3, "type"), (4, "logger")):
        add(msg, name, num, fd.TYPE_STRING)
    add(msg, "severity", 5, fd.TYPE_INT32)
    for num, name in ((6, "payload"), (7, "env_version")):
        add(msg, name, num, fd.TYPE_STRING)
    add(msg, "pid", 8, fd.TYPE_INT32)
    add(msg, "hostname", 9, fd.TYPE_STRING)
    add(msg, "fields", 10, fd.TYPE_MESSAGE, rep, ref=".ref.Field")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    for name in ("Header", "Field", "Message"):
        _PB[name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"ref.{name}")
        )
    return _PB


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
FIELDS = st.one_of(
    st.builds(Field, TEXT, st.lists(TEXT, min_size=1, max_size=3)),
    st.builds(
        Field, TEXT, st.lists(st.binary(max_size=4), min_size=1, max_size=3)
    ),
    st.builds(
        Field,
        TEXT,
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3),
    ),
    st.builds(
        Field,
        TEXT,
        st.lists(st.floats(allow_nan=False), min_size=1, max_size=3),
    ),
    st.builds(
        Field,
        TEXT,
        st.lists(st.booleans(), min_size=1, max_size=3),
        representation=TEXT,
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        Message,
        uuid=st.none() | st.binary(min_size=16, max_size=16),
        timestamp=st.none() | st.integers(-(2**63), 2**63 - 1),
        type=st.none() | TEXT,
        severity=st.none() | st.integers(0, 2**31 - 1),
        pid=st.none() | st.integers(0, 2**31 - 1),
        hostname=st.none() | TEXT,
        fields=st.lists(FIELDS, max_size=3),
    )
)
def test_encoding_matches_reference_protobuf(m: Message) -> None:
    pb = _reference()["Message"]()
    for name in ("uuid", "timestamp", "type", "severity", "pid", "hostname"):
        if getattr(m, name) is not None:
            setattr(pb, name, getattr(m, name))
    for f in m.fields:
        pf = pb.fields.add(
            name=f.name,
            value_type=f.value_type,
            representation=f.representation,
        )
        lists = (
            pf.value_string,
            pf.value_bytes,
            pf.value_integer,
            pf.value_double,
            pf.value_bool,
        )
        lists[f.value_type].extend(f.values)
    data = m.encode()
    assert data == pb.SerializePartialToString()
    assert Message.decode(data) == m


# -- hostile protobuf: both twins and Message.decode agree exactly


def _view_outcome(mod: ModuleType, data: bytes) -> Any:
    try:
        v = mod.MessageView(data)
    except DecodeError as exc:
        return ("error", str(exc), exc.offset)
    heads = (v.uuid, v.timestamp, v.type, v.severity, v.pid, v.hostname)
    try:
        n = v.field_count()
    except DecodeError as exc:
        return ("field error", str(exc), exc.offset, heads)
    return (
        "ok",
        heads,
        [
            (
                v.field_name(i),
                v.field_type(i),
                v.field_representation(i),
                [v.field_value(i, a) for a in range(v.field_len(i) + 1)],
            )
            for i in range(n)
        ],
    )


HOSTILE = {
    "empty": (b"", None),
    "11-byte key": (
        b"\x80" * 10 + b"\x01",
        "varint longer than 10 bytes at byte 0",
    ),
    "11-byte timestamp": (
        b"\x10" + b"\xff" * 10 + b"\x01",
        "varint longer than 10 bytes at byte 0",
    ),
    "10-byte timestamp": (b"\x10" + b"\xff" * 9 + b"\x01", None),
    "length near 2**63": (
        b"\x1a" + b"\xff" * 8 + b"\x7f",
        "length runs past the end at byte 0",
    ),
    "length 2**64-1": (
        b"\x1a" + b"\xff" * 9 + b"\x01",
        "length runs past the end at byte 0",
    ),
    "field number 2**25": (b"\x80\x80\x80\x80\x01\x05", None),
    "field number 2**60": (b"\x80" * 8 + b"\x80\x01\x00", None),
    "field number 0": (b"\x00\x00", "invalid field number 0 at byte 0"),
    "group wire type": (b"\x5b", "unsupported wire type 3 at byte 0"),
    "Uuid as varint": (b"\x08\x01", "wrong wire type 0 for field 1 at byte 0"),
    "Fields as varint": (
        b"\x50\x00",
        "wrong wire type 0 for field 10 at byte 0",
    ),
    "truncated pid": (b"\x40\x80", "truncated varint at byte 0"),
    "severity 10 bytes": (b"\x28" + b"\xff" * 9 + b"\x01", None),
    "severity over 32 bits": (b"\x28\x80\x80\x80\x80\x10", None),
    "field bad tag": (
        b"\x52\x02\x08\x00",
        "bad tag 1 wire type 0 in field at byte 2",
    ),
    "field truncated": (
        b"\x52\x05\x0a\x01",
        "length runs past the end at byte 0",
    ),
    "packed run ends mid varint": (
        b"\x52\x06\x10\x02\x32\x02\x01\x80",
        "packed varints end inside a value at byte 4",
    ),
    "packed run of an 11-byte varint": (
        b"\x52\x0f\x10\x02\x32\x0b" + b"\xff" * 10 + b"\x01",
        "packed varints end inside a value at byte 4",
    ),
    "packed doubles of 7 bytes": (
        b"\x52\x0b\x10\x03\x3a\x07" + bytes(7),
        "packed doubles not a multiple of 8 bytes at byte 4",
    ),
    "unpacked double cut short": (
        b"\x52\x06\x10\x03\x39\x00\x00\x00",
        "truncated double at byte 4",
    ),
    "value_type 5": (b"\x52\x02\x10\x05", "unknown value_type 5 at byte 2"),
    "value_type 2**64-1": (
        b"\x52\x0b\x10" + b"\xff" * 9 + b"\x01",
        "unknown value_type 18446744073709551615 at byte 2",
    ),
    "bool as fixed32": (
        b"\x52\x03\x10\x04\x45",
        "bad wire type 5 for field value at byte 4",
    ),
    "field key of 11 bytes": (
        b"\x52\x0b" + b"\x80" * 10 + b"\x01",
        "varint longer than 10 bytes at byte 2",
    ),
    "group inside a field": (
        b"\x52\x02\x4b\x00",
        "unsupported wire type 3 at byte 2",
    ),
    "mixed packed and unpacked": (
        b"\x52\x0a\x10\x02\x30\x05\x32\x02\x07\x08\x30\x7f",
        None,
    ),
    "inactive list": (b"\x52\x06\x32\x01\x05\x22\x01x", None),
    "second field broken": (
        b"\x52\x02\x10\x02" + b"\x52\x03\x10\x02\x32",
        "length runs past the end at byte 8",
    ),
}


@pytest.mark.parametrize(
    ("data", "expected"), list(HOSTILE.values()), ids=list(HOSTILE)
)
def test_hostile_protobuf_twins_and_message_agree(
    data: bytes, expected: str | None
) -> None:
    outcomes = [_view_outcome(_purepath, data)]
    if FAST is not None:
        outcomes.append(_view_outcome(FAST, data))
    assert all(o == outcomes[0] for o in outcomes)
    try:
        m = Message.decode(data)
    except DecodeError as exc:
        assert str(exc) == expected
        assert outcomes[0][0] != "ok"
        assert str(exc) == outcomes[0][1]
        return
    assert expected is None
    assert outcomes[0][0] == "ok"
    assert m.encode() == data


def test_mixed_packing_reads_every_value_in_order() -> None:
    data = HOSTILE["mixed packed and unpacked"][0]
    assert Message.decode(data).fields[0].values == [5, 7, 8, 127]


def test_int32_headers_keep_the_low_32_bits() -> None:
    m = Message.decode(b"\x28\x80\x80\x80\x80\x10\x40" + b"\xff" * 9 + b"\x01")
    assert (m.severity, m.pid) == (0, -1)


# -- framing: memory and time bounds


@pytest.mark.parametrize("mod", twins())
def test_declared_4gib_message_allocates_nothing(mod) -> None:
    reader = mod.StreamReader(max_message_size=0xFFFFFFFF)
    head = record(b"\x08" + vint(0xFFFFFFFF), b"")
    assert reader.feed(head + b"x" * 1000) == []
    assert reader.buffered == len(head) + 1000
    assert reader.counters["oversized"] == 0


@pytest.mark.parametrize("mod", twins())
def test_length_beyond_32_bits_is_cut_like_go(mod) -> None:
    # Go reads message_length into a uint32: 2**32 + 5 frames 5 bytes.
    reader = mod.StreamReader()
    recs = reader.feed(record(b"\x08" + vint(2**32 + 5), b"abcde"))
    assert [r.message for r in recs] == [b"abcde"]
    reader = mod.StreamReader()
    assert reader.feed(record(b"\x08" + b"\xff" * 9 + b"\x01", b"")) == []
    assert reader.counters["oversized"] == 1


@pytest.mark.parametrize("mod", twins())
def test_separator_storm_is_counted_exactly(mod) -> None:
    reader = mod.StreamReader()
    assert reader.feed(b"\x1e" * 5000) == []
    # H = 0x1e: every full 33-byte window lacks its 0x1f.
    assert reader.counters["bad_headers"] == 5000 - 32
    assert reader.counters["garbage_bytes"] == 5000 - 32
    assert reader.buffered == 32


@pytest.mark.parametrize("mod", twins())
def test_reader_buffer_stays_bounded(mod) -> None:
    limit = 1000
    reader = mod.StreamReader(max_message_size=limit)
    pieces = [
        b"\x1e" * 3000,
        (b"\x1e\xff" + b"\x10\x00" * 127 + b"\x10\x1f") * 20,
        record(b"\x08" + vint(limit), b"y" * 500),
        b"\x00" * 4000,
        record(b"\x08" + vint(limit + 1), b""),
        frame(b"z" * limit)[:-1],
        b"\x1e\x05\x08\xe8\x07\x18\x1f" * 300,
    ] * 3
    for piece in pieces:
        for i in range(0, len(piece), 700):
            reader.feed(piece[i : i + 700])
            assert reader.buffered <= 3 + 255 + limit


@pytest.mark.parametrize("mod", twins())
def test_header_of_255_bytes(mod) -> None:
    signer = Signer("s" * 224, "k", 1, "sha1")
    rec = frame(b"\x1a\x01x", signer)
    assert rec[1] == 255
    reader = mod.StreamReader(signers=[signer])
    assert [r.signer for r in reader.feed(rec + rec)] == ["s" * 224] * 2
    broken = bytearray(rec)
    broken[2 + 255] = 0
    reader = mod.StreamReader(signers=[signer])
    assert [r.offset for r in reader.feed(bytes(broken) + rec)] == [261]
    assert reader.counters["bad_headers"] == 1


# -- signed headers: every combination of present and missing parts

MSG = type_only(b"TEST")
MD5 = hmac.new(b"key", MSG, hashlib.md5).digest()
SHA1 = hmac.new(b"key", MSG, hashlib.sha1).digest()
L = b"\x08" + vint(len(MSG))
SIGNERS = [Signer("ops", "key", 1), Signer("ops", "key", 0)]


def _h(*parts: bytes) -> bytes:
    return b"".join(parts)


AUTH = {
    "unsigned": (_h(L), None),
    "md5": (_h(L, ld(4, b"ops"), b"\x28\x01", ld(6, MD5)), "ops"),
    "md5 named": (
        _h(L, b"\x18\x00", ld(4, b"ops"), b"\x28\x01", ld(6, MD5)),
        "ops",
    ),
    "sha1": (
        _h(L, b"\x18\x01", ld(4, b"ops"), b"\x28\x01", ld(6, SHA1)),
        "ops",
    ),
    "sha1 digest, md5 named": (
        _h(L, ld(4, b"ops"), b"\x28\x01", ld(6, SHA1)),
        False,
    ),
    "hash 2": (
        _h(L, b"\x18\x02", ld(4, b"ops"), b"\x28\x01", ld(6, MD5)),
        False,
    ),
    "hash 2**64-1": (
        _h(
            L,
            b"\x18" + b"\xff" * 9 + b"\x01",
            ld(4, b"ops"),
            b"\x28\x01",
            ld(6, MD5),
        ),
        False,
    ),
    "no version": (_h(L, ld(4, b"ops"), ld(6, MD5)), "ops"),
    "signer, no hmac": (_h(L, ld(4, b"ops"), b"\x28\x01"), False),
    "hmac, no signer": (_h(L, b"\x28\x01", ld(6, MD5)), False),
    "empty hmac": (_h(L, ld(4, b"ops"), b"\x28\x01", ld(6, b"")), False),
    "short hmac": (_h(L, ld(4, b"ops"), b"\x28\x01", ld(6, MD5[:8])), False),
    "unknown signer": (_h(L, ld(4, b"dev"), b"\x28\x01", ld(6, MD5)), False),
    "unknown version": (_h(L, ld(4, b"ops"), b"\x28\x07", ld(6, MD5)), False),
    "extra fields": (
        _h(
            L,
            b"\x10\x05",
            b"\x39" + bytes(8),
            b"\x3d" + bytes(4),
            ld(4, b"ops"),
            b"\x28\x01",
            ld(6, MD5),
            ld(15, b"z"),
        ),
        "ops",
    ),
    "length last": (_h(ld(4, b"ops"), b"\x28\x01", ld(6, MD5), L), "ops"),
    # A header that breaks off is refused, as Go Heka refuses one.
    "broken after hmac": (
        _h(L, ld(4, b"ops"), b"\x28\x01", ld(6, MD5), b"\x80"),
        False,
    ),
    "signer as varint": (_h(L, b"\x20\x01", b"\x28\x01", ld(6, MD5)), False),
}


@pytest.mark.parametrize("mod", twins())
@pytest.mark.parametrize("case", list(AUTH))
def test_signed_header_combinations(mod, case: str) -> None:
    header, expected = AUTH[case]
    reader = mod.StreamReader(signers=SIGNERS)
    recs = reader.feed(record(header, MSG))
    if expected is False:
        assert recs == []
        assert reader.counters["auth_failures"] == 1
    else:
        assert [(r.message, r.signer) for r in recs] == [(MSG, expected)]
    open_reader = mod.StreamReader(signers=SIGNERS, skip_authentication=True)
    assert [r.signer for r in open_reader.feed(record(header, MSG))] == [None]


# -- bugs in the compiled reader's bookkeeping


@pytest.mark.parametrize("mod", twins())
def test_max_message_size_beyond_a_header_length_is_refused(mod) -> None:
    # A header holds at most a 32-bit length; larger limits are refused
    # up front instead of overflowing the reader's bookkeeping.
    with pytest.raises(ValueError, match="max_message_size must be 0 to"):
        mod.StreamReader(max_message_size=2**63 - 1)
    reader = mod.StreamReader(max_message_size=2**32 - 1)
    rec = frame(b"hello world")
    assert reader.feed(rec[:4]) == []
    recs = reader.feed(rec[4:] + frame(b"second"))
    assert [(r.message, r.offset) for r in recs] == [
        (b"hello world", 0),
        (b"second", len(rec)),
    ]
    assert reader.counters["garbage_bytes"] == 0


def _held_then_big_chunk() -> tuple[bytes, bytes, bytes]:
    r1 = frame(type_only(b"A" * 8))
    r2 = frame(type_only(b"B" * 8))
    return r1[:8], r1[8:] + r2 + b"\x00" * 400, frame(type_only(b"C" * 8))


@pytest.mark.parametrize("mod", twins())
def test_iter_views_stopped_early_keeps_the_rest(mod) -> None:
    head, chunk, r3 = _held_then_big_chunk()
    reader = mod.StreamReader(max_message_size=20)
    view = mod.MessageView(b"")
    reader.feed(head)
    for v in reader.iter_views(chunk, view):
        assert v.type == b"A" * 8
        break
    recs = reader.feed(r3 + r3)
    base = len(head) + len(chunk)
    assert [(r.message, r.offset) for r in recs] == [
        (type_only(b"B" * 8), 15),
        (type_only(b"C" * 8), base),
        (type_only(b"C" * 8), base + 15),
    ]
    assert reader.counters["garbage_bytes"] == 400


def test_iter_views_stopped_early_twins_agree() -> None:
    need_both()
    stream = b"".join(frame(type_only(t)) for t in (b"a", b"b", b"c"))
    after = []
    for mod in (_purepath, FAST):
        reader = mod.StreamReader()
        for _ in reader.iter_views(stream, mod.MessageView(b"")):
            break
        after.append([r.message for r in reader.feed(b"")])
    assert after[0] == after[1] == [type_only(b"b"), type_only(b"c")]


BAD = frame(b"\x00\x00")


def _bad_then_good(mod: ModuleType, held: bool) -> list[bytes]:
    """Types of the good records seen around one that does not decode."""
    good = frame(type_only(b"one")) + frame(type_only(b"two"))
    reader = mod.StreamReader(max_message_size=20)
    view = mod.MessageView(b"")
    chunks = (
        [BAD[:3], BAD[3:] + good + b"\x00" * 400] if held else [BAD + good]
    )
    seen = []
    for chunk in [*chunks, b""]:
        try:
            seen += [v.type for v in reader.iter_views(chunk, view)]
        except DecodeError:
            seen.append(b"<bad>")
    return seen


def _bad_record_params() -> list[Any]:
    out = [
        pytest.param(_purepath, False, id="purepath-whole"),
        pytest.param(_purepath, True, id="purepath-held"),
    ]
    if FAST is not None:
        out += [
            pytest.param(FAST, False, id="fastpath-whole"),
            pytest.param(FAST, True, id="fastpath-held"),
        ]
    return out


@pytest.mark.parametrize(("mod", "held"), _bad_record_params())
def test_iter_views_bad_record_loses_nothing_else(mod, held) -> None:
    assert _bad_then_good(mod, held) == [b"<bad>", b"one", b"two"]


@pytest.mark.parametrize(
    "mod",
    twins(),
)
def test_last_offset_and_signer_describe_the_last_record(mod) -> None:
    signer = Signer("s", "k", 1)
    reader = mod.StreamReader(signers=[signer])
    reader.feed(b"garbage" + frame(b"a", signer))
    assert (reader.last_offset, reader.last_signer) == (7, "s")
    reader.feed(b"more garbage")
    reader.feed(frame(b"b", Signer("s", "wrong", 1)))
    assert reader.counters["auth_failures"] == 1
    assert (reader.last_offset, reader.last_signer) == (7, "s")


@pytest.mark.parametrize(
    "mod",
    twins(),
)
def test_view_indexes_beyond_c_int(mod) -> None:
    v = mod.MessageView(Message(fields=[Field("x", [1, 2])]).encode())
    assert v.field_value(0, 2**40) is None
    assert v.read_field(b"x", 0, 2**31) is None
    assert v.find_field(b"x", 2**40) == -1
    with pytest.raises(IndexError):
        v.field_name(2**31)


def test_router_counts_a_broken_field_as_a_decode_failure() -> None:
    from hekapy.plugins import Output

    class Keep(Output):
        def __init__(self) -> None:
            super().__init__("keep", {})
            self.got: list[str | None] = []

        def process_message(self, pack: Any) -> None:
            self.got.append(pack.message.payload)

    router = Router()
    out = Keep()
    router.add_output(out, "Fields[x] == 'a'")
    good = Message(payload="ok", fields=[Field("x", "a")]).encode()
    broken = ld(6, b"bad") + b"\x52\x02\x08\x00"
    try:
        n = router.feed(frame(good) + frame(broken) + frame(good))
    finally:
        router.close()
    assert n == 3
    assert out.got == ["ok", "ok"]
    assert router.decode_failures == 1


# -- the message model: values that do not fit


@pytest.mark.parametrize(
    "make",
    [
        lambda: Message(timestamp=2**63),
        lambda: Message(timestamp=2**64 + 5),
        lambda: Message(severity=2**31),
        lambda: Message(pid=-(2**31) - 1),
        lambda: Message(fields=[Field("x", 2**64)]),
    ],
    ids=[
        "timestamp 2**63",
        "timestamp 2**64+5",
        "severity 2**31",
        "pid below int32",
        "integer 2**64",
    ],
)
def test_encode_refuses_values_out_of_range(make) -> None:
    with pytest.raises((ValueError, OverflowError)):
        make().encode()


def test_string_field_from_bytes_is_not_its_repr() -> None:
    try:
        f = Field("x", b"abc", value_type="STRING")
    except (TypeError, ValueError):
        return
    assert f.values == ["abc"]


def test_mixed_number_list_is_not_truncated() -> None:
    try:
        f = Field("x", [1, 2.7])
    except (TypeError, ValueError):
        return
    assert f.values == [1, 2.7]


def test_non_utf8_text_round_trips_through_decode() -> None:
    data = ld(3, b"t\xff") + ld(
        10, ld(1, b"n\xfe") + b"\x10\x00" + ld(4, b"\xc3")
    )
    m = Message.decode(data)
    assert m.encode() == data
    m.payload = "p"
    again = Message.decode(m.encode())
    assert again.type == "t\udcff"
    assert again.fields[0].name == "n\udcfe"
    assert again.fields[0].values == ["\udcc3"]


# -- hekapy-cat


def _cat(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = cat_cli.main(args)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return rc, out, err


def _odd_message() -> bytes:
    return Message(
        uuid=b"\x01" * 16,
        timestamp=5,
        type="t\udcff",
        payload="p\udcfeq",
        fields=[Field("n\udcff", ["v\udcff"]), Field("b", b"\x00\xff")],
    ).encode()


def test_cat_json_replaces_bytes_that_are_not_utf8(tmp_path, capsys) -> None:
    path = tmp_path / "odd.heka"
    path.write_bytes(frame(_odd_message()))
    rc, out, err = _cat(["-format", "json", str(path)], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["type"] == "t\ufffd"
    assert doc["payload"] == "p\ufffdq"
    assert doc["fields"][0]["name"] == "n\ufffd"
    assert doc["fields"][0]["value"] == ["v\ufffd"]
    assert doc["fields"][1]["value"] == ["00ff"]


def test_cat_json_output_is_strict_json(tmp_path, capsys) -> None:
    path = tmp_path / "nan.heka"
    m = Message(fields=[Field("d", [float("nan"), float("inf")])])
    path.write_bytes(frame(m.encode()))
    rc, out, err = _cat(["-format", "json", str(path)], capsys)
    assert rc == 0, err

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    json.loads(out, parse_constant=refuse)


def test_cat_offset_past_the_end_and_inside(tmp_path, capsys) -> None:
    rec = frame(type_only(b"x"))
    path = tmp_path / "two.heka"
    path.write_bytes(rec + rec)
    rc, out, err = _cat(
        ["-format", "json", "-offset", "999", str(path)], capsys
    )
    assert (rc, out) == (0, "")
    rc, out, err = _cat(
        ["-format", "json", "-offset", str(len(rec)), str(path)], capsys
    )
    assert rc == 0
    assert [json.loads(x)["offset"] for x in out.splitlines()] == [len(rec)]
    rc, out, err = _cat(
        ["-format", "count", "-offset", "1", str(path)], capsys
    )
    assert rc == 1
    assert out.strip() == "1"
    assert "discarded" in err


def test_cat_reports_every_problem_after_the_records(tmp_path, capsys) -> None:
    path = tmp_path / "bad.heka"
    good = frame(type_only(b"x"))
    path.write_bytes(good + b"junk" + BAD + good[:4])
    rc, out, err = _cat(["-format", "count", str(path)], capsys)
    assert rc == 1
    assert out.strip() == "1"
    assert "does not decode" in err
    assert "4 byte(s) discarded" in err
    assert "truncated record" in err


@pytest.mark.parametrize(
    "size",
    [
        pytest.param("-1"),
        pytest.param(str(2**70)),
    ],
)
def test_cat_bad_maxsize_is_reported_cleanly(tmp_path, capsys, size) -> None:
    path = tmp_path / "one.heka"
    path.write_bytes(frame(type_only(b"x")))
    rc, _out, err = _cat(
        ["-format", "count", "-maxsize", size, str(path)], capsys
    )
    assert rc in (0, 2)
    assert "Traceback" not in err


def _spawn_cat(args: list[str], **kw: Any) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "hekapy.cli.cat", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        **kw,
    )


def _read_for(proc: subprocess.Popen, seconds: float, lines: int) -> bytes:
    """What ``proc`` writes within ``seconds`` or until ``lines`` lines."""
    got = b""
    deadline = time.monotonic() + seconds
    assert proc.stdout is not None
    while time.monotonic() < deadline and got.count(b"\n") < lines:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            got += data
    return got


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def test_cat_heka_output_reads_back(tmp_path) -> None:
    path = tmp_path / "in.heka"
    signer = Signer("s", "k")
    messages = [type_only(b"a"), _odd_message(), GOLDEN]
    path.write_bytes(
        b"lead"
        + frame(messages[0])
        + frame(messages[1], signer)
        + b"\x1e\x1e"
        + frame(messages[2])
    )
    proc = _spawn_cat(["-format", "heka", str(path)])
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == 1
    reader = _purepath.StreamReader()
    assert [r.message for r in reader.feed(out)] == messages
    assert reader.counters["garbage_bytes"] == 0
    assert reader.buffered == 0


def test_cat_tail_output_reaches_a_pipe(tmp_path) -> None:
    path = tmp_path / "growing.heka"
    rec = frame(type_only(b"first"))
    path.write_bytes(rec)
    proc = _spawn_cat(["-tail", "-format", "json", str(path)])
    try:
        seen = _read_for(proc, 3.0, 1)
        with open(path, "ab") as f:
            f.write(rec[:4])
            f.flush()
            time.sleep(0.3)
            f.write(rec[4:])
        seen += _read_for(proc, 2.0, 2 - seen.count(b"\n"))
    finally:
        _stop(proc)
    assert seen.count(b"\n") == 2


def test_cat_shows_piped_records_before_eof() -> None:
    proc = _spawn_cat(["-format", "json"], stdin=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        proc.stdin.write(frame(type_only(b"x")) * 3)
        proc.stdin.flush()
        seen = _read_for(proc, 2.5, 3)
    finally:
        _stop(proc)
    assert seen.count(b"\n") == 3


def test_reader_twins_agree_on_mutated_streams() -> None:
    need_both()
    import random

    rng = random.Random(20261204)
    base = b"".join(
        (
            R67,
            frame(GOLDEN, Signer("test", "testkey", 1)),
            b"\x1e\x00\x1f",
            record(b"\x08\x05\x18", b"abcde"),
        )
    )
    signers = [Signer("test", "testkey", 1)]
    for _ in range(300):
        data = bytearray(base * 2)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.choice(
                (0x1E, 0x1F, 0x00, 0xFF, rng.randrange(256))
            )
        cut = rng.randint(1, 80)
        results = []
        for mod in (_purepath, FAST):
            reader = mod.StreamReader(max_message_size=100, signers=signers)
            recs = []
            for i in range(0, len(data), cut):
                recs += [
                    (r.message, r.signer, r.offset)
                    for r in reader.feed(bytes(data[i : i + cut]))
                ]
            results.append((recs, reader.counters, reader.buffered))
        assert results[0] == results[1]


def test_packed_double_values_read_the_same() -> None:
    need_both()
    values = [0.0, -0.0, 1e300, -1.5, float("inf")]
    body = (
        ld(1, b"d")
        + b"\x10\x03"
        + ld(7, b"".join(struct.pack("<d", v) for v in values[:3]))
        + b"\x39"
        + struct.pack("<d", values[3])
        + ld(7, struct.pack("<d", values[4]))
    )
    data = ld(10, body)
    for mod in (_purepath, FAST):
        v = mod.MessageView(data)
        got = [v.field_value(0, a) for a in range(v.field_len(0))]
        assert [struct.pack("<d", g) for g in got] == [
            struct.pack("<d", x) for x in values
        ]
