"""hekapy-cat on real streams and on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _vectors import R67
from conftest import STREAMS

from hekapy import Message, StreamReader, frame

MULTI = STREAMS / "heka" / "multi.dat"


def cat(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hekapy.cli.cat", *args], input=stdin,
        capture_output=True, timeout=60)


def test_count_of_every_real_stream() -> None:
    files = sorted(str(p) for p in STREAMS.glob("*/*"))
    res = cat("-format", "count", *files)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip() == "87"


def test_txt_shows_headers_and_fields() -> None:
    res = cat(str(MULTI))
    text = res.stdout.decode()
    assert res.returncode == 0
    assert text.count("-- record at byte") == 50
    assert ":Type: heka.httpdata.request" in text
    assert "UserAgent STRING: curl/7.37.1" in text


def test_json_lines_parse() -> None:
    res = cat("-format", "json", str(MULTI))
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert len(rows) == 50
    assert rows[0]["offset"] == 0
    assert rows[0]["logger"] == "TestInput"


def test_heka_format_reframes_identically() -> None:
    res = cat("-format", "heka", str(MULTI))
    assert res.stdout == MULTI.read_bytes()


def test_stdin_and_offset() -> None:
    data = MULTI.read_bytes()
    assert cat("-format", "count", stdin=data).stdout.strip() == b"50"
    first = StreamReader().feed(data)[1].offset
    res = cat("-format", "count", "-offset", str(first), str(MULTI))
    assert res.stdout.strip() == b"49"


def test_match_selects_messages() -> None:
    files = sorted(str(p) for p in STREAMS.glob("*/*"))
    res = cat("-format", "count", "-match", "Type == 'json.raw'", *files)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == b"8"


def test_bad_match_expression_is_refused() -> None:
    res = cat("-match", "Type == 'x' &&", str(MULTI))
    assert res.returncode == 2
    assert res.stderr.decode().startswith("hekapy-cat: -match: ")
    assert "column" in res.stderr.decode()
    assert res.stdout == b""


def test_truncated_file_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "t.hpb"
    path.write_bytes(R67 * 3 + R67[:40])
    res = cat("-format", "count", str(path))
    assert res.returncode == 1
    assert res.stdout.strip() == b"3"
    err = res.stderr.decode().strip()
    assert err == (f"hekapy-cat: {path}: truncated record at byte 201: "
                   "40 byte(s) left unread")


def test_random_bytes_file(tmp_path: Path) -> None:
    path = tmp_path / "r.bin"
    path.write_bytes(os.urandom(20000).replace(b"\x1e", b"\x00"))
    res = cat(str(path))
    assert res.returncode == 1
    lines = res.stderr.decode().splitlines()
    assert lines == [f"hekapy-cat: {path}: no records found; 20000 "
                     "byte(s) discarded"]


def test_four_gib_record_is_refused_and_the_rest_read(tmp_path: Path
                                                      ) -> None:
    path = tmp_path / "big.hpb"
    header = b"\x08\xff\xff\xff\xff\x0f"
    path.write_bytes(b"\x1e\x06" + header + b"\x1f" + b"x" * 64 + R67)
    res = cat("-format", "count", str(path))
    assert res.returncode == 1
    assert res.stdout.strip() == b"1"
    assert "1 record(s) larger than -maxsize 4194304" in \
        res.stderr.decode()
    assert len(res.stderr.decode().splitlines()) == 1


def test_undecodable_record_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.hpb"
    good = Message(type="ok").encode()
    path.write_bytes(frame(b"\x0a\x10") + frame(good))
    res = cat("-format", "count", str(path))
    assert res.returncode == 1
    assert res.stdout.strip() == b"1"
    assert "record at byte 0 does not decode" in res.stderr.decode()


def test_missing_file(tmp_path: Path) -> None:
    res = cat(str(tmp_path / "nope"))
    assert res.returncode == 1
    assert b"No such file or directory" in res.stderr


def test_txt_shows_the_default_severity_when_absent(tmp_path: Path) -> None:
    from hekapy.cli.cat import format_txt

    text = format_txt(Message(type="t"), 0, None)
    assert ":Severity: 7\n" in text
    assert ":Severity: 3\n" in format_txt(Message(severity=3), 0, None)
