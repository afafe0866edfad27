"""Containment: a script reaches no file, socket, environment, Python
object or debug facility.  One test per escape route, then a sweep over
everything a script can reach."""

from __future__ import annotations

import os

import pytest
from test_sandbox_helpers import filter_, returns, sample

from hekapy import SandboxError, SandboxTerminated

ALL_MODULES = ("require 'string'; require 'table'; require 'math'; "
               "require 'os'; require 'cjson'; require 'circular_buffer'\n")


@pytest.mark.parametrize("name", [
    "python", "debug", "io", "package", "module", "load", "loadstring",
    "loadfile", "dofile", "coroutine", "collectgarbage", "newproxy",
    "gcinfo", "print", "os", "math",
])
def test_global_is_absent(name: str) -> None:
    assert returns(f"rawget(_G, {name!r}) == nil and {name} == nil") == \
        "true|true"


def test_libraries_appear_only_when_required() -> None:
    f, c = filter_("""
    local before = tostring(rawget(_G, "string")) .. tostring(table)
    local s = require "string"
    function process_message()
        inject_payload("txt", "", before, " ", s == string,
                       " ", s.format("%d", 5))
        return 0
    end""")
    f.process_message(sample())
    assert c.messages[0].payload == "nilnil true 5"


@pytest.mark.parametrize("name", ["python", "debug", "io", "coroutine",
                                  "package"])
def test_dangerous_modules_cannot_be_required(name: str) -> None:
    assert returns(f"require({name!r})") == \
        f"false|module '{name}' disabled"


@pytest.mark.parametrize("fn", ["execute", "getenv", "exit", "remove",
                                "rename", "tmpname", "setlocale"])
def test_os_is_restricted(fn: str) -> None:
    assert returns(f"require('os').{fn} == nil") == "true|true"


def test_string_dump_is_gone() -> None:
    assert returns("string.dump == nil and ('').dump == nil "
                   "and getmetatable('').__index.dump == nil") == \
        "true|true"


@pytest.mark.parametrize("name", [
    "../etc/passwd", "/etc/passwd", "a/b", "a b", "", "x\0y",
])
def test_module_names_cannot_walk_the_file_system(name: str) -> None:
    quoted = name.replace("\0", "\\0")
    assert returns(f'require("{quoted}")') == \
        f"false|invalid module name '{name}'"


def test_module_directory_is_the_only_place_searched(tmp_path) -> None:
    (tmp_path / "mine.lua").write_text("return {answer = 42}")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "sub.lua").write_text("return {x = 'sub'}")
    assert returns("require('mine').answer, require('pkg.sub').x",
                   module_directory=str(tmp_path)) == "true|42|sub"
    assert returns("require('mine')") == "false|module 'mine' not found"


def _bytecode() -> bytes:
    from hekapy.sandbox._lupa import lua51
    rt = lua51.LuaRuntime(encoding=None)
    return rt.eval("string.dump(function() return 1 end)")


def test_bytecode_modules_are_refused(tmp_path) -> None:
    (tmp_path / "evil.lua").write_bytes(_bytecode())
    assert returns("require('evil')", module_directory=str(tmp_path)) == \
        "false|binary chunks are not allowed"


def test_bytecode_scripts_and_state_files_are_refused(tmp_path) -> None:
    from test_sandbox_helpers import Collector

    from hekapy.sandbox import SandboxFilter
    f = SandboxFilter("bc", {"source": _bytecode()})
    with pytest.raises(SandboxError, match="binary chunks"):
        f.start(Collector().context)
    (tmp_path / "st.data").write_bytes(_bytecode())
    g = SandboxFilter("st", {"source": "function process_message() end",
                             "preserve_data": True,
                             "state_directory": str(tmp_path)})
    with pytest.raises(SandboxError, match="restore_global_data binary"):
        g.start(Collector().context)


def test_errors_from_the_host_are_strings() -> None:
    assert returns("type(select(2, pcall(inject_message, "
                   "{Fields = {x = {}}})))") == "true|string"
    assert returns("type(select(2, pcall(require, 'nope')))") == \
        "true|string"


def test_host_functions_have_no_metatable_and_share_the_env() -> None:
    assert returns("getmetatable(read_message) == nil and "
                   "getfenv(read_message) == _G and getfenv(0) == _G") \
        == "true|true"


def test_setfenv_on_api_functions_grants_nothing() -> None:
    out = returns("setfenv(read_message, {}) and "
                  "read_message('Type')")
    assert out == "true|TEST"


