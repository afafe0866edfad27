"""Stream framing: golden records, Heka's resync rules, signatures.

Every reader test runs against both twins (the ``impl`` fixture) and
feeds the stream three ways: whole, one byte at a time, and with a
trailing incomplete record.
"""

from __future__ import annotations

import pytest
from _vectors import GOLDEN, MD5_HEADER, R67, SHA1_HEADER

import hekapy
from hekapy import FramingError, Signer, frame
from hekapy._signing import encode_header

SIGNER = Signer("test", "testkey", 1)
SIGNER_SHA1 = Signer("test", "testkey", 1, hash="sha1")
MSG62 = R67[5:]


def read_all(impl, data: bytes, **kw):
    """Records and counters, asserting whole and bytewise feeds agree."""
    whole = impl.StreamReader(**kw)
    records = whole.feed(data)
    bytewise = impl.StreamReader(**kw)
    single = [r for b in data for r in bytewise.feed(bytes((b,)))]
    assert [(r.message, r.signer, r.offset) for r in single] == \
        [(r.message, r.signer, r.offset) for r in records]
    assert bytewise.counters == whole.counters
    return records, whole


def test_unsigned_golden_record() -> None:
    rec = frame(GOLDEN)
    assert rec == bytes.fromhex("1e02085f1f") + GOLDEN
    assert len(rec) == 100


def test_md5_golden_record() -> None:
    rec = frame(GOLDEN, SIGNER)
    assert rec == b"\x1e\x1c" + MD5_HEADER + b"\x1f" + GOLDEN
    assert len(rec) == 126


def test_sha1_golden_record() -> None:
    rec = frame(GOLDEN, SIGNER_SHA1)
    assert rec == b"\x1e\x22" + SHA1_HEADER + b"\x1f" + GOLDEN
    assert len(rec) == 132


def test_frame_refuses_oversized_and_long_headers() -> None:
    with pytest.raises(FramingError, match="larger than max_message_size"):
        frame(b"x" * 11, max_message_size=10)
    with pytest.raises(FramingError, match="larger than 255 bytes"):
        frame(b"x", Signer("s" * 250, "k"))


def test_splitter_sequence(impl) -> None:
    stream = R67 + R67 + b"BOGUS" + R67 + b"BOGUS" + b"\x1e\x02\x08"
    records, reader = read_all(impl, stream)
    assert [r.offset for r in records] == [0, 67, 139]
    assert all(r.message == MSG62 for r in records)
    assert reader.counters["garbage_bytes"] == 10
    assert reader.buffered == 3
    assert reader.buffered_offset == len(stream) - 3


def test_length_too_short_truncates_then_resyncs(impl) -> None:
    short = R67[:3] + b"\x34" + R67[4:]  # says 52 instead of 62
    records, reader = read_all(impl, short + R67)
    assert [len(r.message) for r in records] == [52, 62]
    assert records[1].offset == 67
    assert reader.counters["garbage_bytes"] == 10


def test_length_too_long_swallows_the_next_record(impl) -> None:
    long = R67[:3] + b"\x48" + R67[4:]  # says 72 instead of 62
    records, reader = read_all(impl, long + R67 + R67)
    assert [len(r.message) for r in records] == [72, 62]
    assert records[0].message == MSG62 + R67[:10]
    assert reader.counters["garbage_bytes"] == 57


def test_oversized_header_skips_one_byte(impl) -> None:
    big = b"\x1e\x04\x08\x80\x80\x08\x1f" + MSG62
    records, reader = read_all(impl, big + R67)
    assert [r.message for r in records] == [MSG62]
    assert reader.counters["oversized"] == 1
    assert records[0].offset == len(big)


def test_partial_header_still_frames(impl) -> None:
    rec = b"\x1e\x03\x08\x05\x18\x1f" + b"abcde"
    records, _ = read_all(impl, rec)
    assert [r.message for r in records] == [b"abcde"]


def test_missing_unit_separator_is_a_bad_header(impl) -> None:
    bad = b"\x1e\x02\x08\x3e\x00" + MSG62
    records, reader = read_all(impl, bad + R67)
    assert [r.offset for r in records] == [len(bad)]
    assert reader.counters["bad_headers"] == 1


def test_max_message_size_is_enforced(impl) -> None:
    records, reader = read_all(impl, frame(b"x" * 100) + R67,
                               max_message_size=80)
    assert [r.message for r in records] == [MSG62]
    assert reader.counters["oversized"] == 1


