"""The real daemon as a subprocess: files, sockets, bad input.

Every socket is on 127.0.0.1 with an ephemeral port; every process is
bounded in time and stopped by the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hekapy import Message, Signer, StreamReader, frame
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def run_once(
    config: Path,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hekapy.daemon",
            "-config",
            str(config),
            "--run-once",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=config.parent,
    )


class Daemon:
    """A daemon running in the background, stopped with SIGTERM."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hekapy.daemon", "-config", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=config.parent,
        )
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in log:\n" + self.log)

    def port(self, name: str) -> int:
        m = self.wait_for(rf"hekapy\.{name}: listening on [\d.]+:(\d+)")
        return int(m.group(1))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._t.join(5)
        self.close()
        return rc

    def close(self) -> None:
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self._t.join(5)
            self.proc.stderr.close()


@pytest.fixture
def daemons() -> list[Daemon]:
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.close()


def read_framed(path: Path) -> list[Message]:
    reader = StreamReader()
    return [Message.decode(r.message) for r in reader.feed(path.read_bytes())]


def wait_until(pred: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def msg(i: int) -> bytes:
    return Message.new(
        type="test", payload=f"message {i}", logger="e2e"
    ).encode()


FRAMED_OUT = """
[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "out/framed.log"
flush_interval = 0
"""


def tcp_config(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "tcp.toml"
    p.write_text(f"""
[hekad]
base_dir = "state"

[tcp_in]
type = "TcpInput"
address = "127.0.0.1:0"
{extra}
{FRAMED_OUT}""")
    return p


def send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)


# -- files in, framed file out -------------------------------------------


def test_files_in_framed_file_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(f"a{i}\n" for i in range(200)))
    (logs / "b.log").write_text("".join(f"b{i}\n" for i in range(100)))
    conf = tmp_path / "files.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"

