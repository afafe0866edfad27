"""Load the daemon's TcpInput from hekapy-flood, on 127.0.0.1 only.

Usage: python benchmarks/bench_tcp.py [--count N]
       python benchmarks/bench_tcp.py --sustained SECONDS [--rate R]

The daemon (``python -m hekapy.daemon``) listens on an ephemeral port
of 127.0.0.1 with a TcpInput (Heka framing, ProtobufDecoder); a
CounterFilter counts every ``hekabench`` message the router delivers
and reports each second into a framed FileOutput.  The counter's last
total is the count received at the far end of the router, and the
input's own count (logged when the daemon stops) is checked against
it.

Default mode: ``hekapy-flood -count N`` sends N messages of 200 bytes
of payload as fast as the socket takes them.  The receive rate is the
median of the counter's per-second rates, leaving out the first and
last second with traffic (partial ones); when fewer than three seconds
saw traffic, it is N over hekapy-flood's own sending time instead.
CPU is what the daemon spent between listening and going quiet, RSS
its peak (VmHWM, read before it is stopped).

``--sustained SECONDS``: one batch of messages is made with
hekapy-flood's generator and sent again and again over one connection
for that long, unpaced (TCP flow control holds the sender to what the
daemon takes, so this is the highest rate it sustains) or at
``--rate``.  The daemon's RSS is sampled every ``--every`` seconds.
The result, samples included, is written to out/tcp-sustained.json.
Everything ends by itself: the sender stops at the deadline, the
daemon gets SIGTERM, and a daemon that does not stop within 60 s is
killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "out"

sys.path.insert(0, str(HERE))

CONFIG = """\
[hekad]
base_dir = "{state}"
plugin_chansize = 30

[tcp_in]
type = "TcpInput"
address = "127.0.0.1:0"

[counter]
type = "CounterFilter"
message_matcher = "Type == 'hekabench'"
ticker_interval = 1

[counts]
type = "FileOutput"
message_matcher = "Type == 'heka.counter-output'"
path = "{counts}"
flush_interval = 200
"""

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User plus system CPU seconds of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss_kb(pid: int) -> int:
    """Resident set size of a running process, in KiB."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB


class Daemon:
    """The daemon under test, in a scratch directory; ends by itself."""

    def __init__(self, work: Path) -> None:
        import run

        self.work = work
        self.counts = work / "counts.hpb"
        cfg = work / "tcp.toml"
        cfg.write_text(CONFIG.format(state=work / "state", counts=self.counts))
        self.log: IO[bytes] = open(work / "daemon.log", "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hekapy.daemon", "-config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=run.child_env(),
            cwd=ROOT,
        )
        self.port = self._port()

    def log_text(self) -> str:
        return (self.work / "daemon.log").read_text(errors="replace")

    def _port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("daemon did not listen: " + self.log_text())

    def reports(self) -> list[tuple[int, int, int]]:
        """(timestamp ns, count in the interval, total) per report."""
        from hekapy import Message, StreamReader

        if not self.counts.exists():
            return []
        out = []
        for rec in StreamReader().feed(self.counts.read_bytes()):
            m = Message.decode(rec.message)
            got = re.match(r"Got (\d+) ", m.payload or "")
            out.append(
                (
                    m.timestamp or 0,
                    int(got.group(1)) if got else 0,
                    int(m.field("total") or 0),
                )
            )
        return out

    def wait_quiet(self, expected: int, limit: float = 60.0) -> int:
        """Wait until the counter stops growing; its final total."""
        deadline = time.monotonic() + limit
        last, still = -1, 0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            reps = self.reports()
            total = reps[-1][2] if reps else 0
            still = still + 1 if total == last else 0
            last = total
            if (total >= expected and still >= 1) or still >= 3:
                break
        return max(last, 0)

    def stop(self) -> tuple[int, Any]:
        """SIGTERM, then reap; exit code and rusage."""
        import run

        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            killer = time.monotonic() + 60
            while True:
                try:
                    pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                    self.usage = usage
                    break
                if time.monotonic() > killer:
                    self.proc.kill()
                    run.reap(self.proc)
                    break
                time.sleep(0.05)
        self.log.close()
        return self.proc.returncode or 0, getattr(self, "usage", None)

    def input_count(self) -> int:
        m = re.search(
            r"input tcp_in: \d+ records, (\d+) messages", self.log_text()
        )
        return int(m.group(1)) if m else -1


