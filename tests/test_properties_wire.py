"""Property tests for the message model, the view and the reader."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hekapy import DecodeError, Field, Message, Signer, _purepath, frame

try:
    from hekapy import _fastpath
    TWINS = [_purepath, _fastpath]
except ImportError:  # pragma: no cover - pure-only installs
    TWINS = [_purepath]

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(max_size=20)
FLOATS = st.floats(allow_nan=False)


def _field() -> st.SearchStrategy[Field]:
    values = st.one_of(
        st.lists(TEXT, min_size=1, max_size=3),
        st.lists(st.binary(max_size=10), min_size=1, max_size=3),
        st.lists(INT64, min_size=1, max_size=3),
        st.lists(FLOATS, min_size=1, max_size=3),
        st.lists(st.booleans(), min_size=1, max_size=3),
    )
    return st.builds(Field, TEXT, values, representation=TEXT)


MESSAGES = st.builds(
    Message,
    uuid=st.none() | st.binary(min_size=16, max_size=16),
    timestamp=st.none() | INT64, type=st.none() | TEXT,
    logger=st.none() | TEXT, severity=st.none() | INT32,
    payload=st.none() | TEXT, env_version=st.none() | TEXT,
    pid=st.none() | INT32, hostname=st.none() | TEXT,
    fields=st.lists(_field(), max_size=4))


@given(MESSAGES)
def test_encode_decode_round_trip(m: Message) -> None:
    data = m.encode()
    back = Message.decode(data)
    assert back == m
    assert back.encode() == data


@given(MESSAGES)
def test_views_read_what_was_written(m: Message) -> None:
    data = m.encode()
    for mod in TWINS:
        v = mod.MessageView(data)
        assert (v.timestamp, v.severity, v.pid) == \
            (m.timestamp, m.severity, m.pid)
        assert v.uuid == m.uuid
        for i, f in enumerate(m.fields):
            got = [v.field_value(i, ai) for ai in range(v.field_len(i))]
            if f.value_type == 0:
                got = [g.decode("utf-8", "surrogateescape") for g in got]
            assert got == f.values


def _outcome(fn, data: bytes):
    try:
        return ("ok", fn(data))
    except DecodeError as exc:
        return ("error", str(exc), exc.offset)


def _view_values(mod, data: bytes):
    v = mod.MessageView(data)
    return (v.uuid, v.timestamp, v.type, v.logger, v.severity, v.payload,
            v.env_version, v.pid, v.hostname,
            [(v.field_name(i), v.field_type(i), v.field_representation(i),
              [v.field_value(i, a) for a in range(v.field_len(i))])
             for i in range(v.field_count())])


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoders(data: bytes) -> None:
    outcomes = [_outcome(lambda d, m=mod: _view_values(m, d), data)
                for mod in TWINS]
    assert all(o == outcomes[0] for o in outcomes)
    decoded = _outcome(Message.decode, data)
    assert decoded[0] == outcomes[0][0]


@settings(max_examples=300)
@given(st.lists(st.one_of(
    st.binary(max_size=60).map(frame),
    st.binary(max_size=30).map(
        lambda b: frame(b, Signer("s", "k", 1, "sha1"))),
    st.binary(max_size=12)), max_size=8),
    st.lists(st.integers(1, 80), min_size=1, max_size=10))
def test_any_chunking_gives_the_same_records(parts, cuts) -> None:
    stream = b"".join(parts)
    for mod in TWINS:
        whole = mod.StreamReader(signers=[Signer("s", "k", 1)])
        expected = [(r.message, r.signer, r.offset)
                    for r in whole.feed(stream)]
        reader = mod.StreamReader(signers=[Signer("s", "k", 1)])
        got, pos, i = [], 0, 0
        while pos < len(stream):
            n = cuts[i % len(cuts)]
            got += [(r.message, r.signer, r.offset)
                    for r in reader.feed(stream[pos:pos + n])]
            pos += n
            i += 1
        assert got == expected
        assert reader.counters == whole.counters


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_arbitrary_streams_never_crash_the_reader(data: bytes) -> None:
    results = []
    for mod in TWINS:
        reader = mod.StreamReader(max_message_size=300)
        recs = [(r.message, r.offset) for r in reader.feed(data)]
        results.append((recs, reader.counters, reader.buffered))
    assert all(r == results[0] for r in results)
