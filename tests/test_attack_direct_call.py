"""Hostile Lua filters routed by ``feed`` and by ``inject``.

``Router.feed`` calls an inline sandbox filter's process_message from
the compiled loop; ``Router.inject`` takes the Python path.  Every
script here tries to break the sandbox (limits, odd returns, odd
errors, injections) and the outcome must not depend on the way in:
the same counters, the same terminations, the same injected messages.
Scripts that can take the whole process down run in a child process.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_router_direct import VIAS, msg, send

from hekapy import Message, Pack, Router, frame
from hekapy.plugins import Filter, Output
from hekapy.sandbox import SandboxFilter

ROOT = Path(__file__).resolve().parent.parent


def _direct_calls() -> bool:
    r = Router()
    r.add_filter(SandboxFilter("probe", {"source": (
        "function process_message() return 0 end")}), "TRUE")
    made = r._by_name["probe"].direct is not None
    r.close()
    return made


DIRECT = _direct_calls()
needs_direct = pytest.mark.skipif(
    not DIRECT, reason="no compiled caller: feed takes the Python path")


class Collect(Output):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[bytes] = []

    def process_message(self, pack: Pack) -> None:
        self.got.append(pack.raw)


def shape(raw: bytes) -> tuple[Any, ...]:
    m = Message.decode(raw)
    return (m.type, m.logger, m.payload,
            tuple((f.name, tuple(f.values)) for f in m.fields))


PLUGIN_KEYS = ("state", "matched", "processed", "failed", "injected",
               "dropped")


def outcome(r: Router, outs: list[Collect]) -> dict[str, Any]:
    rep = r.report()
    plugins = {}
    for name, p in rep["plugins"].items():
        row = {k: p[k] for k in PLUGIN_KEYS}
        stats = p.get("stats") or {}
        row["stats"] = {k: stats.get(k)
                        for k in ("failures", "inject_count")}
        plugins[name] = row
    return {
        "plugins": plugins,
        "terminations": [(t["name"], t["reason"])
                         for t in rep["router"]["terminations"]],
        "routed": rep["router"]["routed"],
        "injected": rep["router"]["injected"],
        "out": {o.name: [shape(x) for x in o.got] for o in outs},
    }


def both(script: str, cfg: dict[str, Any], n: int = 5
         ) -> dict[str, dict[str, Any]]:
    res = {}
    for via in VIAS:
        r = Router(hostname="h", pid=1)
        rest, mine = Collect("rest"), Collect("mine")
        r.add_filter(SandboxFilter("lua", {"source": script, **cfg}),
                     "Type == 't'")
        r.add_output(rest, "Type != 't'")
        r.add_output(mine, "Type == 't'")
        send(r, via, [msg(i) for i in range(n)])
        res[via] = outcome(r, [rest, mine])
        r.close()
    return res


AT2 = "if read_message('Fields[n]') == 2 then {} end"
HOSTILE: dict[str, tuple[str, dict[str, Any]]] = {
    "spin": (AT2.format("while true do end"), {"instruction_limit": 1000}),
    "spin_in_pcall": (AT2.format(
        "for i = 1, 50 do pcall(function() while true do end end) end"),
        {"instruction_limit": 1000}),
    "spin_caught_then_status": (AT2.format(
        "local ok, e = pcall(function() while true do end end) "
        "return -1, tostring(e)"), {"instruction_limit": 1000}),
    "spin_in_xpcall_handler": (AT2.format(
        "xpcall(function() while true do end end, "
        "function() while true do end end)"),
        {"instruction_limit": 1000}),
    "grow": ("require 'string' local t = {} " + AT2.format(
        "while true do t[#t + 1] = string.rep('x', 1000) .. #t end"),
        {"memory_limit": 1 << 20}),
    "grow_in_pcall": ("local t = {} " + AT2.format(
        "local ok, e = pcall(function() while true do t[#t + 1] = {} end "
        "end) t = nil return -1, tostring(e)"),
        {"memory_limit": 1 << 20}),
    "one_huge_string": ("require 'string' " + AT2.format(
        "local s = string.rep('x', 50 * 1024 * 1024)"),
        {"memory_limit": 1 << 20}),
    "huge_string_caught": ("require 'string' " + AT2.format(
        "local ok, e = pcall(string.rep, 'x', 50 * 1024 * 1024) "
        "return -1, tostring(e)"), {"memory_limit": 1 << 20}),
    "error_nil": (AT2.format("error(nil)"), {}),
    "error_table": (AT2.format("error({})"), {}),
    "error_number": (AT2.format("error(3.5)"), {}),
    "error_boolean": (AT2.format("error(true)"), {}),
    "error_function": (AT2.format("error(function() end)"), {}),
    "error_tostring_table": (AT2.format(
        "error(setmetatable({}, {__tostring = function() return 'x' "
        "end}))"), {}),
    "error_binary": (AT2.format("error('\\255\\0\\254')"), {}),
    "error_level_2": (AT2.format("error('lvl', 2)"), {}),
    "error_long": ("require 'string' " + AT2.format(
        "error(string.rep('E', 100000))"), {}),
    "stack_overflow": ("local function f(n) return f(n + 1) + 1 end "
                       + AT2.format("f(1)"), {}),
    "stack_overflow_caught": (
        "local function f(n) return f(n + 1) + 1 end "
        + AT2.format("local ok, e = pcall(f, 1) return -1, tostring(e)"),
        {}),
    "coroutine": ("function process_message() "
                  "coroutine.create(function() end) return 0 end", {}),
    "process_message_removed": ("function process_message() "
                                "process_message = nil return 0 end", {}),
    "process_message_swapped": (
        "function process_message() process_message = function() "
        "return -1, 'second' end return 0 end", {}),
    "inject_twice": ("function process_message() "
                     "inject_payload('txt', 'a', '1') "
                     "inject_payload('txt', 'b', '2') return 0 end", {}),
    "inject_twice_caught": (
        "function process_message() inject_payload('txt', 'a', '1') "
        "local ok = pcall(inject_payload, 'txt', 'b', '2') return 0 end",
        {}),
    "inject_none_allowed": ("function process_message() "
                            "inject_payload('txt', 'a', '1') return 0 end",
                            {"max_process_inject": 0}),
    "inject_tables_twice": ("function process_message() "
                            "inject_message({Type = 'x'}) "
                            "inject_message({Type = 'y'}) return 0 end",
                            {"max_process_inject": 1}),
    "inject_circular": ("function process_message() "
                        "inject_message({Type = 't'}) return 0 end", {}),
    "inject_circular_caught": (
        "function process_message() local ok, e = pcall(inject_message, "
        "{Type = 't'}) return -1, tostring(e) end", {}),
    "inject_bad_table": ("function process_message() "
                         "inject_message({Type = {}}) return 0 end", {}),
    "inject_bad_bytes": ("function process_message() "
                         "inject_message('\\255\\255garbage') return 0 end",
                         {}),
    "inject_decoded_self": (
        "function process_message() local m = "
        "decode_message(read_message('raw')) local ok, e = "
        "pcall(inject_message, m) if not ok then return -1, e end "
        "return 0 end", {}),
    "inject_over_output_limit": (
        "require 'string' function process_message() "
        "add_to_payload(string.rep('q', 70000)) return 0 end", {}),
    "read_next_field_loop": (
        "function process_message() local c = 0 while true do "
        "local t = read_next_field() if not t then break end c = c + 1 "
        "end return -1, tostring(c) end", {}),
    "read_next_field_past_end": ("function process_message() "
                                 "for i = 1, 100 do read_next_field() end "
                                 "return 0 end", {}),
    "read_negative_index": ("function process_message() "
                            "read_message('Fields[n]', -1) return 0 end",
                            {}),
    "read_fraction_index": ("function process_message() "
                            "read_message('Fields[n]', -0.5) return 0 end",
                            {}),
    "read_extra_argument": ("function process_message() "
                            "read_message('Fields[n]', 0, 0, 0) "
                            "return 0 end", {}),
    "read_nil": ("function process_message() read_message(nil) "
                 "return 0 end", {}),
    "read_table": ("function process_message() read_message({}) "
                   "return 0 end", {}),
    "read_huge_index": ("function process_message() return -1, "
                        "tostring(read_message('Fields[n]', 1e300)) end",
                        {}),
    "read_nan_index": ("function process_message() return -1, "
                       "tostring(read_message('Fields[n]', 0/0)) end", {}),
    "read_inf_array_index": (
        "function process_message() return -1, "
        "tostring(read_message('Fields[n]', 0, 1/0)) end", {}),
    "read_int31_index": ("function process_message() return -1, "
                         "tostring(read_message('Fields[n]', 2^31)) end",
                         {}),
    "read_raw_length": ("function process_message() return -1, "
                        "tostring(#read_message('raw')) end", {}),
    "read_number_name": ("function process_message() return -1, "
                         "tostring(read_message(5)) end", {}),
    "return_nil": ("function process_message() return nil end", {}),
    "return_nothing": ("function process_message() end", {}),
    "return_string": ("function process_message() return '0' end", {}),
    "return_table": ("function process_message() return {} end", {}),
    "return_false": ("function process_message() return false end", {}),
    "return_inf": ("function process_message() return 1/0 end", {}),
    "return_half": (AT2.format("return 0.5"), {}),
    "return_negative_half": ("function process_message() "
                             "return -0.5, 'half' end", {}),
    "return_negative_huge": ("function process_message() "
                             "return -1e30, 'big' end", {}),
    "return_negative_zero": ("function process_message() return -0 end",
                             {}),
    "return_zero_and_text": ("function process_message() "
                             "return 0, 'fine' end", {}),
    "return_zero_and_table": ("function process_message() "
                              "return 0, {} end", {}),
    "return_status_and_number": ("function process_message() "
                                 "return -1, 5 end", {}),
    "return_many": ("function process_message() "
                    "return 0, nil, 1, 2, 3 end", {}),
    "return_many_strings": ("function process_message() "
                            "return -1, 'a', 'b', 'c' end", {}),
    "return_unpacked": ("function process_message() local t = {} "
                        "for i = 1, 7000 do t[i] = i end "
                        "return unpack(t) end", {}),
    "return_binary_text": ("function process_message() "
                           "return -1, '\\255\\254\\0' end", {}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_script_ends_the_same_either_way(name: str) -> None:
    script, cfg = HOSTILE[name]
    if "function process_message" not in script:
        script = f"function process_message() {script} return 0 end"
    res = both(script, cfg)
    assert res["feed"] == res["inject"]
    # The other outputs always get every record.
    assert len(res["feed"]["out"]["mine"]) == 5


def test_failures_do_not_wear_the_sandbox_down() -> None:
    # Every outcome that leaves the compiled caller for Python, many
    # times over; then the script still counts right.
    lua = """
    local n = 0
    function process_message()
        n = n + 1
        local k = n % 5
        if k == 0 then return -1, "fail " .. n end
        if k == 1 then pcall(error, {}) return -2 end
        if k == 2 then
            local ok, e = pcall(inject_message, {Type = "t"})
            return -1, tostring(e)
        end
        if k == 3 then read_next_field() read_next_field() end
        return 0
    end
    function timer_event()
        inject_payload("txt", "n", tostring(n))
    end
    """
    r = Router()
    out = Collect("out")
    r.add_filter(SandboxFilter("lua", {"source": lua}), "Type == 't'",
                 timer_event_on_shutdown=True)
    r.add_output(out, "Type == 'heka.sandbox-output'")
    chunk = b"".join(frame(msg(i).encode()) for i in range(500))
    for _ in range(40):
        r.feed(chunk)
    rep = r.report()["plugins"]["lua"]
    assert (rep["state"], rep["processed"], rep["failed"]) == (
        "running", 20000, 12000)
    r.inject(msg(1))
    r.close()
    assert [Message.decode(x).payload for x in out.got] == ["20001"]


@pytest.mark.parametrize("via", VIAS)
def test_terminated_slots_are_reused_by_new_filters(via: str) -> None:
    def script(i: int) -> str:
        return f"""
        local n = 0
        function process_message()
            n = n + 1
            if n == {i % 7 + 1} then error("die {i}") end
            inject_payload("txt", "f{i}", tostring(n))
            return 0
        end
        """

    r = Router()
    out = Collect("out")
    r.add_output(out, "Type == 'heka.sandbox-output'")
    for i in range(30):
        r.add_filter(SandboxFilter(f"f{i}", {"source": script(i)}),
                     "Type == 't'")
    send(r, via, [msg(i) for i in range(8)])
    assert len(r.terminations) == 30
    for i in range(30, 40):
        r.add_filter(SandboxFilter(f"f{i}", {"source": script(i)}),
                     "Type == 't'")
    send(r, via, [msg(i) for i in range(8)])
    rep = r.report()["plugins"]
    r.close()
    assert len(r.terminations) == 40
    for i in range(40):
        # Each filter saw its own messages up to the one it died on.
        assert rep[f"f{i}"]["processed"] == i % 7 + 1
    names = [Message.decode(x).logger for x in out.got]
    assert len(names) == sum(i % 7 for i in range(40))


# -- order, counts, threads, globals, freed runtimes ---------------------


class Echo(Filter):
    """A Python filter that injects a note for every message."""

    def process_message(self, pack: Pack) -> None:
        payload = pack.view.payload
        self.context.inject(Message.new(
            type="py", payload=None if payload is None else payload.decode()))


@needs_direct
def test_python_then_lua_filter_inject_in_routing_order() -> None:
    lua = """
    function process_message()
        inject_payload("txt", "lua", read_message("Payload"))
        return 0
    end
    """
    got = {}
    for via in VIAS:
        r = Router()
        out = Collect("out")
        r.add_filter(Echo("py"), "Type == 't'")
        r.add_filter(SandboxFilter("lua", {"source": lua}), "Type == 't'")
        r.add_output(out, "Type != 't'")
        send(r, via, [msg(i) for i in range(2)])
        r.close()
        got[via] = [shape(x)[:3] for x in out.got]
    assert got["inject"] == [
        ("py", None, "0"), ("heka.sandbox-output", "lua", "0"),
        ("py", None, "1"), ("heka.sandbox-output", "lua", "1")]
    assert got["feed"] == got["inject"]


@needs_direct
@pytest.mark.parametrize("end", ["terminate", "close"])
def test_process_count_survives_the_end_of_the_sandbox(end: str) -> None:
    lua = """
    local n = 0
    function process_message()
        n = n + 1
        if n == 3 and read_message("Logger") == "die" then error("x") end
        return 0
    end
    """
    r = Router()
    f = SandboxFilter("lua", {"source": lua})
    r.add_filter(f, "TRUE")
    logger = "die" if end == "terminate" else "live"
    r.feed(b"".join(frame(Message.new(type="t", logger=logger).encode())
                    for _ in range(4)))
    if end == "close":
        r.close()
    want = 3 if end == "terminate" else 4
    assert f.stats["process_count"] == want
    r.close()


@needs_direct
def test_broken_fields_count_the_same_either_way() -> None:
    good = [msg(n).encode() for n in range(3)]
    broken = Message.new(type="t", payload="x").encode() + (
        b"\x52\x03\xff\xff\xff")
    raws = [good[0], broken, good[1], good[2]]
    counts = {}
    for via in VIAS:
        r = Router()
        f = SandboxFilter("lua", {"source": (
            "function process_message() return 0 end")})
        r.add_filter(f, "Type == 't'")
        if via == "feed":
            r.feed(b"".join(frame(m) for m in raws))
        else:
            for m in raws:
                r.inject(m)
        counts[via] = (r.report()["plugins"]["lua"]["processed"],
                       f.stats["process_count"])
        r.close()
    assert counts["feed"] == counts["inject"]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("status", ["0/0", "-1/0"])
def test_non_finite_status_is_a_plain_failure(
    via: str, status: str, caplog: pytest.LogCaptureFixture
) -> None:
    r = Router()
    f = SandboxFilter("lua", {"source": (
        f"function process_message() return {status} end")})
    r.add_filter(f, "TRUE")
    with caplog.at_level(logging.ERROR, logger="hekapy.router"):
        send(r, via, [msg(1)])
    rep = r.report()["plugins"]["lua"]
    r.close()
    assert rep["failed"] == 1
    # A failure or a termination, but not an exception from the host.
    assert not [x for x in caplog.records if x.exc_info]


def run_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess[
        str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=timeout)


REPORT_RACE = """
import threading, time
from hekapy import Field, Message, Router, frame
from hekapy.sandbox import SandboxFilter
lua = '''
local n = 0
function process_message()
    n = n + 1
    if n % 7 == 0 then inject_payload("txt", "x", "y") end
    return 0
end
'''
r = Router()
r.add_filter(SandboxFilter("lua", {"source": lua}), "Type == 't'")
chunk = b"".join(frame(Message.new(type="t", payload=str(i),
                 fields=[Field("n", i)]).encode()) for i in range(200))