def _find(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise RuntimeError(f"no {pattern!r} in {text!r}")
    return m.group(1)


def receive_rate(reports: list[tuple[int, int, int]]) -> float:
    """Median per-second rate, partial first and last seconds left out."""
    rates = []
    for (t0, _, _), (t1, n, _) in itertools.pairwise(reports):
        if n:
            rates.append(n / max((t1 - t0) / 1e9, 1e-9))
    if len(rates) >= 3:
        rates = rates[1:-1]
    return statistics.median(rates) if rates else 0.0


def tcp_child(count: int) -> dict[str, Any]:
    """hekapy-flood -count N into the daemon, for benchmarks/run.py."""
    import run

    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        daemon = Daemon(work)
        try:
            cpu0 = proc_cpu(daemon.proc.pid)
            with open(work / "flood.out", "w+b") as out:
                code, _, _ = run.measured(
                    [
                        sys.executable,
                        "-m",
                        "hekapy.cli.flood",
                        "-address",
                        f"127.0.0.1:{daemon.port}",
                        "-count",
                        str(count),
                        "-seed",
                        "1",
                    ],
                    run.child_env(),
                    out,
                    None,
                )
                out.seek(0)
                flood = out.read().decode()
            if code != 0:
                raise RuntimeError(f"hekapy-flood exited {code}")
            sent = int(_find(r"sent (\d+)", flood))
            received = daemon.wait_quiet(sent)
            cpu = proc_cpu(daemon.proc.pid) - cpu0
            peak = run.hwm_kb(daemon.proc.pid)
        finally:
            code, _ = daemon.stop()
        reports = daemon.reports()
        at_input = daemon.input_count()
    rate = receive_rate(reports)
    took = float(_find(r" in ([\d.]+) s", flood))
    how = "the daemon's CounterFilter rate (median of whole seconds)"
    if sum(1 for _, n, _ in reports if n) < 3:
        rate = received / max(took, 1e-9)
        how = "sent over hekapy-flood's sending time (run too short for "
        how += "the per-second counter)"
    return {
        "n": received,
        "wall": received / rate if rate else 1e9,
        "cpu": cpu,
        "rss_kb": peak,
        "sent": sent,
        "received": received,
        "at_input": at_input,
        "counts_match": sent == received == at_input and code == 0,
        "flood": flood.strip(),
        "note": f"tcp: msg/s is {how}; CPU and RSS are the daemon's",
    }


def batch(size: int, seed: int) -> list[bytes]:
    """Framed records from hekapy-flood's own generator."""
    import random

    from hekapy.cli import flood

    args = flood._parser().parse_args(["-count", str(size)])
    recs, _ = flood.records(args, random.Random(seed))
    return recs


def sustained(
    seconds: float, rate: float, every: float, batch_size: int
) -> dict[str, Any]:
    """Send for ``seconds``; RSS samples, counts at both ends."""
    import run

    recs = batch(batch_size, 1)
    slices = [b"".join(recs[i : i + 100]) for i in range(0, len(recs), 100)]
    OUT.mkdir(exist_ok=True)
    samples: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        daemon = Daemon(Path(tmp))
        pid = daemon.proc.pid
        sent = 0
        try:
            cpu0 = proc_cpu(pid)
            start = time.monotonic()
            next_sample = start
            end = start + seconds
            with socket.create_connection(
                ("127.0.0.1", daemon.port), timeout=30
            ) as sock:
                while (now := time.monotonic()) < end:
                    if now >= next_sample:
                        samples.append(
                            (round(now - start, 1), proc_rss_kb(pid))
                        )
                        next_sample += every
                    for chunk in slices:
                        if rate > 0:
                            delay = start + sent / rate - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                        sock.sendall(chunk)
                        sent += 100
                        if time.monotonic() >= end:
                            break
            took = time.monotonic() - start
            received = daemon.wait_quiet(sent)
            samples.append(
                (round(time.monotonic() - start, 1), proc_rss_kb(pid))
            )
            cpu = proc_cpu(pid) - cpu0
            peak = run.hwm_kb(pid)
        finally:
            code, _ = daemon.stop()
        reports = daemon.reports()
        at_input = daemon.input_count()
    rss = [kb for _, kb in samples]
    half = rss[len(rss) // 4 :]
    return {
        "seconds": took,
        "sent": sent,
        "received": received,
        "at_input": at_input,
        "lost": sent - received,
        "send_rate": sent / took,
        "receive_rate": receive_rate(reports),
        "daemon_cpu_seconds": cpu,
        "exit_code": code,
        "peak_rss_mb": peak / 1024,
        "rss_mb_first_quarter_end": rss[len(rss) // 4] / 1024,
        "rss_mb_last": rss[-1] / 1024,
        "rss_mb_min_max_after_warmup": [min(half) / 1024, max(half) / 1024],
        "rss_samples_kb": samples,
        "per_second_counts": [n for _, n, _ in reports],
        "loadavg_end": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--sustained",
        type=float,
        default=0,
        help="seconds of sustained load (at most 600)",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=0,
        help="messages per second; 0: as fast as taken",
    )
    ap.add_argument(
        "--every", type=float, default=5.0, help="seconds between RSS samples"
    )
    ap.add_argument(
        "--batch",
        type=int,
        default=100_000,
        help="distinct messages generated and re-sent",
    )
    args = ap.parse_args(argv)

    if args.sustained:
        res = sustained(
            min(args.sustained, 600), args.rate, args.every, args.batch
        )
        (OUT / "tcp-sustained.json").write_text(json.dumps(res, indent=1))
        short = {
            k: v
            for k, v in res.items()
            if k not in ("rss_samples_kb", "per_second_counts")
        }
        sys.stdout.write(json.dumps(short, indent=1) + "\n")
        return 0 if res["lost"] == 0 else 1

    import run

    result = run.suite(["tcp"], args.count, args.repeat, lambda s: None)
    sys.stdout.write(run.table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
