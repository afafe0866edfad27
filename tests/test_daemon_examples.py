"""The shipped examples and an entry-point plugin, run as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hekapy import Message, StreamReader
from tests.conftest import ROOT
from tests.test_daemon_e2e import ENV

pytestmark = pytest.mark.slow


def fresh_clone(tmp_path: Path) -> Path:
    """examples/ copied, data/ and sandboxes/ linked, as in a checkout."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name in ("data", "sandboxes"):
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def run(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or ENV,
        cwd=cwd,
    )


def framed(path: Path) -> list[Message]:
    reader = StreamReader(max_message_size=1 << 20)
    return [Message.decode(r.message) for r in reader.feed(path.read_bytes())]


def test_replay_example(tmp_path: Path) -> None:
    root = fresh_clone(tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = run(
        ["-config", str(root / "examples/replay_streams.toml"), "--run-once"],
        cwd=elsewhere,
    )
    assert done.returncode == 0, done.stderr
    out = root / "out" / "replay"
    assert (
        f"moz_ingest: 30 messages in {out / 'moz_ingest.hpb'}" in done.stdout
    )
    moz = framed(out / "moz_ingest.hpb")
    assert len(moz) == 30 and all(m.logger == "moz_ingest" for m in moz)
    tele = framed(out / "telemetry.hpb")
    assert len(tele) == 16
    assert all(m.field("uri").startswith("/submit") for m in tele)
    text = (out / "http_requests.txt").read_text()
    assert text.count(":Type: heka.httpdata.request") == 50
    assert (
        "input recorded: 87 records, 87 messages, 0 decode failures"
        in done.stderr
    )


def test_main_job_example(tmp_path: Path) -> None:
    needed = [
        "decoders/access_log.lua",
        "filters/http_status.lua",
        "filters/frequent_items.lua",
    ]
    missing = [n for n in needed if not (ROOT / "sandboxes" / n).exists()]
    if missing:
        pytest.skip(f"sandbox scripts not present: {missing}")
    root = fresh_clone(tmp_path)
    done = run(["-config", "examples/main_job.toml", "--run-once"], cwd=root)
    assert done.returncode == 0, done.stderr
    out = root / "out" / "main_job"
    messages = framed(out / "access.hpb")
    lines = sum(
        len((ROOT / "data/logs" / f).read_text().splitlines())
        for f in (
            "test-zeus.log",
            "access_pathsetfreq.log",
            "access_webinj.log",
        )
    )
    assert len(messages) == lines
    assert (
        f"{lines} records, {lines} messages, 0 decode failures" in done.stderr
    )
    assert all(m.logger == "access_logs" for m in messages)
    reports = (out / "reports.txt").read_text()
    assert reports.strip()
    assert str(out / "reports.txt") in done.stdout


PLUGIN = """
from hekapy.plugins import Output


class UpperOutput(Output):
    config_schema = {"path": ""}

    def process_message(self, pack):
        with open(self.config["path"], "a") as f:
            f.write((pack.message.payload or "").upper() + "\\n")
"""


def test_entry_point_plugin_type(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "upper_plugin.py").write_text(PLUGIN)
    dist = site / "upper_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: upper-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[hekapy.plugins]\nUpperOutput = upper_plugin:UpperOutput\n"
    )
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("hello\nworld\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'a\\.log'
[up]
type = "UpperOutput"
message_matcher = "TRUE"
path = "{tmp_path / "up.txt"}"
""")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(ROOT), str(site)]))
    done = run(["-config", str(conf), "--run-once"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "up.txt").read_text() == "HELLO\n\nWORLD\n\n"
    bad = conf.read_text().replace('path = "', 'pth = "')
    conf.write_text(bad)
    done = run(["-config", str(conf), "--check"], tmp_path, env)
    assert done.returncode == 2
    assert "unknown config setting 'pth'" in done.stderr
