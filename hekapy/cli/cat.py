"""hekapy-cat: read framed Heka streams and show their messages.

Usage: hekapy-cat [-match EXPR] [-format txt|json|heka|count]
                  [-offset N] [-tail] [-maxsize N] [FILE ...]

With no FILE, or with ``-``, standard input is read.  Every complete
record is shown before any problem is reported, so nothing already read
is lost; discarded bytes, oversized or undecodable records and a
truncated final record are each reported in one line on standard error
and make the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import IO, Any, BinaryIO

from hekapy import DecodeError, HekaError, Message, StreamReader, frame
from hekapy._message import VALUE_TYPE_NAMES

CHUNK = 1 << 20
PROG = "hekapy-cat"


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog=PROG, description="Show the messages of framed Heka streams.")
    ap.add_argument("-match", "--match", default="TRUE",
                    help="message_matcher expression (default TRUE)")
    ap.add_argument("-dialect", "--dialect", default="heka",
                    choices=("heka", "lua_sandbox"),
                    help="matcher dialect (default heka)")
    ap.add_argument("-format", "--format", default="txt",
                    choices=("txt", "json", "heka", "count"))
    ap.add_argument("-offset", "--offset", type=int, default=0,
                    help="start reading the first file at this byte")
    ap.add_argument("-tail", "--tail", action="store_true",
                    help="keep reading as the last file grows")
    ap.add_argument("-maxsize", "--maxsize", type=_size, default=4 << 20,
                    help="largest message accepted (default 4 MiB)")
    ap.add_argument("files", nargs="*", default=["-"])
    return ap.parse_args(argv)


def _size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 < n <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to 4294967295, got {text!r}")
    return n


def _plain(value: Any) -> Any:
    # JSON has no NaN or infinities: write them as strings.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode(
            "utf-8", "replace")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _timestamp(ns: int | None) -> str:
    if ns is None:
        return ""
    secs, frac = divmod(ns, 1_000_000_000)
    try:
        stamp = datetime.fromtimestamp(secs, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z ({ns})"


def format_txt(m: Message, offset: int, signer: str | None) -> str:
    """A message as readable text, one header or field per line."""
    lines = [f"-- record at byte {offset}"
             + (f", signed by {signer}" if signer else ""),
             f":Uuid: {m.uuid_str}",
             f":Timestamp: {_timestamp(m.timestamp)}"]
    for label, attr in (("Type", "type"), ("Logger", "logger"),
                        ("Severity", "severity"), ("Payload", "payload"),
                        ("EnvVersion", "env_version"), ("Pid", "pid"),
                        ("Hostname", "hostname")):
        value = getattr(m, attr)
        if value is None and attr == "severity":
            value = 7  # Heka's default, as heka-cat shows it
        lines.append(f":{label}: {'' if value is None else _text(value)}")
    lines.append(":Fields:")
    for f in m.fields:
        rep = f" ({_text(f.representation)})" if f.representation else ""
        values = ", ".join(_text(v) for v in f.values)
        lines.append(f"    {_text(f.name)} "
                     f"{VALUE_TYPE_NAMES[f.value_type]}{rep}: {values}")
    return "\n".join(lines) + "\n"


def format_json(m: Message, offset: int, signer: str | None) -> str:
    """A message as one line of JSON."""
    d = m.to_dict()
    out: dict[str, Any] = {"offset": offset, "signer": signer}
    for key, value in d.items():
        out[key] = _text(value) if isinstance(value, str) else value
    for f in out.get("fields", []):
        f["name"] = _text(f["name"])
        f["representation"] = _text(f["representation"])
        f["value"] = [_text(v) if isinstance(v, str) else _plain(v)
                      for v in f["value"]]
    return json.dumps(out, ensure_ascii=False, allow_nan=False) + "\n"


def _chunks(f: BinaryIO, tail: bool) -> Iterator[bytes]:
    # read1 returns what a pipe has now instead of waiting for a full
    # chunk, so records show as they arrive.
    read = getattr(f, "read1", f.read)
    while True:
        data = read(CHUNK)
        if data:
            yield data
        elif tail:
            time.sleep(0.2)
        else:
            return


class Cat:
    """One run: counts and problems across all files."""

    def __init__(self, args: argparse.Namespace, out: IO[str],
                 err: IO[str]) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.matched = 0
        self.problems = 0
        self.matches = _matcher(args.match, args.dialect)

    def problem(self, name: str, text: str) -> None:
        self.problems += 1
        self.err.write(f"{PROG}: {name}: {text}\n")

    def run_file(self, name: str, f: BinaryIO, offset: int,
                 tail: bool) -> None:
        reader = StreamReader(max_message_size=self.args.maxsize,
                              skip_authentication=True)
        reader.feed(b"")
        base = offset
        for chunk in _chunks(f, tail):
            for rec in reader.feed(chunk):
                self.emit(name, rec.message, base + rec.offset, rec.signer)
            self.out.flush()
            if self.args.format == "heka":
                sys.stdout.buffer.flush()
        self.report(name, reader, base)

    def emit(self, name: str, data: bytes, offset: int,
             signer: str | None) -> None:
        try:
            message = Message.decode(data)
            if not self.matches(data):
                return
        except DecodeError as exc:
            self.problem(name, f"record at byte {offset} does not decode: "
                               f"{exc}")
            return
        self.matched += 1
        fmt = self.args.format
        if fmt == "txt":
            self.out.write(format_txt(message, offset, signer))
        elif fmt == "json":
            self.out.write(format_json(message, offset, signer))
        elif fmt == "heka":
            sys.stdout.buffer.write(frame(data))

    def report(self, name: str, reader: Any, base: int) -> None:
        c = reader.counters
        lost = []
        if c["oversized"]:
            lost.append(f"{c['oversized']} record(s) larger than -maxsize "
                        f"{self.args.maxsize}")
        if c["bad_headers"]:
            lost.append(f"{c['bad_headers']} bad record header(s)")
        if c["garbage_bytes"]:
            found = "" if c["records"] else "no records found; "
            detail = f" ({', '.join(lost)})" if lost else ""
            self.problem(name, f"{found}{c['garbage_bytes']} byte(s) "
                               f"discarded{detail}")
        if reader.buffered:
            self.problem(name, f"truncated record at byte "
                               f"{base + reader.buffered_offset}: "
                               f"{reader.buffered} byte(s) left unread")


def _matcher(expression: str, dialect: str) -> Callable[[bytes], bool]:
    if expression.strip() == "TRUE":
        return lambda data: True
    from hekapy.matcher import Matcher

    return Matcher(expression, dialect).matches


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        cat = Cat(args, sys.stdout, sys.stderr)
    except HekaError as exc:
        sys.stderr.write(f"{PROG}: -match: {exc}\n")
        return 2
    try:
        return _run(cat, args)
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly.
        sys.stderr.close()
        return 1


def _run(cat: Cat, args: argparse.Namespace) -> int:
    last = len(args.files) - 1
    for i, name in enumerate(args.files):
        offset = args.offset if i == 0 else 0
        tail = args.tail and i == last
        try:
            if name == "-":
                cat.run_file("<stdin>", sys.stdin.buffer, 0, tail)
                continue
            with open(name, "rb") as f:
                f.seek(offset)
                cat.run_file(name, f, offset, tail)
        except BrokenPipeError:
            raise
        except OSError as exc:
            cat.problem(name, exc.strerror or str(exc))
        except KeyboardInterrupt:
            break
    if args.format == "count":
        print(cat.matched)
    else:
        sys.stdout.flush()
    return 1 if cat.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
