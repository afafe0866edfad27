"""Split and index a framed file, against protobuf's FromString.

Usage: python benchmarks/bench_split.py [--count N] [--repeat R]

Reads a framed file of N nginx messages (about 410 bytes each, made once
under out/) and reports records per second for:

- split: StreamReader alone (compiled fast path, and the pure twin on a
  tenth of the records);
- split + index: StreamReader plus a MessageView of every record;
- FromString: protobuf's ``Message.FromString`` on the same records, the
  yardstick, measured in the same run.

Each figure is the median of R runs; the spread is min-max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
from _proto import HekaMessage, backend

from hekapy import _fastpath, _purepath

CHUNK = 1 << 20


def split(mod, data: bytes) -> int:
    """Records found and checked, not copied out."""
    reader = mod.StreamReader()
    n = 0
    for pos in range(0, len(data), CHUNK):
        n += reader.count(data[pos:pos + CHUNK])
    return n


def split_records(mod, data: bytes) -> int:
    """Records copied out as Record objects with their own bytes."""
    reader = mod.StreamReader()
    n = 0
    for pos in range(0, len(data), CHUNK):
        n += len(reader.feed(data[pos:pos + CHUNK]))
    return n


def split_index(mod, data: bytes) -> int:
    """A MessageView re-pointed at every record, as the router does."""
    reader = mod.StreamReader()
    view = mod.MessageView(b"")
    n = 0
    for pos in range(0, len(data), CHUNK):
        for _ in reader.iter_views(data[pos:pos + CHUNK], view):
            n += 1
    return n


def split_index_copy(mod, data: bytes) -> int:
    """Records copied out, then a new MessageView of each."""
    reader = mod.StreamReader()
    view_class = mod.MessageView
    n = 0
    for pos in range(0, len(data), CHUNK):
        for rec in reader.feed(data[pos:pos + CHUNK]):
            view_class(rec.message)
            n += 1
    return n


def from_string(messages: list[bytes]) -> int:
    parse = HekaMessage.FromString
    for m in messages:
        parse(m)
    return len(messages)


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, float, float]:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    path = _data.framed_file(args.count)
    data = path.read_bytes()
    messages = [r.message for r in _fastpath.StreamReader().feed(data)]
    assert len(messages) == args.count
    small = data[:len(data) // 10]

    rows = [
        ("split (fast path)", timed(lambda: split(_fastpath, data),
                                    args.repeat)),
        ("split (pure twin)", timed(lambda: split(_purepath, small),
                                    max(1, args.repeat // 2))),
        ("split, records copied out", timed(
            lambda: split_records(_fastpath, data), args.repeat)),
        ("split + index (fast path)",
         timed(lambda: split_index(_fastpath, data), args.repeat)),
        ("split + index, copied out", timed(
            lambda: split_index_copy(_fastpath, data), args.repeat)),
        ("FromString (protobuf " + backend() + ")",
         timed(lambda: from_string(messages), args.repeat)),
    ]
    yard = rows[-1][1][0]
    print(f"{args.count} messages, {len(data) / args.count:.0f} bytes "
          f"a record, median of {args.repeat} runs")
    print(f"{'workload':34} {'records/s':>12} {'spread':>23} "
          f"{'x FromString':>12}")
    for name, (med, lo, hi) in rows:
        print(f"{name:34} {med:12,.0f} {lo:11,.0f}-{hi:<11,.0f} "
              f"{med / yard:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