[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = '(?P<Name>\\w+)\\.log'
differentiator = ["Name"]
{FRAMED_OUT}""")
    done = run_once(conf)
    assert done.returncode == 0, done.stderr
    got = [m.payload for m in read_framed(tmp_path / "out/framed.log")]
    assert [p for p in got if p.startswith("a")] == [
        f"a{i}\n" for i in range(200)
    ]
    assert [p for p in got if p.startswith("b")] == [
        f"b{i}\n" for i in range(100)
    ]
    assert all(
        m.logger == "ls" for m in read_framed(tmp_path / "out/framed.log")
    )

    # A second run reads nothing again; appended lines are read once.
    with open(logs / "a.log", "a") as f:
        f.write("a200\n")
    again = run_once(conf)
    assert again.returncode == 0, again.stderr
    got = [m.payload for m in read_framed(tmp_path / "out/framed.log")]
    assert len(got) == 301 and got[-1] == "a200\n"


# -- TCP in, file out ------------------------------------------------------


def test_tcp_in_file_out(tmp_path: Path, daemons: list[Daemon]) -> None:
    d = Daemon(tcp_config(tmp_path))
    daemons.append(d)
    port = d.port("tcp_in")
    send(port, b"".join(frame(msg(i)) for i in range(50)))
    send(port, b"".join(frame(msg(i)) for i in range(50, 60)))
    out = tmp_path / "out/framed.log"
    assert wait_until(lambda: out.exists() and len(read_framed(out)) == 60), (
        d.log
    )
    assert d.stop() == 0
    payloads = sorted(m.payload for m in read_framed(out))
    assert payloads == sorted(f"message {i}" for i in range(60))


def test_signed_stream_bad_signature_dropped_and_counted(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    extra = (
        'splitter = "signed"\n\n[signed]\ntype = '
        '"HekaFramingSplitter"\n[signed.signer.ops_1]\nhmac_key = "s3cr3t"\n'
    )
    d = Daemon(tcp_config(tmp_path, extra))
    daemons.append(d)
    port = d.port("tcp_in")
    good = Signer("ops", "s3cr3t", 1)
    bad = Signer("ops", "guess", 1)
    send(
        port,
        frame(msg(1), good)
        + frame(msg(2), bad)
        + frame(msg(3), good)
        + frame(msg(4)),
    )
    out = tmp_path / "out/framed.log"
    assert wait_until(lambda: out.exists() and len(read_framed(out)) == 3), (
        d.log
    )
    assert d.stop() == 0
    assert [m.payload for m in read_framed(out)] == [
        "message 1",
        "message 3",
        "message 4",
    ]
    assert "dropped 1 auth failures" in d.log
    assert re.search(r"input tcp_in: 3 records.* 1 auth failures", d.log)


def test_tcp_garbage_then_valid_records(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    d = Daemon(tcp_config(tmp_path))
    daemons.append(d)
    port = d.port("tcp_in")
    junk = os.urandom(4096).replace(b"\x1e", b"x")
    send(
        port,
        junk
        + b"\x1e\x05\x08\x03\x1fbad"
        + frame(msg(1))
        + b"more junk"
        + frame(msg(2)),
    )
    send(port, b"\x1e\x02\x08")  # header cut short, then hang up
    send(port, frame(msg(3)))
    out = tmp_path / "out/framed.log"
    assert wait_until(lambda: out.exists() and len(read_framed(out)) == 3), (
        d.log
    )
    assert d.proc.poll() is None
    assert d.stop() == 0
    assert sorted(m.payload for m in read_framed(out)) == [
        "message 1",
        "message 2",
        "message 3",
    ]
    assert "garbage bytes" in d.log
    assert "decode failure" in d.log  # the 3-byte "bad" message


# -- bad input through files -----------------------------------------------


def test_ten_megabyte_line_is_dropped_and_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "big.log", "wb") as f:
        f.write(b"before\n")
        f.write(b"x" * (10 * 1024 * 1024) + b"\n")
        f.write(b"after\n")
    conf = tmp_path / "big.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'big\\.log'
{FRAMED_OUT}""")
    done = run_once(conf)
    assert done.returncode == 0, done.stderr
    got = [m.payload for m in read_framed(tmp_path / "out/framed.log")]
    assert got == ["before\n", "after\n"]
    assert "dropped 1 oversized" in done.stderr


def test_half_written_framed_file_being_appended(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    records = [frame(msg(i)) for i in range(4)]
    src = logs / "stream.log"
    half = len(records[2]) // 2
    src.write_bytes(records[0] + records[1] + records[2][:half])
    conf = tmp_path / "half.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'stream\\.log'
splitter = "HekaFramingSplitter"
decoder = "ProtobufDecoder"
poll_interval = "50ms"
{FRAMED_OUT}""")
    d = Daemon(conf)
    daemons.append(d)
    out = tmp_path / "out/framed.log"
    assert wait_until(lambda: out.exists() and len(read_framed(out)) == 2), (
        d.log
    )
    with open(src, "ab") as f:
        f.write(records[2][half:] + records[3])
    assert wait_until(lambda: len(read_framed(out)) == 4), d.log
    assert d.stop() == 0
    assert [m.payload for m in read_framed(out)] == [
        f"message {i}" for i in range(4)
    ]


# -- TcpOutput: the peer goes away and comes back --------------------------


class Peer:
    """A framed-stream TCP server on a fixed local port."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.reader = StreamReader()
        self.payloads: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self) -> None:
        conns: list[socket.socket] = []
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                c.settimeout(0.05)
                conns.append(c)
                self.reader = StreamReader()
            except TimeoutError:
                pass
            for c in conns:
                try:
                    data = c.recv(65536)
                except TimeoutError:
                    continue
                for r in self.reader.feed(data):
                    self.payloads.append(Message.decode(r.message).payload)
        for c in conns:
            c.close()
        self.sock.close()

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)


