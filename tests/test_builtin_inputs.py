"""Built-in inputs driven through the daemon's InputHost."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hekapy import ConfigError, Message, Pack, frame
from hekapy.daemon.host import InputHost
from hekapy.plugins._api import PluginContext
from hekapy.plugins.decoders import ProtobufDecoder
from hekapy.plugins.inputs.logstreamer import LogstreamerInput
from hekapy.plugins.inputs.network import TcpInput, UdpInput
from hekapy.plugins.inputs.simple import FilePollingInput, StdinInput
from hekapy.plugins.splitters import (
    HekaFramingSplitter,
    NullSplitter,
    TokenSplitter,
)


def make_host(
    packs: list[Pack],
    run_once: bool = True,
    splitter: type = TokenSplitter,
    decoder: Any = None,
    config: dict[str, Any] | None = None,
) -> InputHost:
    host = InputHost(
        "in",
        config or {},
        lambda: splitter("s"),
        decoder,
        packs.append,
        "h",
        run_once,
        logging.getLogger("hekapy.test"),
    )
    host.splitter_message_bytes = splitter is HekaFramingSplitter
    return host


def payloads(packs: list[Pack]) -> list[str | None]:
    return [p.message.payload for p in packs]


def logstreamer(tmp_path: Path, **config: Any) -> LogstreamerInput:
    config.setdefault("log_directory", str(tmp_path / "logs"))
    config.setdefault("journal_directory", str(tmp_path / "journal"))
    ls = LogstreamerInput("ls", config)
    ls.start(PluginContext("ls", lambda m: None, base_dir=str(tmp_path)))
    return ls


def test_logstreamer_priority_reads_rotated_files_oldest_first(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log.2").write_text("one\n")
    (logs / "app.log.1").write_text("two\n")
    (logs / "app.log").write_text("three\n")
    (logs / "other.txt").write_text("never\n")
    packs: list[Pack] = []
    ls = logstreamer(
        tmp_path,
        file_match=r"app\.log(\.(?P<Index>\d+))?",
        priority=["^Index"],
    )
    ls.run(make_host(packs))
    assert payloads(packs) == ["one\n", "two\n", "three\n"]
    assert packs[0].message.logger == "in"


def test_logstreamer_differentiator_makes_separate_streams(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    (logs / "web").mkdir(parents=True)
    (logs / "db").mkdir()
    (logs / "web" / "x.log").write_text("w1\nw2\n")
    (logs / "db" / "x.log").write_text("d1\n")
    packs: list[Pack] = []
    ls = logstreamer(
        tmp_path,
        file_match=r"(?P<Svc>\w+)/x\.log",
        differentiator=["Svc", "-log"],
    )
    ls.run(make_host(packs))
    assert sorted(ls.streams) == ["db-log", "web-log"]
    assert sorted(payloads(packs)) == ["d1\n", "w1\n", "w2\n"]
    assert sorted(p.name for p in (tmp_path / "journal").iterdir()) == [
        "ls.db-log.json",
        "ls.web-log.json",
    ]


def test_logstreamer_journal_resumes_after_rename(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("a\nb\npartial")
    packs: list[Pack] = []
    match = {
        "file_match": r"app\.log(\.(?P<Index>\d+))?",
        "priority": ["^Index"],
    }
    logstreamer(tmp_path, **match).run(make_host(packs))
    assert payloads(packs) == ["a\n", "b\n"]
    with open(logs / "app.log", "a") as f:
        f.write(" line\nc\n")
    os.rename(logs / "app.log", logs / "app.log.1")
    (logs / "app.log").write_text("d\n")
    packs.clear()
    logstreamer(tmp_path, **match).run(make_host(packs))
    assert payloads(packs) == ["partial line\n", "c\n", "d\n"]


def test_logstreamer_initial_tail_skips_existing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("old\n")
    packs: list[Pack] = []
    logstreamer(tmp_path, file_match=r"a\.log", initial_tail=True).run(
        make_host(packs)
    )
    assert packs == []


def test_logstreamer_tails_rotation_and_truncation(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    src = logs / "a.log"
    src.write_text("1\n")
    packs: list[Pack] = []
    ls = logstreamer(
        tmp_path,
        file_match=r"a\.log(\.(?P<I>\d))?",
        priority=["^I"],
        poll_interval="20ms",
        rescan_interval="50ms",
    )
    t = threading.Thread(target=ls.run, args=(make_host(packs, False),))
    t.start()
    try:

        def wait(n: int) -> None:
            deadline = time.monotonic() + 5
            while len(packs) < n and time.monotonic() < deadline:
                time.sleep(0.02)

        wait(1)
        with open(src, "a") as f:
            f.write("2\n")
        wait(2)
        os.rename(src, logs / "a.log.1")
        with open(logs / "a.log.1", "a") as f:
            f.write("3\n")
        src.write_text("4\n")
        wait(4)
        src.write_text("")  # truncated in place
        time.sleep(0.1)
        with open(src, "a") as f:
            f.write("5\n")
        wait(5)
    finally:
        ls.stop()
        t.join(5)
    assert payloads(packs) == ["1\n", "2\n", "3\n", "4\n", "5\n"]


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "log_directory"),
        ({"log_directory": "x"}, "file_match"),
        ({"log_directory": "x", "file_match": "("}, "bad file_match"),
        (
            {"log_directory": "x", "file_match": "a", "priority": ["Idx"]},
            "not a named group",
        ),
        (
            {
                "log_directory": "x",
                "file_match": "a",
                "rescan_interval": "soon",
            },
            "rescan_interval",
        ),
    ],
)
def test_logstreamer_bad_config(
    config: dict[str, Any],
    needle: str,
) -> None:
    with pytest.raises(ConfigError, match=needle):
        LogstreamerInput("ls", config)


def test_file_polling_input_reads_whole_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("line1\nline2\n")
    fp = FilePollingInput(
        "fp", {"file_path": str(tmp_path / "f"), "ticker_interval": 1}
    )
    packs: list[Pack] = []
    fp.run(make_host(packs, splitter=NullSplitter))
    assert payloads(packs) == ["line1\nline2\n"]


@pytest.mark.parametrize(
    "config", [{"ticker_interval": 1}, {"file_path": "x"}]
)
def test_file_polling_input_bad_config(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FilePollingInput("fp", config)


def test_stdin_input_reads_to_end() -> None:
    r, w = os.pipe()
    os.write(w, b"a\nb\n")
    os.close(w)
    inp = StdinInput("s")
    inp.fd = r
    packs: list[Pack] = []
    try:
        inp.run(make_host(packs))
    finally:
        os.close(r)
    assert payloads(packs) == ["a\n", "b\n"]


def _start(plugin: Any, packs: list[Pack], **host: Any) -> threading.Thread:
    plugin.start(PluginContext(plugin.name, lambda m: None))
    t = threading.Thread(
        target=plugin.run, args=(make_host(packs, False, **host),)
    )
    t.start()
    return t


def _wait(packs: list[Pack], n: int) -> None:
    deadline = time.monotonic() + 5
    while len(packs) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_udp_input_one_record_per_datagram() -> None:
    inp = UdpInput("u", {"address": "127.0.0.1:0"})
    packs: list[Pack] = []
    t = _start(inp, packs, splitter=NullSplitter)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for text in (b"one", b"two"):
                s.sendto(text, inp.bound_address)
        _wait(packs, 2)
    finally:
        inp.stop()
        t.join(5)
    assert payloads(packs) == ["one", "two"]


def test_tcp_input_framed_protobuf_per_connection() -> None:
    inp = TcpInput("t", {"address": "127.0.0.1:0"})
    packs: list[Pack] = []
    t = _start(
        inp, packs, splitter=HekaFramingSplitter, decoder=ProtobufDecoder("d")
    )
    try:
        for i in range(3):
            with socket.create_connection(inp.bound_address, 5) as c:
                c.sendall(frame(Message(payload=f"m{i}").encode()))
        _wait(packs, 3)
    finally:
        inp.stop()
        t.join(5)
    assert sorted(payloads(packs)) == ["m0", "m1", "m2"]
    assert inp.connections == 3


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (TcpInput, {}),
        (TcpInput, {"address": "x:1", "net": "sctp"}),
        (UdpInput, {}),
        (UdpInput, {"address": "x:1", "net": "tcp"}),
    ],
)
def test_network_input_bad_config(
    cls: type,
    config: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError):
        cls("n", config)


def test_host_decode_failures_counted_and_forwarded() -> None:
    packs: list[Pack] = []
    host = make_host(
        packs,
        splitter=HekaFramingSplitter,
        decoder=ProtobufDecoder("d"),
        config={"send_decode_failures": True},
    )
    stream = host.stream("x")
    stream.feed(frame(b"\x0a\xff") + frame(Message(payload="ok").encode()))
    assert host.counters["decode_failures"] == 1
    assert len(packs) == 2
    failed = packs[0].message
    assert failed.field("decode_failure") is True
    assert "byte" in failed.field("decode_error")
    assert packs[1].message.payload == "ok"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


def test_tls_from_tcp_output_to_tcp_input(
    tmp_path: Path, tls_files: tuple[str, str]
) -> None:
    from hekapy.plugins.outputs.tcp import TcpOutput

    cert, key = tls_files
    inp = TcpInput(
        "t",
        {
            "address": "127.0.0.1:0",
            "use_tls": True,
            "tls": {"cert_file": cert, "key_file": key},
        },
    )
    packs: list[Pack] = []
    t = _start(
        inp, packs, splitter=HekaFramingSplitter, decoder=ProtobufDecoder("d")
    )
    out = TcpOutput(
        "o",
        {
            "address": f"127.0.0.1:{inp.bound_address[1]}",
            "use_tls": True,
            "use_buffering": False,
            "tls": {"root_cafile": cert},
        },
    )
    out.start(PluginContext("o", lambda m: None, base_dir=str(tmp_path)))
    try:
        for i in range(3):
            out.process_message(
                Pack.from_message(Message(payload=f"secret {i}"))
            )
        _wait(packs, 3)
    finally:
        out.stop()
        inp.stop()
        t.join(5)
    assert payloads(packs) == ["secret 0", "secret 1", "secret 2"]


def test_tls_input_refuses_plain_client(tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    inp = TcpInput(
        "t",
        {
            "address": "127.0.0.1:0",
            "use_tls": True,
            "tls": {"cert_file": cert, "key_file": key},
        },
    )
    packs: list[Pack] = []
    t = _start(inp, packs, splitter=HekaFramingSplitter)
    try:
        with socket.create_connection(inp.bound_address, 5) as c:
            c.sendall(frame(Message(payload="plain").encode()))
        time.sleep(0.3)
    finally:
        inp.stop()
        t.join(5)
    assert packs == []
