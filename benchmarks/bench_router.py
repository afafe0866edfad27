"""Route a framed file through matchers into Lua filters.

Usage: python benchmarks/bench_router.py [--count N] [--repeat R]
       [--mode inline|threaded|both] [--workload route-1|route-10|all]

Reads a framed file of N nginx messages (about 410 bytes each, made
once under out/ by benchmarks/_data.py) into memory and feeds it to a
``hekapy.Router`` in 1 MiB chunks, with no input plugin in the way:

- route-1: one filter, ``Type == 'nginx.access' && Fields[status] >=
  500``, a Lua sandbox that reads Fields[request_time] and sums it;
- route-10: ten such filters behind ten different matchers (header and
  field tests, regexes anchored and not, one that never matches).

Each workload runs with the filters inline (on the feeding thread) and
threaded (each filter on its own worker).  The yardstick, measured in
the same run on the same messages, is protobuf's ``FromString``.  Each
figure is the median of R runs; CPU is process time (all threads) per
million messages, and the last column compares CPU time, which other
processes on a busy machine disturb less than wall time.  The Lua sums
are checked against Python's.
``--lua-work N`` adds N iterations of a pure-Lua loop to every filter
call, to show where running filters on worker threads starts to pay.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
from _proto import HekaMessage, backend

from hekapy import EXTENSION_LOADED, Message, Pack, Router
from hekapy.plugins import Output
from hekapy.sandbox import SandboxFilter

OUT = Path(__file__).resolve().parent.parent / "out"
CHUNK = 1 << 20

SUM_LUA = """
require "string"

local sum = 0
local work = WORK
function process_message()
    local rt = read_message("Fields[request_time]")
    if rt then sum = sum + rt end
    local x = 0
    for i = 1, work do x = x + i % 7 end
    return 0
end
function timer_event(ns)
    inject_payload("txt", "sum", string.format("%.6f", sum))
end
"""

ROUTE_1 = "Type == 'nginx.access' && Fields[status] >= 500"
ROUTE_10 = [
    ROUTE_1,
    "Fields[status] == 404",
    "Hostname == 'web03.example.net'",
    "Logger == 'nginx' && Severity < 5",
    "Fields[method] == 'POST' || Fields[method] == 'PUT'",
    "Fields[request_time] > 1.0",
    "Payload =~ /Googlebot/",
    "Fields[path] =~ /^\\/api\\//",
    "Type == 'nginx.error'",
    "Fields[user_agent] =~ /curl/ && Fields[status] != 200",
]


class Sums(Output):
    """Keeps the sums the filters report on shutdown."""

    def __init__(self) -> None:
        super().__init__("sums")
        self.sums: dict[str, float] = {}

    def process_message(self, pack: Pack) -> None:
        m = pack.message
        self.sums[m.logger or ""] = float(m.payload or "nan")


def run_router(
    data: bytes,
    matchers: list[str],
    threaded: bool,
    work: int = 0,
) -> tuple[int, dict[str, float], dict[str, Any]]:
    router = Router(queue_size=100)
    sums = Sums()
    for i, expr in enumerate(matchers):
        f = SandboxFilter(
            f"f{i}", {"source": SUM_LUA.replace("WORK", str(work))}
        )
        router.add_filter(
            f, expr, threaded=threaded, timer_event_on_shutdown=True
        )
    router.add_output(sums, "Type == 'heka.sandbox-output'")
    feed = router.feed
    n = 0
    for pos in range(0, len(data), CHUNK):
        n += feed(data[pos : pos + CHUNK])
    router.drain()
    report = router.report()
    router.close()
    return n, sums.sums, report


def expected_sums(
    messages: list[bytes],
    matchers: list[str],
) -> list[float]:
    from hekapy.matcher import Matcher

    compiled = [Matcher(e) for e in matchers]
    out = [0.0] * len(matchers)
    for raw in messages:
        m = Message.decode(raw)
        for i, c in enumerate(compiled):
            if c.matches(raw):
                out[i] += m.field("request_time")
    return out


def timed(
    fn: Callable[[], int],
    repeat: int,
) -> tuple[float, float, float]:
    rates, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        w1, c1 = time.perf_counter(), time.process_time()
        rates.append(n / (w1 - w0))
        cpus.append((c1 - c0) / n * 1e6)
    return statistics.median(rates), statistics.median(cpus), min(rates)


def from_string(messages: list[bytes]) -> int:
    parse = HekaMessage.FromString
    for m in messages:
        parse(m)
    return len(messages)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--mode", choices=("inline", "threaded", "both"), default="both"
    )
    ap.add_argument(
        "--workload", choices=("route-1", "route-10", "all"), default="all"
    )
    ap.add_argument(
        "--check",
        type=int,
        default=20_000,
        help="messages whose Lua sums are checked",
    )
    ap.add_argument(
        "--lua-work",
        type=int,
        default=0,
        help="extra pure-Lua loop iterations per call, to "
        "see when worker threads pay",
    )
    args = ap.parse_args(argv)

    data = _data.framed_file(args.count, OUT).read_bytes()
    from hekapy import StreamReader

    messages = [r.message for r in StreamReader().feed(data)]
    assert len(messages) == args.count

    workloads = {"route-1": [ROUTE_1], "route-10": ROUTE_10}
    if args.workload != "all":
        workloads = {args.workload: workloads[args.workload]}
    modes = ["inline", "threaded"] if args.mode == "both" else [args.mode]

    small = data[: sum(len(m) + 6 for m in messages[: args.check]) + 64]
    for name, matchers in workloads.items():
        want = expected_sums(messages[: args.check], matchers)
        for mode in modes:
            _, got, _ = run_router(
                small, matchers, mode == "threaded", args.lua_work
            )
            for i, w in enumerate(want):
                g = got.get(f"f{i}", 0.0)
                assert abs(g - w) < 1e-3 * max(1.0, w), (name, mode, i)

    rows = [
        (
            "FromString (protobuf " + backend() + ")",
            timed(lambda: from_string(messages), args.repeat),
        )
    ]
    reports = {}
    for name, matchers in workloads.items():
        for mode in modes:

            def once(
                m: list[str] = matchers,
                t: bool = mode == "threaded",
                key: str = f"{name} {mode}",
            ) -> int:
                n, _, rep = run_router(data, m, t, args.lua_work)
                reports[key] = rep
                return n

            rows.append((f"{name} {mode}", timed(once, args.repeat)))

    yard, yard_cpu = rows[0][1][0], rows[0][1][1]
    print(
        f"{args.count:,} messages, {len(data) / args.count:.0f} bytes a "
        f"record, median of {args.repeat} runs, fast path "
        f"{'compiled' if EXTENSION_LOADED else 'pure'}, "
        f"{args.lua_work} extra Lua iterations a call"
    )
    print(
        f"{'workload':28} {'msg/s':>11} {'min':>11} {'CPU s/M':>8} "
        f"{'x FromString':>12} {'(by CPU)':>9}"
    )
    for label, (rate, cpu, lo) in rows:
        print(
            f"{label:28} {rate:11,.0f} {lo:11,.0f} {cpu:8.2f} "
            f"{rate / yard:12.2f} {yard_cpu / cpu:9.2f}"
        )
    for key, rep in reports.items():
        hits = sum(
            p["processed"] for n, p in rep["plugins"].items() if n != "sums"
        )
        wait = rep["router"]["wait_seconds"]
        print(f"{key}: {hits:,} filter calls, router waited {wait:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
