"""Built-in outputs and the disk queue, driven directly."""

from __future__ import annotations

import http.server
import io
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hekapy import ConfigError, Message, Pack, StreamReader
from hekapy._errors import PluginFailure
from hekapy.plugins._api import PluginContext
from hekapy.plugins.encoders import PayloadEncoder, RstEncoder
from hekapy.plugins.filters.counter import CounterFilter
from hekapy.plugins.outputs._base import Retry, parse_duration
from hekapy.plugins.outputs._diskqueue import DiskQueue
from hekapy.plugins.outputs.file import FileOutput
from hekapy.plugins.outputs.http import HttpOutput
from hekapy.plugins.outputs.simple import LogOutput
from hekapy.plugins.outputs.tcp import TcpOutput, split_address


def ctx(
    name: str, base: Path | str = ".", inject: Any = None
) -> PluginContext:
    return PluginContext(
        name, inject or (lambda m: None), "host", 1, str(base)
    )


def pack(i: int) -> Pack:
    return Pack.from_message(Message.new(type="t", payload=f"p{i}"))


def framed_payloads(data: bytes) -> list[str | None]:
    return [
        Message.decode(r.message).payload for r in StreamReader().feed(data)
    ]


def test_file_output_framed_protobuf_by_default(tmp_path: Path) -> None:
    out = FileOutput("f", {"path": str(tmp_path / "d" / "o.log")})
    out.start(ctx("f"))
    for i in range(3):
        out.process_message(pack(i))
    out.stop()
    data = (tmp_path / "d" / "o.log").read_bytes()
    assert framed_payloads(data) == ["p0", "p1", "p2"]
    assert oct((tmp_path / "d" / "o.log").stat().st_mode & 0o777) == "0o644"


def test_file_output_encoder_without_framing(tmp_path: Path) -> None:
    out = FileOutput("f", {"path": str(tmp_path / "o.txt"), "perm": "600"})
    out.encoder = PayloadEncoder("f-enc")
    out.start(ctx("f"))
    out.process_message(pack(1))
    out.stop()
    assert (tmp_path / "o.txt").read_bytes() == b"p1\n"
    assert (tmp_path / "o.txt").stat().st_mode & 0o777 == 0o600


def test_file_output_forced_framing_of_text(tmp_path: Path) -> None:
    out = FileOutput("f", {"path": str(tmp_path / "o"), "use_framing": True})
    out.encoder = RstEncoder("f-rst")
    out.start(ctx("f"))
    out.process_message(pack(1))
    out.stop()
    (rec,) = StreamReader().feed((tmp_path / "o").read_bytes())
    assert rec.message.startswith(b":Timestamp:")


def test_file_output_flush_by_count(tmp_path: Path) -> None:
    path = tmp_path / "o"
    out = FileOutput(
        "f",
        {
            "path": str(path),
            "flush_count": 3,
            "flush_operator": "OR",
            "flush_interval": 60_000,
        },
    )
    out.start(ctx("f"))
    out.process_message(pack(1))
    out.process_message(pack(2))
    assert path.stat().st_size == 0
    out.process_message(pack(3))
    assert len(framed_payloads(path.read_bytes())) == 3
    out.stop()


def test_file_output_flush_by_interval(tmp_path: Path) -> None:
    path = tmp_path / "o"
    out = FileOutput(
        "f", {"path": str(path), "flush_count": 100, "flush_interval": 50}
    )
    out.start(ctx("f"))
    out.process_message(pack(1))
    deadline = time.monotonic() + 5
    while path.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(framed_payloads(path.read_bytes())) == 1
    out.stop()


def test_file_output_rotation(tmp_path: Path, monkeypatch: Any) -> None:
    now = [3600.0 * 1000 + 10]
    monkeypatch.setattr(
        "hekapy.plugins.outputs.file.time.time", lambda: now[0]
    )
    out = FileOutput(
        "f", {"path": str(tmp_path / "o-%Y%m%d%H.log"), "rotation_interval": 1}
    )
    out.start(ctx("f"))
    out.process_message(pack(1))
    first = out.current_path
    now[0] += 3600
    out.process_message(pack(2))
    out.stop()
    assert first != out.current_path
    assert framed_payloads(Path(first).read_bytes()) == ["p1"]
    assert framed_payloads(Path(out.current_path).read_bytes()) == ["p2"]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"path": "x", "perm": "rw"},
        {"path": "x", "flush_operator": "XOR"},
        {"path": "x", "rotation_interval": 5},
    ],
)
def test_file_output_bad_config(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FileOutput("f", config)


def test_log_output_writes_payload_lines() -> None:
    out = LogOutput("l")
    out.stream = io.BytesIO()
    out.start(ctx("l"))
    out.process_message(pack(1))
    out.process_message(pack(2))
    assert out.stream.getvalue() == b"p1\np2\n"


def test_counter_filter_reports_rate() -> None:
    got: list[Message] = []
    f = CounterFilter("c")
    f.start(ctx("c", inject=got.append))
    for i in range(10):
        f.process_message(pack(i))
    f.timer_event(0)
    (m,) = got
    assert m.type == "heka.counter-output"
    assert m.payload.startswith("Got 10 messages. ")
    assert m.payload.endswith(" msg/sec")
    assert m.field("total") == 10


# -- durations and retries ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("0", 0.0),
        (3, 3.0),
        ("1.5s", 1.5),
        ("100us", 1e-4),
    ],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 parsecs", "ms", True])
