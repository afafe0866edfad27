"""hekapy's benchmark suite: one command, one table.

Usage: python benchmarks/run.py [--count N] [--repeat R] [--only A,B]
       [--json]

Generates its data once under out/ (benchmarks/_data.py: nginx access
messages, about 410 bytes each, and the same requests as an access
log), then runs every workload R times, each repetition in a fresh
Python process, so that the CPU seconds and the peak RSS of a row
belong to that workload alone.  Yardsticks run in the same repetitions
on the same data, interleaved with the workloads, so that a busy
machine slows both alike.

Workloads (``--only`` takes these names):

- ``split``: the framed file read in 1 MiB chunks and cut into records
  by the compiled StreamReader; ``split-pure`` does the same with the
  pure-Python twin on a tenth of the file.  Yardstick: protobuf's
  ``FromString`` on every record (held in memory, not timed loading).
- ``route-1``, ``route-10``: bench_router's router and Lua filters,
  inline, fed from the file in 1 MiB chunks.  Yardstick: FromString.
- ``nginx-parse``: the access log through the daemon (``--run-once``,
  LogstreamerInput, the native AccessLogDecoder, a framed protobuf
  FileOutput); ``nginx-parse-lua`` the same with the Lua access-log
  SandboxDecoder, which makes the same messages; see bench_parse.py.
  Yardstick: a plain ``re`` parse of the same lines into dicts.
- ``tcp``: hekapy-flood into the daemon's TcpInput on 127.0.0.1; see
  bench_tcp.py.  No yardstick; the row says whether the counts at both
  ends match.

Columns: messages per second (median of R, with the min-max spread),
CPU seconds per million messages (median), peak RSS (VmHWM, the
largest over the repetitions; for the daemon rows the daemon's own),
and the ratio of the workload's median rate to its yardstick's, by
wall time and by CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "out"
CHUNK = 1 << 20

sys.path.insert(0, str(HERE))

# name -> (yardstick, target ratio or None, what the row measures)
WORKLOADS: dict[str, tuple[str | None, float | None, str]] = {
    "split": ("fromstring", None, "framed file -> records, fast path"),
    "split-pure": ("fromstring", None, "the same, pure twin, 1/10 file"),
    "route-1": ("fromstring", 1.6, "1 matcher + Lua filter, inline"),
    "route-10": ("fromstring", 0.45, "10 matchers + Lua filters, inline"),
    "nginx-parse": ("re-parse", 0.2, "daemon: log -> native decoder -> file"),
    "nginx-parse-lua": ("re-parse", None, "the same, Lua SandboxDecoder"),
    "tcp": (None, None, "hekapy-flood -> daemon TcpInput -> counter"),
}
YARDSTICKS = {
    "fromstring": "protobuf FromString",
    "re-parse": "Python re parse to dict",
}
HINDSIGHT = {
    "route-1": 1.6,
    "route-10": 0.41,
    "nginx-parse": 0.13,
    "nginx-parse-lua": 0.13,
}


class FileChunks:
    """A framed file that slices like bytes, read from disk on demand.

    The benchmark helpers take ``data`` and cut it with
    ``data[pos:pos + CHUNK]``; this object lets them stream a file of
    any size without holding it in memory.
    """

    def __init__(self, path: Path, limit: int = 0) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        size = os.fstat(self.fd).st_size
        self.size = min(size, limit) if limit else size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice) -> bytes:
        start, stop, _ = key.indices(self.size)
        return os.pread(self.fd, stop - start, start)

    def close(self) -> None:
        os.close(self.fd)


# -- children: one workload, one repetition, one process ---------------


def _timed(fn: Callable[[], int]) -> dict[str, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    w1, c1 = time.perf_counter(), time.process_time()
    return {"n": n, "wall": w1 - w0, "cpu": c1 - c0}


def _messages(count: int) -> list[bytes]:
    import _data

    from hekapy import StreamReader

    data = _data.framed_file(count, OUT).read_bytes()
    return [r.message for r in StreamReader().feed(data)]


def child_split(count: int, pure: bool) -> dict[str, Any]:
    import _data
    import bench_split

    from hekapy import _fastpath, _purepath  # type: ignore[attr-defined]

    path = _data.framed_file(count, OUT)
    mod: Any = _purepath if pure else _fastpath
    limit = path.stat().st_size // 10 if pure else 0
    data = FileChunks(path, limit)
    res = _timed(lambda: bench_split.split_records(mod, data))  # type: ignore
    data.close()
    return res


def child_route(count: int, matchers: str) -> dict[str, Any]:
    import _data
    import bench_router

    path = _data.framed_file(count, OUT)
    exprs = bench_router.ROUTE_10
    if matchers == "1":
        exprs = [bench_router.ROUTE_1]
    data = FileChunks(path)
    calls = {}

    def once() -> int:
        n, _, rep = bench_router.run_router(data, exprs, False)  # type: ignore
        calls["filter_calls"] = sum(
            p["processed"] for k, p in rep["plugins"].items() if k != "sums"
        )
        return n

    res = _timed(once)
    data.close()
    res.update(calls)
    return res


def child_fromstring(count: int) -> dict[str, Any]:
    import bench_split

    messages = _messages(count)
    return _timed(lambda: bench_split.from_string(messages))


def run_child(name: str, count: int) -> dict[str, Any]:
    """Run one repetition of ``name`` in this process."""
    if name in ("split", "split-pure"):
        return child_split(count, name == "split-pure")
    if name in ("route-1", "route-10"):
        return child_route(count, name.split("-")[1])
    if name == "fromstring":
        return child_fromstring(count)
    if name in ("nginx-parse", "nginx-parse-lua", "re-parse"):
        import bench_parse

        if name == "re-parse":
            return bench_parse.re_parse_child(count)
        return bench_parse.daemon_child(
            count, "lua" if name.endswith("-lua") else "native"
        )
    if name == "tcp":
        import bench_tcp

        return bench_tcp.tcp_child(count)
    raise SystemExit(f"unknown workload {name!r}")


# -- the parent ---------------------------------------------------------


def hwm_kb(pid: int | str = "self") -> int:
    """Peak resident set size of a live process (VmHWM), in KiB.

    Preferred to ``ru_maxrss`` from ``wait4``: on Linux a child's
    ``ru_maxrss`` starts from its parent's RSS at fork (the high-water
    mark survives ``exec``), so a big parent would show in every
    child's figure.  VmHWM belongs to the process image alone.
    """
    text = Path(f"/proc/{pid}/status").read_text()
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measured(
    cmd: list[str],
    env: dict[str, str] | None = None,
    out: Any = subprocess.DEVNULL,
    err: Any = subprocess.DEVNULL,
) -> tuple[int, Any, int]:
    """Run ``cmd`` to its end; exit code, rusage and peak RSS in KiB.

    ``out`` and ``err`` should be files (pipes could fill up and block
    a child that nobody reads while it runs).  The peak is the child's
    VmHWM, read every 20 ms while it runs.
    """
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage, peak
        try:
            peak = max(peak, hwm_kb(proc.pid))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)


def reap(proc: subprocess.Popen[Any]) -> tuple[int, Any]:
    """Wait for ``proc``; its exit code and its rusage."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def spawn(name: str, count: int) -> dict[str, Any]:
    """One repetition in a fresh process; its own CPU and peak RSS."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        code, usage, peak = measured(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                name,
                "--count",
                str(count),
            ],
            child_env(),
            out,
            None,
        )
        out.seek(0)
        text = out.read().decode()
    if code != 0:
        raise RuntimeError(f"workload {name} exited {code}")
    res: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    res.setdefault("rss_kb", peak)
    res["ru_maxrss_kb"] = usage.ru_maxrss
    res.setdefault("process_cpu", usage.ru_utime + usage.ru_stime)
    return res


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if runs[0].get("skipped"):
        return {"skipped": runs[0]["skipped"]}
    rates = [r["n"] / r["wall"] for r in runs]
    cpus = [r["cpu"] / r["n"] * 1e6 for r in runs]
    row = {
        "messages": runs[0]["n"],
        "rate": statistics.median(rates),
        "rate_min": min(rates),
        "rate_max": max(rates),
        "cpu_per_million": statistics.median(cpus),
        "peak_rss_mb": max(r["rss_kb"] for r in runs) / 1024,
        "runs": runs,
    }
    for key in ("counts_match", "sent", "received"):
        if key in runs[0]:
            row[key] = (
                all(r.get(key) for r in runs)
                if key == ("counts_match")
                else runs[-1][key]
            )
    return row


def suite(
    names: list[str], count: int, repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    import _data

    t0 = time.monotonic()
    _data.framed_file(count, OUT)
    if any(n.startswith("nginx-parse") for n in names):
        _data.log_file(count, OUT)
    log(f"data ready in {time.monotonic() - t0:.0f} s")
    yards = sorted({y for n in names if (y := WORKLOADS[n][0])})
    order = [*yards, *names]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in order}
    load = [os.getloadavg()]
    for rep in range(repeat):
        for name in order:
            if runs[name] and runs[name][0].get("skipped"):
                continue
            res = spawn(name, count)
            runs[name].append(res)
            rate = (res["n"] / res["wall"]) if "n" in res else 0.0
            log(f"  {rep + 1}/{repeat} {name}: {rate:,.0f} msg/s")
    load.append(os.getloadavg())
    rows = {n: summarise(r) for n, r in runs.items()}
    for name in names:
        yard = WORKLOADS[name][0]
        row = rows[name]
        if yard is None or "skipped" in row or "skipped" in rows[yard]:
            continue
        base = rows[yard]
        row["yardstick"] = yard
        row["ratio"] = row["rate"] / base["rate"]
        row["ratio_cpu"] = base["cpu_per_million"] / row["cpu_per_million"]
        row["target"] = WORKLOADS[name][1]
        row["hindsight"] = HINDSIGHT.get(name)
    from _proto import backend

    import hekapy

    return {
        "count": count,
        "repeat": repeat,
        "fast_path": "compiled" if hekapy.EXTENSION_LOADED else "pure",
        "protobuf": backend(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "loadavg_start": load[0],
        "loadavg_end": load[1],
        "seconds": time.monotonic() - t0,
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        f"{result['count']:,} messages, median of {result['repeat']} "
        f"runs, each in its own process; fast path "
        f"{result['fast_path']}, protobuf {result['protobuf']}, "
        f"Python {result['python']}, {result['cpus']} CPUs",
        "load average {:.2f} {:.2f} {:.2f} at start, {:.2f} {:.2f} "
        "{:.2f} at end; {:.0f} s".format(
            *result["loadavg_start"], *result["loadavg_end"], result["seconds"]
        ),
        "",
        f"{'workload':23} {'msg/s':>10} {'min-max':>19} {'CPU s/M':>8} "
        f"{'RSS MB':>7} {'x yard':>7} {'(CPU)':>6} {'target':>7}",
    ]
    for name, row in rows.items():
        label = YARDSTICKS.get(name, name)
        if "skipped" in row:
            lines.append(f"{label:23} skipped: {row['skipped']}")
            continue
        spread = f"{row['rate_min']:,.0f}-{row['rate_max']:,.0f}"
        ratio = cpu = target = ""
        if "ratio" in row:
            ratio = f"{row['ratio']:.2f}"
            cpu = f"{row['ratio_cpu']:.2f}"
            if row["target"]:
                met = "met" if row["ratio"] >= row["target"] else "MISS"
                target = f">={row['target']} {met}"
        if "counts_match" in row:
            target = (
                f"{row['received']:,}/{row['sent']:,} "
                f"{'match' if row['counts_match'] else 'LOST'}"
            )
        lines.append(
            f"{label:23} {row['rate']:10,.0f} {spread:>19} "
            f"{row['cpu_per_million']:8.2f} {row['peak_rss_mb']:7.1f} "
            f"{ratio:>7} {cpu:>6} {target:>7}"
        )
    notes = [
        r["runs"][0]["note"]
        for r in rows.values()
        if r.get("runs") and r["runs"][0].get("note")
    ]
    lines += [""] + [f"note: {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated workloads: " + ", ".join(WORKLOADS),
    )
    ap.add_argument(
        "--json", action="store_true", help="print the results as JSON"
    )
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        res = run_child(args.child, args.count)
        res.setdefault("rss_kb", hwm_kb())
        sys.stdout.write(json.dumps(res) + "\n")
        return 0

    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads {unknown}; known: {list(WORKLOADS)}")

    def log(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    result = suite(names, args.count, args.repeat, log)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
    else:
        sys.stdout.write(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