def test_timestamps_are_utc_whatever_tz_says(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert returns("require('os').date('%H:%M', 0), "
                   "require('os').time({year=1970, month=1, day=2, "
                   "hour=0})") == "true|00:00|86400"


def test_sandboxes_do_not_share_globals() -> None:
    a, _ = filter_("shared = 'a' function process_message() return 0 end")
    assert returns("shared") == "true|nil"
    a.process_message(sample())


REACH = ALL_MODULES + """
local function scan()
    local seen, bad = {}, {}
    local function visit(v, path)
        local t = type(v)
        if (t ~= "table" and t ~= "function" and t ~= "userdata")
                or seen[v] then
            return
        end
        seen[v] = true
        if t == "userdata" then
            bad[#bad + 1] = path
        end
        if t == "function" then
            local env = getfenv(v)
            if env ~= _G then visit(env, path .. "<env>") end
        end
        local mt = getmetatable(v)
        if mt then visit(mt, path .. "<mt>") end
        if t == "table" then
            for k, x in pairs(v) do
                visit(k, path .. "<key>")
                visit(x, path .. "." .. tostring(k))
                if k == "python" or k == "debug" or k == "io"
                        or k == "dump" or k == "loadlib" or
                        k == "loadstring" or k == "execute" then
                    bad[#bad + 1] = path .. "." .. tostring(k)
                end
            end
        end
    end
    visit(_G, "_G")
    visit(getmetatable(""), "string<mt>")
    visit(getfenv(0), "thread")
    visit(circular_buffer.new(2, 1, 1), "cbuf")
    return table.concat(bad, ",")
end
function process_message()
    inject_payload("txt", "", "[" .. scan() .. "]")
    return 0
end
"""


def test_nothing_reachable_is_python_or_a_forbidden_function() -> None:
    f, c = filter_(REACH)
    f.process_message(sample())
    assert c.messages[0].payload == "[]"


def test_module_environments_are_private_copies() -> None:
    # Tampering with one module's environment reaches no other module
    # and no code that runs with the limits lifted.
    f, _ = filter_("""require 'string'
    local cjson = require 'cjson'
    local env = getfenv(cjson.encode)
    env.string.format = function() while true do end end
    env.pairs = function() while true do end end
    string.format = env.string.format
    local cb = require 'circular_buffer'
    buf = cb.new(2, 1, 60)
    function process_message() return 0 end
    """, preserve_data=True, state_directory=os.devnull + "-unused")
    f.process_message(sample())
    state = f._env[b"serialize"]()
    assert b"fromstring" in state


def test_trusted_hooks_cannot_be_forged() -> None:
    # A table that claims to be printable or serialisable is not trusted.
    assert returns("add_to_payload(setmetatable({}, {__hekapy_output = "
                   "function() return 'forged' end}))") == (
        "false|bad argument #1 to 'add_to_payload' (unsupported type)")


def test_outsider_attacks_end_in_termination_or_nothing() -> None:
    attacks = [
        "getfenv(0).python.eval('1')",
        "getmetatable('').__index.dump(print)",
        "setmetatable(_G, {__index = function(t, k) return rawget(t, k) "
        "end}) return python.builtins",
        "return require('lpeg') and io.open('/etc/passwd')",
        "return string.gsub('x', 'x', function() return debug end)",
        "return getfenv(require).package.loadlib('/lib/libc.so.6', 'system')",
        "return select(2, pcall(error, setmetatable({}, {__index = _G})))"
        ".io.open",
    ]
    for body in attacks:
        f, _ = filter_(f"function process_message() {body} end")
        with pytest.raises(SandboxTerminated) as ei:
            f.process_message(sample())
        assert "nil value" in ei.value.reason or "not found" in \
            ei.value.reason, ei.value.reason


def test_the_thread_environment_cannot_be_replaced() -> None:
    # setfenv(0, t) would swap the runtime's own globals, which the host
    # reads outside any protected call.
    assert returns(
        "select(2, pcall(setfenv, 0, {})) == "
        "\"setfenv cannot change the thread's environment\""
        " and getfenv(0) == _G and getfenv() == _G") == "true|true"


def test_setfenv_and_getfenv_levels_name_the_callers() -> None:
    f, c = filter_("""
    local function probe()
        return getfenv(1) == _G, getfenv(2) == _G
    end
    function process_message()
        local own = {inject_payload = inject_payload, tostring = tostring}
        local a, b = probe()
        setfenv(1, own)
        inject_payload("txt", "", tostring(a), tostring(b),
                       tostring(getfenv == nil))
        return 0
    end""")
    f.process_message(sample())
    assert c.messages[0].payload == "truetruetrue"


@pytest.mark.parametrize("body", ["while true do end", "error('x')"])
def test_a_trap_on_globals_does_not_stall_loading(body: str) -> None:
    with pytest.raises(SandboxError, match="process_message"):
        filter_("setmetatable(_G, {__index = function() " + body + " end})")


@pytest.mark.parametrize("level", ['"0"', '" 0x0 "', '"0.0"', '"-0"', "-0"])
def test_no_spelling_of_level_0_reaches_the_thread(level: str) -> None:
    assert returns(f"select(2, pcall(setfenv, {level}, {{}}))") == (
        "true|setfenv cannot change the thread's environment")


def test_fenv_errors_name_the_function_only() -> None:
    assert returns("select(2, pcall(getfenv, 99))") == (
        "true|bad argument #1 to 'getfenv' (invalid level)")
    assert returns("select(2, pcall(setfenv, 99, {}))") == (
        "true|bad argument #1 to 'setfenv' (invalid level)")


def test_getfenv_levels_reach_the_callers_own_environment() -> None:
    f, c = filter_("""
    local function inner()
        return getfenv(1).tag, getfenv(2).tag
    end
    local outer = setfenv(function()
        local a, b = inner()
        return a, b
    end,
                          {tag = "outer", getfenv = getfenv})
    setfenv(inner, {tag = "inner", getfenv = getfenv})
    function process_message()
        local a, b = outer()
        inject_payload("txt", "", a, b)
        return 0
    end""")
    f.process_message(sample())
    assert c.messages[0].payload == "innerouter"
