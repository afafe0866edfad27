"""FileOutput fed by ``feed`` and by ``inject``: the same files.

Random pipelines (Lua filters that inject, fail and die, Python filters
that inject, several file outputs with size limits and matchers) route
the same records both ways, cut into chunks of every size; the files
must hold the same records in the same order and the counters must
agree.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from hekapy import Field, Message, Pack, Router, StreamReader, frame
from hekapy.plugins import Encoder, Filter
from hekapy.plugins.outputs.file import FileOutput
from hekapy.sandbox import SandboxFilter

VIAS = ["feed", "inject"]


def _sinks() -> bool:
    r = Router()
    r.add_output(FileOutput("probe", {"path": "/dev/null"}), "TRUE")
    made = r._by_name["probe"].sink
    r.close()
    return bool(made)


SINKS = _sinks()


class Note(Filter):
    """Injects a note every ``every`` messages."""

    def __init__(self, name: str, every: int) -> None:
        super().__init__(name)
        self.every = every
        self.n = 0

    def process_message(self, pack: Pack) -> None:
        self.n += 1
        if self.n % self.every == 0:
            self.context.inject(Message.new(
                type="py", payload=f"{self.name}:{self.n}"))


def lua(name: str, every: int, die: int) -> str:
    return f"""
    local n = 0
    function process_message()
        n = n + 1
        if n == {die} then error("die") end
        if n % {every} == 0 then
            inject_payload("txt", "{name}", tostring(n))
        end
        if n % 3 == 0 then return -1 end
        return 0
    end
    """


def records(path: Path) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    reader = StreamReader(max_message_size=1 << 20)
    out = []
    for rec in reader.feed(path.read_bytes()):
        m = Message.decode(rec.message)
        # Injected messages get a fresh Uuid each run: compare the rest.
        out.append((m.type, m.logger, m.payload,
                    rec.message if m.type == "t" else None))
    return out


# "matched" is left out: see test_oversized_records_are_counted_as_matched.
COUNTERS = ("state", "processed", "failed", "injected", "dropped")


def run(tmp: Path, via: str, plan: dict[str, Any]) -> dict[str, Any]:
    tmp.mkdir()
    r = Router(hostname="h", pid=1, max_message_size=1 << 20)
    # Lua filters first: a Python filter routed before a direct one is
    # served after it under feed (see test_attack_direct_call.py).
    for k, (every, die) in enumerate(plan["lua"]):
        r.add_filter(SandboxFilter(f"l{k}", {"source": lua(f"l{k}", every,
                                                            die)}),
                     "Type == 't'")
    for k, every in enumerate(plan["py"]):
        r.add_filter(Note(f"p{k}", every), "Type == 't'")
    for k, (limit, matcher) in enumerate(plan["outs"]):
        o = FileOutput(f"o{k}", {"path": str(tmp / f"o{k}")})
        o.max_message_size = limit
        r.add_output(o, matcher)
    raws = plan["raws"]
    if via == "feed":
        data = b"".join(frame(m) for m in raws)
        step = plan["chunk"]
        for pos in range(0, len(data), step):
            r.feed(data[pos:pos + step])
    else:
        for m in raws:
            r.inject(m)
    r.drain()
    rep = r.report()["plugins"]
    r.close()
    return {
        "counters": {n: {k: p[k] for k in COUNTERS}
                     for n, p in rep.items()},
        "files": [records(tmp / f"o{k}") for k in range(len(plan["outs"]))],
    }


def make_plan(seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    raws = [Message.new(type="t", payload="p" * rnd.choice(
        [1, 10, 100, 2000, 5000]), fields=[Field("i", i)]).encode()
        for i in range(rnd.randint(1, 40))]
    return {
        "raws": raws,
        "lua": [(rnd.randint(1, 5), rnd.randint(1, 60))
                for _ in range(rnd.randint(0, 3))],
        "py": [rnd.randint(1, 5) for _ in range(rnd.randint(0, 2))],
        "outs": [(rnd.choice([None, 3000]),
                  rnd.choice(["TRUE", "Type == 't'", "Type != 't'",
                              "Fields[i] < 10"]))
                 for _ in range(rnd.randint(1, 3))],
        "chunk": rnd.choice([1, 7, 97, 1000, 1 << 20]),
    }


@pytest.mark.parametrize("seed", range(12))
def test_random_pipelines_write_the_same_files(tmp_path: Path,
                                               seed: int) -> None:
    plan = make_plan(seed)
    got = {via: run(tmp_path / via, via, plan) for via in VIAS}
    assert got["feed"] == got["inject"]
    # The messages routed straight from the stream are all there, but
    # those over the output's limit.
    for (limit, matcher), recs in zip(plan["outs"], got["feed"]["files"],
                                      strict=True):
        if matcher in ("TRUE", "Type == 't'"):
            fed = [r[3] for r in recs if r[0] == "t"]
            assert fed == [m for m in plan["raws"]
                           if limit is None or len(m) <= limit]


@pytest.mark.parametrize("via", VIAS)
def test_file_written_before_remove_and_nothing_after(tmp_path: Path,
                                                      via: str) -> None:
    raws = [Message.new(type="t", payload=str(i)).encode()
            for i in range(6)]
    path = tmp_path / "out"
    r = Router()
    r.add_output(FileOutput("file", {"path": str(path)}), "TRUE")
    if via == "feed":
        r.feed(b"".join(frame(m) for m in raws[:3]))
    else:
        for m in raws[:3]:
            r.inject(m)
    r.remove("file")
    size = path.stat().st_size
    if via == "feed":
        r.feed(b"".join(frame(m) for m in raws[3:]))
    else:
        for m in raws[3:]:
            r.inject(m)
    r.close()
    assert path.read_bytes() == b"".join(frame(m) for m in raws[:3])
    assert path.stat().st_size == size


@pytest.mark.skipif(not SINKS, reason="no FrameSink without the extension")
def test_oversized_records_are_counted_as_matched(tmp_path: Path) -> None:
    small = Message.new(type="t", payload="x").encode()
    big = Message.new(type="t", payload="y" * 5000).encode()
    r = Router()
    out = FileOutput("file", {"path": str(tmp_path / "out")})
    out.max_message_size = 1000
    r.add_output(out, "TRUE")
    r.feed(b"".join(frame(m) for m in [small, big, small]))
    rep = r.report()["plugins"]["file"]
    r.close()
    assert (rep["matched"], rep["processed"], rep["failed"]) == (3, 3, 1)


class ProtobufEncoder(Encoder):
    """An embedding program's encoder that shares the built-in's name."""

    def encode(self, pack: Pack) -> bytes | None:
        if pack.view.payload == b"secret":
            return None
        return pack.raw


@pytest.mark.skipif(not SINKS, reason="no FrameSink without the extension")
def test_an_encoder_named_like_the_builtin_is_still_called(
    tmp_path: Path,
) -> None:
    raws = [Message.new(type="t", payload=p).encode()
            for p in ("a", "secret", "b")]
    files = {}
    for via in VIAS:
        path = tmp_path / via
        r = Router()
        out = FileOutput("file", {"path": str(path)})
        out.encoder = ProtobufEncoder("enc")
        r.add_output(out, "TRUE")
        if via == "feed":
            r.feed(b"".join(frame(m) for m in raws))
        else:
            for m in raws:
                r.inject(m)
        r.close()
        files[via] = path.read_bytes()
    assert files["inject"] == frame(raws[0]) + frame(raws[2])
    assert files["feed"] == files["inject"]
