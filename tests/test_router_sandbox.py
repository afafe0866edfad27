"""The router with real Lua sandbox filters: termination, injection."""

from __future__ import annotations

import json
import logging

import pytest

from hekapy import Field, Message, Pack, Router
from hekapy.plugins import Output
from hekapy.sandbox import SandboxFilter


class Collect(Output):
    def __init__(self, name: str = "out") -> None:
        super().__init__(name)
        self.got: list[Message] = []

    def process_message(self, pack: Pack) -> None:
        self.got.append(pack.message)


def msg(n: int) -> Message:
    return Message.new(type="t", payload=str(n), fields=[Field("n", n)])


def sandbox(name: str, body: str) -> SandboxFilter:
    return SandboxFilter(name, {"source": body})


@pytest.mark.parametrize("threaded", [False, True])
def test_lua_error_terminates_the_sandbox_and_is_routed(
    threaded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    lua = """
    function process_message()
        if read_message("Fields[n]") == 3 then error("boom") end
        return 0
    end
    """
    r = Router(hostname="h1")
    out = Collect()
    r.add_filter(sandbox("lua", lua), "Type == 't'", threaded=threaded)
    r.add_output(out, "Type == 'heka.sandbox-terminated'")
    with caplog.at_level(logging.ERROR, logger="hekapy.router"):
        for n in range(6):
            r.inject(msg(n))
        r.drain()
    (m,) = out.got
    assert m.logger == "hekad"
    assert m.field("plugin") == "lua"
    assert "boom" in (m.payload or "")
    rep = r.report()["plugins"]["lua"]
    assert rep["state"] == "terminated"
    assert rep["processed"] == 4
    assert r.plugins == ["out"]
    assert "lua terminated" in caplog.records[0].getMessage()
    r.close()


def test_negative_status_counts_a_failure_and_goes_on() -> None:
    lua = """
    function process_message()
        if read_message("Fields[n]") % 2 == 1 then return -1 end
        return 0
    end
    """
    r = Router()
    r.add_filter(sandbox("odd", lua), "TRUE")
    for n in range(6):
        r.inject(msg(n))
    rep = r.report()["plugins"]["odd"]
    assert (rep["processed"], rep["failed"], rep["state"]) == (6, 3, "running")
    r.close()


def test_sandbox_injecting_what_it_matches_is_terminated() -> None:
    lua = """
    function process_message()
        inject_message({Type = "loop"})
        return 0
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("loop", lua), "Type =~ /loop/ || Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-terminated'")
    r.inject(msg(1))
    r.drain()
    (m,) = out.got
    assert "circular reference" in (m.payload or "")
    r.close()


def test_sandbox_output_and_report_stats() -> None:
    lua = """
    local n = 0
    function process_message()
        n = n + 1
        return 0
    end
    function timer_event(ns)
        inject_payload("txt", "count", n)
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("count", lua), "Type == 't'", ticker_interval=1)
    r.add_output(out, "Type == 'heka.sandbox-output'")
    for n in range(3):
        r.inject(msg(n))
    r.tick(now=1e12)
    r.drain()
    assert [m.payload for m in out.got] == ["3"]
    assert out.got[0].logger == "count"
    entry = json.loads(r.report_message().payload or "")["filters"][0]
    assert entry["Name"] == "count"
    assert entry["ProcessMessageCount"]["value"] == 3
    assert entry["MaxMemory"]["representation"] == "B"
    r.close()
