"""Lua sandbox round trips: process_message calls per second.

Run: ``PYTHONPATH=. python benchmarks/bench_sandbox.py [--pure]
[--count N] [--runs R]``

Each row calls ``SandboxFilter.process_message(pack)`` once per message
over a list of distinct packs whose views are already built (the router
builds a pack's view once for matching, before any filter sees it).  The
filters:

- ``one field``: ``sum = sum + read_message("Fields[x]")``
- ``two fields``: the same plus ``Fields[y]``

Yardsticks, in the same run on the same packs, with a plain lupa Lua 5.1
runtime and no sandbox API:

- ``bare call``: a Python loop calling a Lua function that adds 1 to a
  sum (the floor: one Python to Lua call per message);
- ``value passed``: the loop reads ``Fields[x]`` from the view in Python
  and passes it to a Lua function that adds it to the sum.

Numbers are medians of ``--runs`` runs.  ``--pure`` uses the
pure-Python MessageView (reading a field is then the dominant cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

ONE = """
sum = 0
function process_message()
    sum = sum + read_message("Fields[x]")
    return 0
end
"""

TWO = """
sum = 0
function process_message()
    sum = sum + read_message("Fields[x]") + read_message("Fields[y]")
    return 0
end
"""


def _packs(count: int) -> list[Any]:
    from hekapy import Field, Message, Pack
    packs = []
    for i in range(count):
        msg = Message.new(type="bench", logger="bench", payload="p" * 40,
                          hostname="host", fields=[
                              Field("name", f"item{i}"), Field("x", i),
                              Field("y", i * 0.5),
                              Field("tags", ["a", "b"])])
        p = Pack(msg.encode())
        p.view  # noqa: B018  (built once, as the router does)
        packs.append(p)
    return packs


def _rate(fn: Any, packs: list[Any], loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        for p in packs:
            fn(p)
    return loops * len(packs) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pure", action="store_true")
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.pure:
        os.environ["HEKAPY_NO_EXTENSIONS"] = "1"

    import hekapy
    from hekapy.plugins import PluginContext
    from hekapy.sandbox import SandboxFilter
    from hekapy.sandbox._lupa import lua51

    packs = _packs(1000)
    loops = max(1, args.count // len(packs))
    ctx = PluginContext("bench", lambda p: None)

    one = SandboxFilter("one", {"source": ONE})
    one.start(ctx)
    two = SandboxFilter("two", {"source": TWO})
    two.start(ctx)

    rt = lua51.LuaRuntime(encoding=None, register_eval=False,
                          register_builtins=False)
    bare_fn = rt.eval("function() sum = (sum or 0) + 1 return 0 end")
    add_fn = rt.eval("function(v) sum = (sum or 0) + v return 0 end")

    def bare(p: Any) -> None:
        bare_fn()

    def passed(p: Any) -> None:
        add_fn(p.view.read_field(b"x"))

    rows = {"one field": one.process_message,
            "two fields": two.process_message,
            "yardstick: bare call": bare,
            "yardstick: value passed": passed}
    results: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(args.runs):
        for name, fn in rows.items():
            results[name].append(_rate(fn, packs, loops))

    impl = "compiled" if hekapy.EXTENSION_LOADED else "pure-Python"
    print(f"MessageView: {impl}; {loops * len(packs)} calls per run, "
          f"median of {args.runs} runs; load average "
          f"{os.getloadavg()[0]:.2f}")
    base = statistics.median(results["yardstick: bare call"])
    for name, rates in results.items():
        med = statistics.median(rates)
        print(f"{name:26s} {med:12,.0f} calls/s   "
              f"{1e9 / med:7.0f} ns/call   "
              f"x{med / base:5.2f} of bare call   "
              f"(min {min(rates):,.0f}, max {max(rates):,.0f})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
