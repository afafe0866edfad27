"""Hostile scripts: every one ends terminated, the process lives on.

Each case runs with the default limits unless it says otherwise and must
finish well within the pytest run; the last assertion of each checks
that a fresh sandbox still works afterwards.
"""

from __future__ import annotations

import time

import pytest
from test_sandbox_helpers import Collector, filter_, returns, sample

from hekapy import SandboxError, SandboxTerminated
from hekapy.sandbox import SandboxFilter


def _still_alive() -> None:
    assert returns("1 + 1") == "true|2"


RUNAWAY = [
    ("while true do end", "instruction_limit exceeded"),
    ("for i = 1, 1e12 do end", "instruction_limit exceeded"),
    ("local function f() return f() end return f()",
     "instruction_limit exceeded"),
    ("while true do pcall(function() while true do end end) end",
     "instruction_limit exceeded"),
    ("while true do pcall(error) end", "instruction_limit exceeded"),
    ("xpcall(function() while true do end end, "
     "function() while true do end end)", "instruction_limit exceeded"),
    ("local t = setmetatable({}, {__index = function(t, k) "
     "return t[k] end}) return t.x", "stack overflow"),
    ("local function f() return 1 + f() end return f()", "stack overflow"),
    ("local function f() pcall(f) end f() while true do end",
     "instruction_limit exceeded"),
]


@pytest.mark.parametrize(("body", "reason"), RUNAWAY)
def test_runaway_code_is_stopped(body: str, reason: str) -> None:
    f, _ = filter_(f"function process_message() {body} end")
    t0 = time.monotonic()
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert time.monotonic() - t0 < 30
    assert ei.value.reason.startswith("process_message() ")
    assert reason in ei.value.reason
    _still_alive()


def test_instruction_limit_reason_names_the_line() -> None:
    f, _ = filter_("function process_message()\n  while true do end\nend")
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert ei.value.reason == \
        "process_message() sbx:2: instruction_limit exceeded"


def test_runaway_at_load_and_in_timer_event() -> None:
    with pytest.raises(SandboxError, match="instruction_limit exceeded"):
        filter_("while true do end function process_message() end")
    f, _ = filter_("function process_message() return 0 end\n"
                   "function timer_event() while true do end end")
    with pytest.raises(SandboxTerminated) as ei:
        f.timer_event(0)
    assert "timer_event() " in ei.value.reason
    assert "instruction_limit exceeded" in ei.value.reason
    _still_alive()


def test_a_small_instruction_limit_is_respected() -> None:
    f, _ = filter_("""
    function process_message()
        local n = 0
        for i = 1, read_message("Pid") do n = n + i end
        return 0
    end""", instruction_limit=1000)
    from test_sandbox_helpers import pack
    f.process_message(pack(pid=10))
    with pytest.raises(SandboxTerminated):
        f.process_message(pack(pid=100000))


MEMORY = [
    "local s = string.rep('x', 2^30)",
    "local s = 'x' while true do s = s .. s end",
    "local t = {} for i = 1, 1e9 do t[i] = i end",
    "local t = {} for i = 1, 1e9 do t[i] = {} end",
    "local t = {} for i = 1, 1e9 do t['k' .. i] = i end",
    "local t = {} while true do t = {t, t} end",
    "local s = string.rep('x', 2^20) local t = {} "
    "for i = 1, 1e6 do t[i] = s .. i end",
    "local t = {} for i = 1, 1e9 do pcall(function() t[i] = "
    "string.rep('y', 4096) end) end",
    "return table.concat({string.rep('ab', 2^22), string.rep('c', 2^22)})",
]


@pytest.mark.parametrize("body", MEMORY)
def test_memory_bombs(body: str) -> None:
    # Lua's own "not enough memory" or the host's check, both say so.
    f, _ = filter_("require 'string'; require 'table'\n"
                   f"function process_message() {body} end",
                   instruction_limit=0, memory_limit=4 * 1024 * 1024)
    t0 = time.monotonic()
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert time.monotonic() - t0 < 30
    assert "not enough memory" in ei.value.reason, ei.value.reason
    assert f.stats["memory"] <= 4 * 1024 * 1024
    _still_alive()


def test_memory_bomb_while_loading() -> None:
    with pytest.raises(SandboxError, match="not enough memory"):
        filter_("local t = {} for i = 1, 1e8 do t[i] = i end "
                "function process_message() return 0 end",
                instruction_limit=0, memory_limit=1024 * 1024)


def test_caught_memory_errors_still_end_at_the_instruction_limit() -> None:
    f, _ = filter_("""require 'string'
    function process_message()
        while true do pcall(string.rep, "x", 2^26) end
    end""", memory_limit=1024 * 1024, instruction_limit=10000)
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert "instruction_limit exceeded" in ei.value.reason


