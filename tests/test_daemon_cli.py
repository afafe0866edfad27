"""hekapy-router's command line: flags, exit status, signals, pid file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hekapy
from tests.test_daemon_e2e import ENV, FRAMED_OUT, Daemon, daemons

pytestmark = pytest.mark.slow
__all__ = ["daemons"]


def hekapy_router(
    *args: str,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
        cwd=cwd,
    )


@pytest.mark.parametrize("flag", ["-version", "--version"])
def test_version(flag: str) -> None:
    done = hekapy_router(flag)
    assert done.returncode == 0
    assert done.stdout == f"hekapy-router {hekapy.__version__}\n"


def test_check_valid_config_starts_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[in]\ntype = "TcpInput"\naddress = "127.0.0.1:1"\n' + FRAMED_OUT
    )
    done = hekapy_router("--config", str(conf), "--check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("configuration OK")
    assert not (tmp_path / "out").exists()


def test_check_reports_every_error_then_count(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[a]\ntype = 'Nope'\n[b]\ntype = 'FileOutput'\n"
        "message_matcher = 'TRUE'\npath = 'x'\nperms = 1\n"
    )
    done = hekapy_router("-config", str(conf), "-check")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 3
    assert "unrecognized plugin category for type 'Nope'" in lines[0]
    assert "unknown config setting 'perms'" in lines[1]
    assert lines[2] == "2 errors loading configuration"


def test_plugin_construction_errors_are_collected(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[a]\ntype = 'FileOutput'\nmessage_matcher = 'TRUE'\n"
        "[b]\ntype = 'TcpInput'\n"
        "[c]\ntype = 'FileOutput'\nmessage_matcher = 'TRUE'\n"
        "path = 'x'\nperm = 'rw'\n"
    )
    done = hekapy_router("-config", str(conf), "-check")
    assert done.returncode == 2
    assert "'path' is required" in done.stderr
    assert "'address' is required" in done.stderr
    assert "perm must be an octal string, got 'rw'" in done.stderr
    assert done.stderr.splitlines()[-1] == "3 errors loading configuration"


@pytest.mark.parametrize("check", [True, False])
def test_a_decoders_mistake_is_reported_at_its_section(
    tmp_path: Path, check: bool
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[in]\ntype = 'StdinInput'\ndecoder = 'dec'\n"
        "[dec]\ntype = 'PayloadRegexDecoder'\nmatch_regex = '(?P<x'\n"
    )
    args = ["-config", str(conf)] + (["-check"] if check else [])
    done = subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", *args],
        capture_output=True, text=True, timeout=30, env=ENV,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    first = done.stderr.splitlines()[0]
    assert "bad match_regex" in first
    assert first.endswith(f"in {conf} [dec]")


def test_builtin_pipeline_checks() -> None:
    done = hekapy_router("--check")
    assert done.returncode == 0, done.stderr
    shown = hekapy_router("--print-default-config")
    assert 'address = "127.0.0.1:5565"' in shown.stdout


def test_run_once_exits_nonzero_when_a_plugin_terminates(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("one\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'a\\.log'
[dead]
type = "TcpOutput"
message_matcher = "TRUE"
address = "127.0.0.1:{port}"
use_buffering = false
can_exit = true
[dead.retries]
max_retries = 0
""")
    done = hekapy_router("-config", str(conf), "--run-once")
    assert done.returncode == 1, done.stderr
    assert "plugin dead terminated" in done.stderr


