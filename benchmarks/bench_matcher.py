"""Matcher evaluation cost, in nanoseconds per message.

Run: ``PYTHONPATH=. python benchmarks/bench_matcher.py [--pure]``

Each row matches the raw bytes of one 300-byte message with 8 fields,
so the time includes indexing the bytes into a MessageView; the
"view given" column matches an already built view, which isolates the
matcher.  Both columns pay for one Python call per message.  The
"C loop" column runs the same evaluation over a list of raw messages
inside the compiled loop (``count_matching``), re-pointing one view at
each as the router's hot loop does: indexing plus evaluation, without
the Python call.  Each number is the median of several runs of many
calls.
``--pure`` measures the pure-Python twin instead of the compiled one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any

RUNS = 7

SET_OF_TEN = [
    ("Type == 'nginx.access'", "heka"),
    ("Type == 'nginx.error' && Severity <= 3", "heka"),
    ("Fields[status] >= 500", "heka"),
    ("Fields[status] == 404 || Fields[status] == 403", "heka"),
    ("Logger == 'nginx' && Fields[request] =~ /^GET /", "heka"),
    ("Hostname == 'web-01' && Type == 'nginx.access'", "heka"),
    ("Type != 'heka.counter-output'", "heka"),
    ("Type == 'heka.sandbox-terminated'", "heka"),
    ("Fields[bytes] > 1000000", "heka"),
    ("Type == 'nginx.access' && Fields[cached] == TRUE", "lua_sandbox"),
]


def _message() -> bytes:
    from hekapy import Field, Message

    fields = [
        Field("status", 200), Field("request", "GET /index.html"),
        Field("bytes", 5123), Field("remote_addr", "192.168.1.17"),
        Field("user_agent", "curl/7.68"), Field("request_time", 0.0123),
        Field("cached", True), Field("upstream", "10.0.0.5"),
    ]
    msg = Message(
        uuid=bytes(range(16)), timestamp=1428773426113040228,
        type="nginx.access", logger="nginx", severity=6,
        env_version="0.8", pid=4242, hostname="web-01", fields=fields,
        payload="")
    line = ("192.168.1.17 - - [11/Apr/2015:17:30:26 +0000] "
            "\"GET /index.html HTTP/1.1\" 200 5123 ") * 4
    size = 300 - len(msg.encode())
    while size > 0:
        msg.payload = line[:size]
        if len(msg.encode()) <= 300:
            break
        size -= 1
    return msg.encode()


def _ns(call: Callable[[], Any], number: int) -> float:
    times = timeit.repeat(call, number=number, repeat=RUNS)
    return statistics.median(times) / number * 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pure", action="store_true",
                        help="measure the pure-Python twin")
    parser.add_argument("--number", type=int, default=0,
                        help="calls per run (default: by twin)")
    args = parser.parse_args(argv)
    if args.pure:
        os.environ["HEKAPY_NO_EXTENSIONS"] = "1"

    import hekapy
    from hekapy import Matcher, MatcherSet, MessageView

    number = args.number or (20000 if args.pure else 300000)
    raw = _message()
    view = MessageView(raw)
    twin = "compiled" if hekapy.EXTENSION_LOADED else "pure Python"
    print(f"hekapy matcher, {twin} twin; message {len(raw)} bytes, "
          f"{view.field_count()} fields; median of {RUNS} runs of "
          f"{number} calls")
    print(f"{'case':<44} {'ns/msg':>9} {'view given':>11} "
          f"{'C loop':>8}")
    batch = [raw] * number
    regex = "Payload =~ /HTTP\\/1\\.[01]\" 5\\d\\d/"
    rows: list[tuple[str, Any, bool]] = [
        ("TRUE", Matcher("TRUE"), False),
        ("Type == 'x' && Severity == 6",
         Matcher("Type == 'x' && Severity == 6"), False),
        ("Fields[status] >= 500", Matcher("Fields[status] >= 500"), False),
        (regex, Matcher(regex), False),
        ("MatcherSet of 10 plugin matchers",
         MatcherSet([Matcher(e, d) for e, d in SET_OF_TEN]), True),
    ]
    print(f"{'MessageView(raw) alone':<44} "
          f"{_ns(lambda: MessageView(raw), number):>9.0f} {'':>11}")
    for label, prog, every in rows:
        call = prog.matches
        on_raw = _ns(lambda call=call: call(raw), number)
        on_view = _ns(lambda call=call: call(view), number)
        loop = _ns(lambda p=prog, e=every: p.count_matching(batch, e), 1)
        loop /= number
        print(f"{label:<44} {on_raw:>9.0f} {on_view:>11.0f} {loop:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
