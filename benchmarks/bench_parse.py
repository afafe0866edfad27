"""Parse an nginx access log in the daemon, against Python's re.

Usage: python benchmarks/bench_parse.py [--count N] [--repeat R]

What is measured is what a user runs: the daemon
(``python -m hekapy.daemon -config X --run-once``) with a
LogstreamerInput over an access log of N lines (made once under out/
by benchmarks/_data.py), an access-log decoder and a FileOutput writing
framed protobuf.  ``nginx-parse`` uses the native AccessLogDecoder,
``nginx-parse-lua`` the Lua SandboxDecoder
(sandboxes/decoders/access_log.lua); both make the same messages.  The
rate is lines over the daemon's wall time, start-up included; CPU and
peak RSS are the daemon process's own.  The output file's records are
counted afterwards and must equal the lines.

The yardstick is a plain Python ``re`` parse of the same lines into
dicts (``match(...).groupdict()``), file reading included.

When the decoder script does not exist, nginx-parse reports itself
skipped.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "out"
DECODER = ROOT / "sandboxes" / "decoders" / "access_log.lua"

sys.path.insert(0, str(HERE))

COMBINED = re.compile(
    r"(?P<remote_addr>\S+) - (?P<remote_user>\S+) "
    r'\[(?P<time_local>[^\]]+)\] "(?P<request>[^"]*)" '
    r"(?P<status>\d{3}) (?P<body_bytes_sent>\d+) "
    r'"(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"'
)

CONFIG = """\
[hekad]
base_dir = "{state}"
log_level = "warning"

[access_logs]
type = "LogstreamerInput"
log_directory = "{logdir}"
file_match = '{name}'
decoder = "access_decoder"

[access_decoder]
{decoder}

[decoded]
type = "FileOutput"
message_matcher = "TRUE"
path = "{output}"
"""


def re_parse(path: Path) -> int:
    """Lines of ``path`` parsed into dicts; raises on a line that fails."""
    match = COMBINED.match
    n = 0
    with open(path) as f:
        for line in f:
            m = match(line)
            if m is None:
                raise ValueError(f"line does not parse: {line!r}")
            m.groupdict()
            n += 1
    return n


def re_parse_child(count: int) -> dict[str, Any]:
    """One timed ``re`` pass over the log, for benchmarks/run.py."""
    import _data

    path = _data.log_file(count, OUT)
    w0, c0 = time.perf_counter(), time.process_time()
    n = re_parse(path)
    w1, c1 = time.perf_counter(), time.process_time()
    return {"n": n, "wall": w1 - w0, "cpu": c1 - c0}


def count_records(path: Path) -> int:
    from hekapy import StreamReader

    reader = StreamReader()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += reader.count(chunk)
    return n


DECODERS = {
    "native": 'type = "AccessLogDecoder"',
    "lua": f'type = "SandboxDecoder"\nfilename = "{DECODER}"',
}


def daemon_child(count: int, decoder: str = "native") -> dict[str, Any]:
    """One daemon run over the log; the daemon's own time and RSS."""
    import _data

    if decoder == "lua" and not DECODER.exists():
        return {"skipped": f"{DECODER.relative_to(ROOT)} does not exist"}
    log = _data.log_file(count, OUT).resolve()
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        output = work / "decoded.hpb"
        cfg = work / "parse.toml"
        cfg.write_text(
            CONFIG.format(
                state=work / "state",
                logdir=log.parent,
                name=re.escape(log.name),
                decoder=DECODERS[decoder],
                output=output,
            )
        )
        import run

        w0 = time.perf_counter()
        with open(work / "daemon.log", "w+b") as err:
            code, usage, peak = run.measured(
                [
                    sys.executable,
                    "-m",
                    "hekapy.daemon",
                    "-config",
                    str(cfg),
                    "--run-once",
                ],
                run.child_env(),
                subprocess.DEVNULL,
                err,
            )
            wall = time.perf_counter() - w0
            err.seek(0)
            log_text = err.read().decode(errors="replace")
        if code != 0:
            raise RuntimeError(f"daemon exited {code}: {log_text[-2000:]}")
        n = count_records(output)
    return {
        "n": n,
        "wall": wall,
        "lines": count,
        "decoded_all": n == count,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_kb": peak,
        "note": "nginx-parse rows run the daemon with --run-once "
        "(LogstreamerInput, access-log decoder, FileOutput); "
        "their rate counts start-up"
        + ("" if n == count else f"; ONLY {n} OF {count} LINES DECODED"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    import run

    result = run.suite(
        ["nginx-parse", "nginx-parse-lua"], args.count, args.repeat,
        lambda s: None,
    )
    sys.stdout.write(run.table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