errors, stop = [], threading.Event()
def watch():
    while not stop.is_set():
        try:
            st = r.report()["plugins"]["lua"]["stats"]
            assert isinstance(st["max_output"], int), st
        except Exception as e:
            errors.append(repr(e))
            return
t = threading.Thread(target=watch)
t.start()
t0 = time.monotonic()
while time.monotonic() - t0 < 1.5 and not errors:
    r.feed(chunk)
stop.set()
t.join()
r.close()
print("errors", errors[:1])
print("done" if not errors else "broken")
"""


@needs_direct
def test_report_from_another_thread_while_feeding() -> None:
    res = run_child(REPORT_RACE)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("done"), res.stdout


GLOBALS_TRAP = """
import sys
from hekapy import Message, Router, SandboxError, frame
from hekapy.sandbox import SandboxFilter
trap = ("setmetatable(_G, {__index = function(t, k) "
        "error('no ' .. tostring(k)) end})")
where = sys.argv[1]
src = (trap + " function process_message() return 0 end"
       if where == "load" else
       "function process_message() " + trap + " return 0 end")
r = Router()
try:
    r.add_filter(SandboxFilter("lua", {"source": src}), "TRUE")
    if where == "feed":
        r.feed(frame(Message.new(type="t").encode()))
    else:
        r.inject(Message.new(type="t"))
    r.report()
except SandboxError:
    pass
r.close()
print("alive")
"""


@pytest.mark.parametrize("where", ["load", "feed", "inject"])
def test_a_trap_on_globals_does_not_kill_the_process(where: str) -> None:
    res = run_child(GLOBALS_TRAP.replace("sys.argv[1]", repr(where)))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "alive"


def lua_runtimes() -> int:
    gc.collect()
    return sum(type(o).__name__ == "LuaRuntime" for o in gc.get_objects())


@pytest.mark.parametrize("via", VIAS)
def test_a_terminated_sandbox_frees_its_runtime(via: str) -> None:
    before = lua_runtimes()
    r = Router()
    lua = """
    local keep = {}
    for i = 1, 20000 do keep[i] = i end
    function process_message() error("bye") end
    """
    r.add_filter(SandboxFilter("lua", {"source": lua}), "TRUE")
    send(r, via, [msg(1)])
    assert r.report()["plugins"]["lua"]["state"] == "terminated"
    assert lua_runtimes() == before
    r.close()
