"""Line blocks: an input's lines decoded and routed a chunk at a time.

A stream whose splitter cuts plain lines and whose decoder offers
``frame_lines`` (AccessLogDecoder) decodes each chunk's lines in one
call.  Whatever the chunking, the messages routed and the counters kept
must be those of the per-record path.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from hekapy import Message, Pack, StreamReader
from hekapy.daemon.host import InputHost
from hekapy.plugins.decoders.accesslog import AccessLogDecoder
from hekapy.plugins.splitters import TokenSplitter

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "data" / "logs" / "access_webinj.log"


def sample() -> bytes:
    lines = LOG.read_bytes().splitlines(keepends=True)[:60]
    long_line = lines[0].rstrip(b"\n") + b" " + b"y" * 900 + b"\n"
    return b"".join([
        *lines[:10], b"not a log line\n", *lines[10:20], long_line,
        b"\n", *lines[20:40], b"x" * 1500 + b"\n", *lines[40:],
        b"trailing without newline",
    ])


class Run:
    """One stream fed ``data`` in chunks, per record or in blocks."""

    def __init__(self, blocks: bool, config: dict[str, Any],
                 split: dict[str, Any]) -> None:
        self.messages: list[Message] = []
        dec = AccessLogDecoder("dec", {})

        def splitter() -> TokenSplitter:
            s = TokenSplitter("s", split)
            s.max_message_size = 700
            return s

        self.host = InputHost(
            "in", config, splitter, dec, self.route, "h", True,
            logging.getLogger("hekapy.test"),
            self.route_framed if blocks else None,
        )
        self.stream = self.host.stream("log")
        assert self.stream._blocks == blocks

    def route(self, pack: Pack) -> None:
        self.messages.append(pack.message)

    def route_framed(self, data: bytes, count: int) -> None:
        got = [Message.decode(r.message) for r in StreamReader().feed(data)]
        assert len(got) == count
        self.messages += got

    def feed(self, data: bytes, chunk: int) -> Run:
        for pos in range(0, len(data), chunk):
            self.stream.feed(data[pos:pos + chunk])
        self.stream.close()
        return self


def summary(run: Run) -> tuple[Any, ...]:
    msgs = []
    for m in run.messages:
        m.uuid = None
        if not m.fields or m.fields[-1].name == "decode_error":
            m.timestamp = None
        msgs.append(m)
    counters = dict(run.host.counters)
    return msgs, counters, dict(run.stream.splitter.counters)


@pytest.mark.parametrize("chunk", [1, 13, 700, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("config", "split"),
    [
        ({}, {}),
        ({"send_decode_failures": True}, {"keep_truncated": True}),
        ({}, {"deliver_incomplete_final": True}),
    ],
)
def test_blocks_route_what_records_route(
    chunk: int, config: dict[str, Any], split: dict[str, Any]
) -> None:
    data = sample()
    per_record = summary(Run(False, config, split).feed(data, chunk))
    blocks = summary(Run(True, config, split).feed(data, chunk))
    msgs, counters, split_counters = blocks
    assert msgs == per_record[0]
    assert counters == per_record[1]
    assert split_counters == per_record[2]
    assert split_counters["oversized"] == 2
    decoded = [m for m in msgs if m.type == "nginx.access"]
    assert counters["messages"] == len(decoded) >= 60
    assert counters["decode_failures"] >= 2
    failures = [m for m in msgs if m.type != "nginx.access"]
    assert len(failures) == (
        counters["decode_failures"] if config else 0)


def test_other_splitters_and_decoders_keep_the_record_path() -> None:
    run = Run(True, {}, {})
    assert run.host.takes_blocks(TokenSplitter("s", {}))
    assert not run.host.takes_blocks(TokenSplitter("s", {"delimiter": ";"}))
    assert not run.host.takes_blocks(TokenSplitter("s", {"count": 2}))
    run.host.splitter_message_bytes = True
    assert not run.host.takes_blocks(TokenSplitter("s", {}))
    run.host.splitter_message_bytes = False
    run.host.decoder = None
    assert not run.host.takes_blocks(TokenSplitter("s", {}))