def test_tcp_output_peer_goes_away_and_comes_back(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    peer = Peer()
    port = peer.port
    logs = tmp_path / "logs"
    logs.mkdir()
    src = logs / "app.log"
    src.write_text("".join(f"first {i}\n" for i in range(20)))
    conf = tmp_path / "tcpout.toml"
    conf.write_text(f"""
[hekad]
base_dir = "state"
[ls]
type = "LogstreamerInput"
log_directory = "logs"
file_match = 'app\\.log'
poll_interval = "50ms"
[tcp_out]
type = "TcpOutput"
message_matcher = "TRUE"
address = "127.0.0.1:{port}"
[tcp_out.retries]
delay = "50ms"
max_delay = "200ms"
max_jitter = "10ms"
""")
    d = Daemon(conf)
    daemons.append(d)
    try:
        assert wait_until(lambda: len(peer.payloads) >= 20), d.log
        peer.close()
        with open(src, "a") as f:
            f.write("".join(f"second {i}\n" for i in range(30)))
        time.sleep(0.5)
        peer = Peer(port)
        assert wait_until(
            lambda: sum(p.startswith("second") for p in peer.payloads) >= 30
        ), d.log
    finally:
        peer.close()
    assert d.stop() == 0
    got = set(peer.payloads)
    assert {f"second {i}\n" for i in range(30)} <= got
    assert "connection to 127.0.0.1" in d.log or "cannot connect" in d.log


def test_flood_into_tcp_input(
    tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    d = Daemon(tcp_config(tmp_path))
    daemons.append(d)
    port = d.port("tcp_in")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hekapy.cli.flood",
            "-address",
            f"127.0.0.1:{port}",
            "-count",
            "2000",
            "-variable-size",
            "-corrupt-percentage",
            "5",
            "-seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    m = re.search(
        r"sent 2000 messages \(0 signed, (\d+) corrupted\)", done.stdout
    )
    assert m, done.stdout
    corrupted = int(m.group(1))
    assert 50 < corrupted < 200
    out = tmp_path / "out/framed.log"
    time.sleep(0.5)
    assert d.stop() == 0
    got = read_framed(out) if out.exists() else []
    # A flipped byte loses at most its own record and, when it hits a
    # length, the record it runs into; nothing else.
    assert 2000 - 2 * corrupted <= len(got) <= 2000
    assert d.proc.returncode == 0


ACCESS_CONFIG = """\
[hekad]
base_dir = "{state}"

[logs]
type = "LogstreamerInput"
log_directory = "{logs}"
file_match = 'access\\.log'
decoder = "dec"
send_decode_failures = true

[dec]
{decoder}

[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "{out}"
"""


def test_native_and_lua_access_log_decoders_write_the_same(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    real = (ROOT / "data" / "logs" / "access_webinj.log").read_bytes()
    lines = real.splitlines(keepends=True)
    (logs / "access.log").write_bytes(
        b"".join(lines[:100]) + b"not a log line\n" + b"".join(lines[100:])
    )
    decoders = {
        "native": 'type = "AccessLogDecoder"',
        "lua": 'type = "SandboxDecoder"\nfilename = "{}"'.format(
            ROOT / "sandboxes" / "decoders" / "access_log.lua"
        ),
    }
    got = {}
    for name, decoder in decoders.items():
        out = tmp_path / f"{name}.hpb"
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(ACCESS_CONFIG.format(
            state=tmp_path / f"state-{name}", logs=logs, out=out,
            decoder=decoder))
        res = run_once(cfg)
        assert res.returncode == 0, res.stderr
        assert "decode failure" in res.stderr
        msgs = read_framed(out)
        for m in msgs:
            m.uuid = None
        got[name] = msgs
    assert len(got["native"]) == len(lines) + 1
    # The undecodable line is sent on, marked, in its place.
    failed = got["native"][100]
    assert failed.field("decode_failure") is True
    assert failed.payload == "not a log line\n"
    # The failure messages carry the time they were read; the rest match.
    for a, b in zip(got["native"], got["lua"], strict=True):
        if a.field("decode_failure"):
            assert b.field("decode_failure")
            continue
        assert a == b