@pytest.mark.parametrize("body", [
    "while true do add_to_payload(string.rep('x', 1000)) end",
    "for i = 1, 1e6 do add_to_payload(i) end",
    "inject_payload('txt', '', string.rep('x', 70000))",
    "inject_message({Payload = string.rep('x', 70000)})",
])
def test_huge_outputs(body: str) -> None:
    f, c = filter_("require 'string'\n"
                   f"function process_message() {body} return 0 end",
                   instruction_limit=0)
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert "output_limit exceeded" in ei.value.reason
    assert c.packs == []
    _still_alive()


def test_output_buffer_is_bounded_across_calls() -> None:
    f, _ = filter_("require 'string'\nfunction process_message() "
                   "add_to_payload(string.rep('x', 1000)) return 0 end")
    with pytest.raises(SandboxTerminated) as ei:
        for _ in range(100):
            f.process_message(sample())
    assert "output_limit exceeded" in ei.value.reason


@pytest.mark.parametrize(("body", "reason"), [
    ("error(setmetatable({}, {__tostring = function() "
     "while true do end end}))", "process_message() <table error object>"),
    ("error(setmetatable({}, {__tostring = function() error('x') end}))",
     "process_message() <table error object>"),
    ("local x = tostring(setmetatable({}, {__tostring = function() "
     "error('from tostring', 0) end}))", "process_message() from tostring"),
    ("setmetatable({}, {__gc = function() error('gc') end}) "
     "return 0", None),
    ("return setmetatable({}, {__eq = function() while true do end end})",
     "process_message() must return a numeric status code"),
    ("return 0, setmetatable({}, {__tostring = function() "
     "while true do end end})",
     "process_message() must return a nil or string error message"),
    ("error(string.rep('e', 100000))", None),
])
def test_hostile_error_objects(body: str, reason: str | None) -> None:
    f, _ = filter_("require 'string'\n"
                   f"function process_message() {body} end")
    if reason is None and "__gc" in body:
        f.process_message(sample())
        _still_alive()
        return
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    if reason is not None:
        assert ei.value.reason == reason
    assert len(ei.value.reason) <= 255
    _still_alive()


def test_hostile_table_given_to_inject_message() -> None:
    f, _ = filter_("""function process_message()
        local t = setmetatable({}, {__index = function() while true do end
                                              end})
        inject_message(t)
        return 0
    end""")
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert "instruction_limit exceeded" in ei.value.reason
    _still_alive()


def test_terminated_sandbox_keeps_raising_and_others_go_on() -> None:
    bad, _ = filter_("function process_message() while true do end end")
    good, c = filter_("function process_message() inject_payload('txt', "
                      "'', 'ok') return 0 end")
    for _ in range(3):
        with pytest.raises(SandboxTerminated):
            bad.process_message(sample())
        good.process_message(sample())
    assert len(c.packs) == 3


def test_stop_after_termination_writes_no_state(tmp_path: object) -> None:
    f = SandboxFilter("dead", {"source": "x = 1 function process_message()"
                                         " while true do end end",
                               "preserve_data": True,
                               "state_directory": str(tmp_path)})
    f.start(Collector().context)
    with pytest.raises(SandboxTerminated):
        f.process_message(sample())
    f.stop()
    import os
    assert os.listdir(str(tmp_path)) == []


def test_values_handed_over_near_the_memory_limit() -> None:
    # The host must never fail an allocation while it hands a value to
    # the script: fill memory right up, then ask for a large value.
    big = "p" * 200000
    f, _ = filter_("""require 'string'
    keep = {}
    function process_message()
        local n = 2^17
        while n >= 2 do
            local ok, s = pcall(string.rep, "x" .. #keep, n)
            if ok then keep[#keep + 1] = s else n = n / 2 end
        end
        for i = 1, 3 do
            pcall(read_message, "Payload")
            pcall(decode_message, read_message("raw"))
        end
        return 0
    end""", memory_limit=2 * 1024 * 1024)
    from test_sandbox_helpers import pack
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(pack(payload=big))
    assert "not enough memory" in ei.value.reason
    _still_alive()


def test_dropping_a_full_sandbox_is_safe() -> None:
    import gc
    f, _ = filter_("""require 'string'
    keep = {}
    function process_message()
        pcall(function() while true do keep[#keep + 1] = {} end end)
        return 0
    end""", memory_limit=1024 * 1024, instruction_limit=0)
    try:
        f.process_message(sample())
    except SandboxTerminated:
        pass
    del f
    gc.collect()
    _still_alive()
