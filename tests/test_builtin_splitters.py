"""Built-in splitters: records, limits, incomplete finals, signers."""

from __future__ import annotations

import pytest

from hekapy import ConfigError, Message, Signer, frame
from hekapy.plugins.splitters import (
    HekaFramingSplitter,
    NullSplitter,
    RegexSplitter,
    TokenSplitter,
)


def feed_all(splitter: object, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for c in chunks:
        out.extend(splitter.feed(c))  # type: ignore[attr-defined]
    out.extend(splitter.finish())  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize(
    "chunks",
    [
        [b"a\nbb\nccc\n"],
        [b"a", b"\nb", b"b\ncc", b"c\n"],
        [bytes([c]) for c in b"a\nbb\nccc\n"],
    ],
)
def test_token_splitter_keeps_delimiter(chunks: list[bytes]) -> None:
    assert feed_all(TokenSplitter("t"), chunks) == [b"a\n", b"bb\n", b"ccc\n"]


def test_token_splitter_count_and_delimiter() -> None:
    s = TokenSplitter("t", {"delimiter": "|", "count": 2})
    assert feed_all(s, [b"a|b|c|", b"d|e"]) == [b"a|b|", b"c|d|"]


def test_token_splitter_incomplete_final() -> None:
    assert feed_all(TokenSplitter("t"), [b"a\nb"]) == [b"a\n"]
    s = TokenSplitter("t", {"deliver_incomplete_final": True})
    assert feed_all(s, [b"a\nb"]) == [b"a\n", b"b"]


@pytest.mark.parametrize(
    "bad", [{"delimiter": "ab"}, {"delimiter": ""}, {"count": 0}]
)
def test_token_splitter_bad_config(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TokenSplitter("t", bad)


@pytest.mark.parametrize("step", [1000, 70_000, 10_000_000])
def test_token_splitter_drops_oversized_record(step: int) -> None:
    s = TokenSplitter("t")
    data = b"ok1\n" + b"x" * 5_000_000 + b"\nok2\n"
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    assert feed_all(s, chunks) == [b"ok1\n", b"ok2\n"]
    assert s.counters["oversized"] == 1
    assert s.buffered == 0


def test_token_splitter_keep_truncated() -> None:
    s = TokenSplitter("t", {"keep_truncated": True})
    s.max_message_size = 2000
    out = feed_all(s, [b"y" * 5000 + b"\nz\n"])
    assert out == [b"y" * s.max_record_size, b"z\n"]
    assert s.counters["truncated"] == 1


def test_regex_splitter_end_of_line_capture() -> None:
    s = RegexSplitter("r", {"delimiter": r"(\n\n+)"})
    out = feed_all(s, [b"p1\nx\n\np2", b"\n\n\np3"])
    assert out == [b"p1\nx\n\n", b"p2\n\n\n"]


def test_regex_splitter_start_of_record_capture() -> None:
    s = RegexSplitter(
        "r",
        {
            "delimiter": r"\n(\d+ )",
            "delimiter_eol": False,
            "deliver_incomplete_final": True,
        },
    )
    out = feed_all(s, [b"1 a\n cont\n2 b", b"\n3 c"])
    assert out == [b"1 a\n cont", b"2 b", b"3 c"]


def test_regex_splitter_without_group_drops_delimiter() -> None:
    s = RegexSplitter("r", {"delimiter": r"--+"})
    assert feed_all(s, [b"a---b--", b"c-"]) == [b"a", b"b"]


@pytest.mark.parametrize("pattern", ["(a)(b)", "(unclosed"])
def test_regex_splitter_bad_delimiter(pattern: str) -> None:
    with pytest.raises(ConfigError):
        RegexSplitter("r", {"delimiter": pattern})


def test_null_splitter_one_record_per_chunk() -> None:
    s = NullSplitter("n")
    assert feed_all(s, [b"abc", b"", b"de"]) == [b"abc", b"de"]
    assert s.config["min_buffer_size"] == 65536


def test_null_splitter_oversized() -> None:
    s = NullSplitter("n")
    assert s.feed(b"x" * 70_000) == []
    assert s.counters["oversized"] == 1


def _records() -> list[bytes]:
    return [Message.new(type="t", payload=str(i)).encode() for i in range(3)]


def test_framing_splitter_records_and_signers() -> None:
    good = Signer("ops", "k", 2, "sha1")
    m = _records()
    s = HekaFramingSplitter("h", {"signer": {"ops_2": {"hmac_key": "k"}}})
    data = (
        frame(m[0])
        + b"junk"
        + frame(m[1], good)
        + frame(m[2], Signer("ops", "wrong", 2))
    )
    out = feed_all(s, [data[i : i + 7] for i in range(0, len(data), 7)])
    assert out == [m[0], m[1]]
    assert [r.signer for r in out] == [None, "ops"]  # type: ignore
    assert s.reader.counters["auth_failures"] == 1
    assert s.reader.counters["garbage_bytes"] == 4
    assert s.config["use_message_bytes"] is True


def test_framing_splitter_skip_authentication() -> None:
    m = _records()
    s = HekaFramingSplitter("h", {"skip_authentication": True})
    out = s.feed(frame(m[0], Signer("x", "y", 1)))
    assert out == [m[0]] and out[0].signer is None  # type: ignore


def test_framing_splitter_buffered_counts_partial_record() -> None:
    s = HekaFramingSplitter("h")
    rec = frame(_records()[0])
    assert s.feed(rec[:10]) == []
    assert s.buffered == 10


@pytest.mark.parametrize(
    "table",
    [
        {"ops": {"hmac_key": "k"}},
        {"ops_x": {"hmac_key": "k"}},
        {"ops_1": {"key": "k"}},
        {"ops_1": {"hmac_key": "k", "extra": 1}},
    ],
)
def test_framing_splitter_bad_signer_tables(
    table: dict[str, object],
) -> None:
    with pytest.raises(ConfigError):
        HekaFramingSplitter("h", {"signer": table})