@pytest.mark.parametrize("signer", [SIGNER, SIGNER_SHA1])
def test_signed_records_verify(impl, signer) -> None:
    records, reader = read_all(impl, frame(GOLDEN, signer),
                               signers=[SIGNER])
    assert [(r.message, r.signer) for r in records] == [(GOLDEN, "test")]
    assert reader.counters["auth_failures"] == 0


def _signed_with_header(header: bytes, message: bytes = GOLDEN) -> bytes:
    return b"\x1e" + bytes((len(header),)) + header + b"\x1f" + message


@pytest.mark.parametrize("record", [
    frame(GOLDEN, Signer("test", "wrongkey", 1)),
    frame(GOLDEN, Signer("other", "testkey", 1)),
    frame(GOLDEN, Signer("test", "testkey", 2)),
    # A signer named without any HMAC (Go accepted this unchecked).
    _signed_with_header(bytes.fromhex("085f22047465737428 01".replace(
        " ", ""))),
    # A short header naming a signer (Go skipped headers <= 13 bytes).
    _signed_with_header(bytes.fromhex("085f220161")),
    # An HMAC with no signer.
    _signed_with_header(bytes.fromhex("085f3201aa")),
    # An unknown hash function.
    _signed_with_header(MD5_HEADER[:2] + b"\x18\x07" + MD5_HEADER[2:]),
], ids=["bad-key", "unknown-signer", "unknown-version", "no-hmac",
        "short-header", "no-signer", "unknown-hash"])
def test_failed_authentication_drops_and_counts(impl, record) -> None:
    records, reader = read_all(impl, record + R67, signers=[SIGNER])
    assert [r.message for r in records] == [MSG62]
    assert reader.counters["auth_failures"] == 1


def test_skip_authentication_accepts_unchecked(impl) -> None:
    bad = frame(GOLDEN, Signer("test", "wrongkey", 1))
    records, reader = read_all(impl, bad, skip_authentication=True)
    assert [(r.message, r.signer) for r in records] == [(GOLDEN, None)]
    assert reader.counters["auth_failures"] == 0


def test_signer_key_may_be_bytes() -> None:
    assert frame(GOLDEN, Signer("test", b"testkey", 1)) == \
        frame(GOLDEN, SIGNER)
    assert encode_header(5) == b"\x08\x05"


def test_iter_views_and_count_agree_with_feed(impl) -> None:
    stream = R67 + b"junk" + frame(GOLDEN, SIGNER) + R67[:30]
    ref = impl.StreamReader(signers=[SIGNER])
    expected = [(r.message, r.signer, r.offset) for r in ref.feed(stream)]
    reader = impl.StreamReader(signers=[SIGNER])
    view = impl.MessageView(b"")
    seen = [(v.raw, reader.last_signer, reader.last_offset)
            for v in reader.iter_views(stream, view)]
    assert seen == expected
    assert reader.buffered == 30
    counter = impl.StreamReader(signers=[SIGNER])
    assert counter.count(stream) == len(expected)
    assert counter.counters == ref.counters


def test_large_chunks_split_like_small_ones(impl) -> None:
    records = [frame(bytes([n % 251]) * (n * 37 % 3000)) for n in range(60)]
    stream = b"".join(records)
    whole = impl.StreamReader().feed(stream)
    reader = impl.StreamReader(max_message_size=4000)
    pieces = []
    for size in (5000, 1, 4300, 17, 90000):
        pieces.append(stream[:size])
        stream = stream[size:]
    pieces.append(stream)
    got = [r for p in pieces for r in reader.feed(p)]
    assert [(r.message, r.offset) for r in got] == \
        [(r.message, r.offset) for r in whole]


def test_public_names_are_the_chosen_twin() -> None:
    from hekapy import _impl

    assert hekapy.StreamReader is _impl.impl.StreamReader


def test_a_chunk_fed_while_one_is_scanned_is_refused(impl) -> None:
    reader = impl.StreamReader()
    data = frame(b"\x1a\x01a") + frame(b"\x1a\x01b")
    views = reader.iter_views(data, impl.MessageView(b"\x1a\x01x"))
    first = next(views)
    assert first.type == b"a"
    with pytest.raises(RuntimeError, match="already scanning"):
        reader.feed(frame(b"\x1a\x01c"))
    assert [v.type for v in views] == [b"b"]
    assert [r.message for r in reader.feed(frame(b"\x1a\x01c"))] == [
        b"\x1a\x01c"]