def test_parse_duration_errors(text: Any) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_retry_doubles_to_max_and_stops() -> None:
    r = Retry(
        {
            "delay": "100ms",
            "max_delay": "300ms",
            "max_jitter": "0s",
            "max_retries": 4,
        }
    )
    waits = [r.next_wait() for _ in range(5)]
    assert waits == [0.1, 0.2, 0.3, 0.3, None]


def test_split_address() -> None:
    assert split_address("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_address("[::1]:9") == ("::1", 9)
    with pytest.raises(ConfigError):
        split_address("host:port")


# -- disk queue -------------------------------------------------------------


def test_disk_queue_roll_commit_and_reopen(tmp_path: Path) -> None:
    from hekapy import frame

    q = DiskQueue(tmp_path, max_file_size=30)
    recs = [frame(Message(payload=f"r{i}").encode()) for i in range(20)]
    for r in recs:
        q.append(r)
    assert len(list(tmp_path.glob("*.log"))) > 2
    got: list[bytes] = []
    committed = 0
    cur = q.cursor
    while not q.empty_at(cur):
        out, cur = q.read(cur)
        got.extend(out)
        if not committed and len(got) >= 7:
            committed = len(got)
            q.commit(cur)
    assert got == recs
    assert 7 <= committed < 20
    q.close()
    again = DiskQueue(tmp_path, max_file_size=30)
    rest: list[bytes] = []
    cur = again.cursor
    while not again.empty_at(cur):
        out, cur = again.read(cur)
        rest.extend(out)
    assert rest == recs[committed:]
    again.commit(cur)
    assert again.size() == 0
    again.close()


# -- TcpOutput without the daemon ------------------------------------------


def test_tcp_output_unbuffered_sends_framed(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    out = TcpOutput(
        "t", {"address": f"127.0.0.1:{port}", "use_buffering": False}
    )
    out.start(ctx("t", tmp_path))
    out.process_message(pack(1))
    conn, _ = server.accept()
    conn.settimeout(5)
    out.process_message(pack(2))
    out.stop()
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    conn.close()
    server.close()
    assert framed_payloads(data) == ["p1", "p2"]


def test_tcp_output_buffers_on_disk_while_peer_is_down(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = TcpOutput(
        "t",
        {
            "address": f"127.0.0.1:{port}",
            "retries": {
                "delay": "20ms",
                "max_delay": "50ms",
                "max_jitter": "0s",
            },
        },
    )
    out.start(ctx("t", tmp_path))
    for i in range(5):
        out.process_message(pack(i))
    out.stop()  # nobody listened: everything stays queued on disk
    qdir = tmp_path / "output_queue" / "t"
    assert framed_payloads((qdir / "0.log").read_bytes()) == [
        f"p{i}" for i in range(5)
    ]
    assert out.pending() > 0


def test_tcp_output_full_buffer_drop(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = TcpOutput(
        "t",
        {
            "address": f"127.0.0.1:{port}",
            "buffering": {"max_buffer_size": 100, "full_action": "drop"},
            "retries": {"delay": "1s"},
        },
    )
    out.start(ctx("t", tmp_path))
    for i in range(10):
        out.process_message(pack(i))
    out.stop()
    assert out.counters["dropped"] > 0


@pytest.mark.parametrize(
    "config",
    [
        {"address": "nope"},
        {"buffering": {"full_action": "explode"}},
        {"buffering": {"bogus": 1}},
        {"retries": {"bogus": 1}},
        {"tls": {"bogus": 1}, "use_tls": True},
    ],
)
def test_tcp_output_bad_config(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TcpOutput("t", config)


# -- HttpOutput against a local server --------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes, str]] = []
    status = 200

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", 0))
        self.bodies.append(
            (self.command, self.rfile.read(n), self.headers.get("X-Test", ""))
        )
        self.send_response(self.status)
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Any:
    _Handler.bodies = []
    _Handler.status = 200
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


def test_http_output_posts_each_message(http_server: Any) -> None:
    port = http_server.server_address[1]
    out = HttpOutput(
        "h",
        {
            "address": f"http://127.0.0.1:{port}/in",
            "method": "PUT",
            "headers": {"X-Test": "yes"},
            "http_timeout": 5000,
        },
    )
    out.start(ctx("h"))
    out.process_message(pack(1))
    assert _Handler.bodies == [("PUT", b"p1\n", "yes")]
    _Handler.status = 500
    with pytest.raises(PluginFailure, match="HTTP 500"):
        out.process_message(pack(2))


def test_http_output_unreachable_is_a_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = HttpOutput(
        "h", {"address": f"http://127.0.0.1:{port}/", "http_timeout": 2000}
    )
    out.start(ctx("h"))
    with pytest.raises(PluginFailure, match="failed"):
        out.process_message(pack(1))


@pytest.mark.parametrize(
    "config",
    [{}, {"address": "ftp://x"}, {"address": "http://x", "method": "DELETE"}],
)
def test_http_output_bad_config(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        HttpOutput("h", config)


def test_unused_env_var_guard() -> None:
    assert "HEKAPY_TEST_NEVER_SET" not in os.environ


def test_tcp_output_out_of_retries_terminates(tmp_path: Path) -> None:
    from hekapy._errors import PluginExit

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = TcpOutput(
        "t",
        {
            "address": f"127.0.0.1:{port}",
            "retries": {"max_retries": 1, "delay": "10ms", "max_jitter": "0s"},
        },
    )
    out.start(ctx("t", tmp_path))
    out.process_message(pack(1))
    deadline = time.monotonic() + 5
    while out.dead is None and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(PluginExit, match="cannot connect"):
        out.process_message(pack(2))
    out.stop()
    assert out.pending() > 0  # kept on disk for the next start
