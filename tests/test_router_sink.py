"""FileOutput fed from framed streams: the same file either way.

With the compiled fast path, ``Router.feed`` appends the records a
FileOutput (ProtobufEncoder, framed) wants to a FrameSink and writes
them in one block per chunk; ``inject`` takes the Python path.  Both
must write the same bytes in the same order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import STREAMS

from hekapy import (
    EXTENSION_LOADED,
    Field,
    Message,
    Pack,
    Router,
    StreamReader,
    frame,
)
from hekapy.plugins import Filter
from hekapy.plugins.outputs.file import FileOutput
from hekapy.sandbox import SandboxFilter

VIAS = ["feed", "inject"]


def real_messages() -> list[bytes]:
    out = []
    for path in sorted(STREAMS.rglob("*")):
        if path.is_file():
            out += [r.message for r in StreamReader().feed(
                path.read_bytes())]
    assert len(out) > 50
    return out


def route(r: Router, via: str, raws: list[bytes], chunk: int) -> None:
    if via == "feed":
        data = b"".join(frame(m) for m in raws)
        for pos in range(0, len(data), chunk):
            r.feed(data[pos:pos + chunk])
    else:
        for m in raws:
            r.inject(m)
    r.drain()


@pytest.mark.parametrize("chunk", [97, 1 << 20])
@pytest.mark.parametrize("via", VIAS)
def test_file_holds_every_record_framed_in_order(
    tmp_path: Path, via: str, chunk: int
) -> None:
    raws = real_messages()
    path = tmp_path / "out.hpb"
    r = Router()
    out = FileOutput("file", {"path": str(path)})
    r.add_output(out, "TRUE")
    route(r, via, raws, chunk)
    rep = r.report()["plugins"]["file"]
    r.close()
    assert path.read_bytes() == b"".join(frame(m) for m in raws)
    assert (rep["matched"], rep["processed"], rep["failed"]) == (
        len(raws), len(raws), 0)
    assert out.written == len(raws)


def test_feed_uses_a_frame_sink_when_compiled(tmp_path: Path) -> None:
    from hekapy._impl import impl

    r = Router()
    r.add_output(FileOutput("a", {"path": str(tmp_path / "a")}), "TRUE")
    r.add_output(FileOutput("b", {"path": str(tmp_path / "b"),
                                  "use_framing": False}), "TRUE")
    sinks = {n: r._by_name[n].sink for n in ("a", "b")}
    r.close()
    if EXTENSION_LOADED and hasattr(impl, "FrameSink"):
        assert sinks == {"a": True, "b": False}
    else:
        assert sinks == {"a": False, "b": False}


class Tagger(Filter):
    """Injects a note after every third message it sees."""

    def __init__(self) -> None:
        super().__init__("tagger")
        self.n = 0

    def process_message(self, pack: Pack) -> None:
        self.n += 1
        if self.n % 3 == 0:
            self.context.inject(Message.new(
                type="note", payload=str(self.n)))


@pytest.mark.parametrize("via", VIAS)
def test_injected_messages_keep_their_place(tmp_path: Path,
                                            via: str) -> None:
    # Notes are injected while a chunk is routed; the file must show
    # each right after the message that caused it, whichever way the
    # messages came in.
    raws = [Message.new(type="t", payload=str(i),
                        fields=[Field("i", i)]).encode()
            for i in range(10)]
    path = tmp_path / "out.hpb"
    r = Router()
    r.add_filter(Tagger(), "Type == 't'")
    r.add_output(FileOutput("file", {"path": str(path)}), "TRUE")
    route(r, via, raws, 1 << 20)
    r.close()
    got = [Message.decode(rec.message)
           for rec in StreamReader().feed(path.read_bytes())]
    assert [(m.type, m.payload) for m in got] == [
        ("t", "0"), ("t", "1"), ("t", "2"), ("note", "3"),
        ("t", "3"), ("t", "4"), ("t", "5"), ("note", "6"),
        ("t", "6"), ("t", "7"), ("t", "8"), ("note", "9"), ("t", "9")]


@pytest.mark.parametrize("via", VIAS)
def test_records_over_the_output_limit_fail_alone(tmp_path: Path,
                                                  via: str) -> None:
    small = [Message.new(type="t", payload="x").encode() for _ in range(3)]
    big = Message.new(type="t", payload="y" * 5000).encode()
    raws = [small[0], big, small[1], small[2]]
    path = tmp_path / "out.hpb"
    r = Router()
    out = FileOutput("file", {"path": str(path)})
    out.max_message_size = 1000
    r.add_output(out, "TRUE")
    route(r, via, raws, 1 << 20)
    rep = r.report()["plugins"]["file"]
    r.close()
    assert path.read_bytes() == b"".join(frame(m) for m in small)
    assert (rep["processed"], rep["failed"]) == (4, 1)


@pytest.mark.parametrize("via", VIAS)
def test_sandbox_and_file_side_by_side(tmp_path: Path, via: str) -> None:
    lua = """
    require "string"
    local n = 0
    function process_message()
        n = n + 1
        if n % 4 == 0 then inject_payload("txt", "n", tostring(n)) end
        return 0
    end
    """
    raws = [Message.new(type="t", payload=str(i)).encode()
            for i in range(8)]
    path = tmp_path / "out.hpb"
    r = Router()
    r.add_filter(SandboxFilter("count", {"source": lua}), "Type == 't'")
    r.add_output(FileOutput("file", {"path": str(path)}), "TRUE")
    route(r, via, raws, 1 << 20)
    r.close()
    got = [Message.decode(rec.message)
           for rec in StreamReader().feed(path.read_bytes())]
    assert [m.payload for m in got] == [
        "0", "1", "2", "3", "4", "4", "5", "6", "7", "8"]


class Quits(FileOutput):
    """A FileOutput that stops for good on a filter's quit message."""

    def process_message(self, pack: Pack) -> None:
        if pack.view.type == b"heka.sandbox.quit":
            from hekapy.plugins import PluginExit

            raise PluginExit("asked to quit")
        super().process_message(pack)


def test_a_terminated_output_gets_nothing_more(tmp_path: Path) -> None:
    # The quit message reaches the output through the Python path (it
    # is injected); what the sink took before it is written, nothing
    # after it is.
    lua = """
    function process_message()
        if read_message("Payload") == "3" then
            inject_message({Type = "quit"})
        end
        return 0
    end
    """
    raws = [Message.new(type="t", payload=str(i)).encode()
            for i in range(8)]
    path = tmp_path / "out.hpb"
    r = Router()
    r.add_filter(SandboxFilter("q", {"source": lua}), "Type == 't'")
    r.add_output(Quits("file", {"path": str(path)}), "TRUE")
    route(r, "feed", raws, 1 << 20)
    rep = r.report()["plugins"]["file"]
    r.close()
    got = [Message.decode(rec.message).payload
           for rec in StreamReader().feed(path.read_bytes())]
    assert got == ["0", "1", "2", "3"]
    # Four through the sink, then the quit message, which failed.
    assert (rep["state"], rep["processed"], rep["failed"]) == (
        "terminated", 5, 1)
