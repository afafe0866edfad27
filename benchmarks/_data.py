"""Deterministic benchmark data: nginx access messages and log lines.

The shape mirrors Hindsight's own benchmark so figures can be set side
by side: about 410 bytes a message, Type ``nginx.access``, Logger
``nginx``, eight hostnames, Severity 6 (4 for 4xx, 3 for 5xx), the
combined-format access line as Payload, and the fields ``status``
(INTEGER: 200 80 %, 301 5 %, 404 10 %, 500 3 %, 503 2 %),
``request_time`` (DOUBLE), ``remote_addr``, ``method``, ``path`` and
``user_agent`` (STRING).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

from hekapy import Field, Message, frame

HOSTNAMES = [f"web{n:02d}.example.net" for n in range(1, 9)]
STATUSES = [200] * 80 + [301] * 5 + [404] * 10 + [500] * 3 + [503] * 2
METHODS = ["GET"] * 85 + ["POST"] * 10 + ["PUT"] * 3 + ["DELETE"] * 2
PATHS = ["/", "/index.html", "/api/v1/items", "/api/v1/items/42",
         "/static/app.js", "/static/style.css", "/login", "/search",
         "/images/logo.png", "/health"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
    "Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/119.0",
    "curl/8.4.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")
BASE_NS = 1_700_000_000_000_000_000


def requests(count: int, seed: int = 1) -> Iterator[dict[str, object]]:
    """``count`` request records, the same ones for the same seed."""
    rnd = random.Random(seed)
    for n in range(count):
        status = rnd.choice(STATUSES)
        ts = BASE_NS + n * 1_000_000
        secs = ts // 1_000_000_000
        yield {
            "n": n, "ts": ts, "secs": secs,
            "host": HOSTNAMES[n % 8],
            "addr": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}."
                    f"{rnd.randrange(1, 255)}",
            "method": rnd.choice(METHODS), "path": rnd.choice(PATHS),
            "status": status, "bytes": rnd.randrange(200, 20000),
            "agent": rnd.choice(AGENTS),
            "rtime": round(rnd.expovariate(4.0), 3),
        }


def access_line(r: dict[str, object]) -> str:
    """The request as an nginx ``combined`` log line (no newline)."""
    import time

    t = time.gmtime(int(r["secs"]))  # type: ignore[call-overload]
    stamp = (f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
             f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")
    return (f'{r["addr"]} - - [{stamp}] "{r["method"]} {r["path"]} '
            f'HTTP/1.1" {r["status"]} {r["bytes"]} "-" "{r["agent"]}"')


def message(r: dict[str, object]) -> Message:
    status = int(r["status"])  # type: ignore[call-overload]
    severity = 3 if status >= 500 else 4 if status >= 400 else 6
    n = int(r["n"])  # type: ignore[call-overload]
    return Message(
        uuid=n.to_bytes(16, "big"), timestamp=int(r["ts"]),  # type: ignore
        type="nginx.access", logger="nginx", severity=severity,
        payload=access_line(r), env_version="1", pid=1234,
        hostname=str(r["host"]),
        fields=[
            Field("status", status),
            Field("request_time", float(r["rtime"]), representation="s"),
            Field("remote_addr", str(r["addr"])),
            Field("method", str(r["method"])),
            Field("path", str(r["path"])),
            Field("user_agent", str(r["agent"])),
        ])


def framed_file(count: int, directory: str | os.PathLike[str] = "out",
                seed: int = 1) -> Path:
    """A framed file of ``count`` messages, made once and then reused."""
    path = Path(directory) / f"nginx-{count}-{seed}.hpb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        for r in requests(count, seed):
            f.write(frame(message(r).encode()))
    tmp.rename(path)
    return path


def log_file(count: int, directory: str | os.PathLike[str] = "out",
             seed: int = 1) -> Path:
    """The same requests as an nginx combined access log."""
    path = Path(directory) / f"nginx-{count}-{seed}.log"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for r in requests(count, seed):
            f.write(access_line(r) + "\n")
    tmp.rename(path)
    return path