def test_pid_file_written_and_refused_when_alive(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    conf = tmp_path / "c.toml"
    pid = tmp_path / "run" / "hekad.pid"
    conf.write_text(
        f'[hekad]\npid_file = "{pid}"\nbase_dir = "s"\n'
        '[in]\ntype = "TcpInput"\naddress = "127.0.0.1:0"\n' + FRAMED_OUT
    )
    d = Daemon(conf)
    daemons.append(d)
    d.port("in")
    assert int(pid.read_text()) == d.proc.pid
    second = hekapy_router("-config", str(conf))
    assert second.returncode == 1
    assert "names a running process" in second.stderr
    assert d.stop() == 0
    assert not pid.exists()


def test_sigusr1_writes_report_and_sighup_keeps_running(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[hekad]\nbase_dir = "s"\n[in]\ntype = "TcpInput"\n'
        'address = "127.0.0.1:0"\n' + FRAMED_OUT
    )
    d = Daemon(conf)
    daemons.append(d)
    d.port("in")
    os.kill(d.proc.pid, signal.SIGUSR1)
    d.wait_for(r"report inputs: .*\"Name\": \"in\"")
    os.kill(d.proc.pid, signal.SIGHUP)
    os.kill(d.proc.pid, signal.SIGUSR1)
    d.wait_for(r"report .*out")
    assert d.proc.poll() is None
    assert d.stop() == 0
    assert "received SIGTERM; shutting down" in d.log


def test_log_lines_have_time_level_and_logger(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[hekad]\nbase_dir = "s"\n[in]\ntype = "TcpInput"\n'
        'address = "127.0.0.1:0"\n' + FRAMED_OUT
    )
    d = Daemon(conf)
    daemons.append(d)
    d.port("in")
    assert d.stop() == 0
    assert d.lines
    for line in d.lines:
        parts = line.split(" ", 4)
        assert parts[2] in ("DEBUG", "INFO", "WARNING", "ERROR"), line
        assert parts[3].endswith(":"), line


FILTER = """
n = 0
function process_message()
  n = n + 1
  return 0
end
function timer_event(ns)
  inject_payload("txt", "count", "v1 " .. n)
end
"""


def test_sighup_reloads_sandbox_and_keeps_state(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    from tests.test_daemon_e2e import wait_until

    (tmp_path / "logs").mkdir()
    src = tmp_path / "logs" / "a.log"
    src.write_text("a\nb\n")
    script = tmp_path / "f.lua"
    script.write_text(FILTER)
    conf = tmp_path / "c.toml"
    conf.write_text("""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'a\\.log'
poll_interval = "50ms"
[f]
type = "SandboxFilter"
filename = "f.lua"
message_matcher = "Logger == 'ls'"
preserve_data = true
timer_event_on_shutdown = true
[reports]
type = "FileOutput"
message_matcher = "Type == 'heka.sandbox-output'"
path = "reports.txt"
encoder = "PayloadEncoder"
flush_interval = 0
""")
    d = Daemon(conf)
    daemons.append(d)
    d.wait_for("started with")
    assert wait_until(lambda: (tmp_path / "state" / "logstreamer").exists())
    time.sleep(0.3)
    script.write_text(FILTER.replace("v1", "v2"))
    os.kill(d.proc.pid, signal.SIGHUP)
    d.wait_for("reloaded f")
    with open(src, "a") as f:
        f.write("c\n")
    time.sleep(0.3)
    assert d.stop() == 0
    # The old script reports as it stops; the new one starts from the
    # preserved count and reports at shutdown.
    assert (tmp_path / "reports.txt").read_text() == "v1 2\nv2 3\n"
    assert (tmp_path / "state" / "sandbox_preservation" / "f.data").exists()


def test_check_reports_every_kind_of_mistake_in_one_run(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[in]\ntype = 'StdinInput'\ndecoder = 'dec'\ntypo_key = 1\n"
        "[dec]\ntype = 'PayloadRegexDecoder'\nmatch_regex = '(?P<x'\n"
        "[unused]\ntype = 'PayloadRegexDecoder'\nmatch_regex = '(?P<y'\n"
        "[out]\ntype = 'FileOutput'\nmessage_matcher = 'TRUE'\n"
        "path = 'o'\nperm = 'rw'\n"
    )
    done = hekapy_router("-config", str(conf), "-check")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1] == "4 errors loading configuration"
    assert "unknown config setting 'typo_key'" in lines[0]
    assert sum("[dec]" in x for x in lines) == 1
    assert any("[unused]" in x and "bad match_regex" in x for x in lines)
    assert any("perm must be an octal string" in x for x in lines)


def test_check_counts_the_configured_plugins(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[in]\ntype = "TcpInput"\naddress = "127.0.0.1:1"\n' + FRAMED_OUT
    )
    done = hekapy_router("--config", str(conf), "--check")
    assert done.stdout == "configuration OK: 2 plugins\n"


def test_multidecoder_cycles_and_odd_subs_are_mistakes(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[in]\ntype = 'TcpInput'\naddress = '127.0.0.1:1'\n"
        "decoder = 'multi'\n"
        "[multi]\ntype = 'MultiDecoder'\nsubs = ['multi']\n"
        "[odd]\ntype = 'MultiDecoder'\nsubs = [1]\n"
        "[a]\ntype = 'MultiDecoder'\nsubs = ['b']\n"
        "[b]\ntype = 'MultiDecoder'\nsubs = ['a', 'ProtobufDecoder']\n"
    )
    done = hekapy_router("-config", str(conf), "-check")
    assert done.returncode == 2, done.stderr
    text = done.stderr
    assert "Traceback" not in text
    assert f"subs form a cycle: multi -> multi in {conf} [multi]" in text
    assert f"subs form a cycle: a -> b -> a in {conf} [a]" in text
    assert f"subs entries must be strings, got 1 in {conf} [odd]" in text


def test_a_plugins_own_mistake_names_the_file_and_section(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        "[f]\ntype = 'SandboxFilter'\nmessage_matcher = 'TRUE'\n")
    done = hekapy_router("-config", str(conf), "-check")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"a sandbox needs 'filename' or 'source' in {conf} [f]")
