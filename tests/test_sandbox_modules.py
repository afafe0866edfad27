"""Modules a sandbox can require: cjson, circular_buffer, lpeg, os."""

from __future__ import annotations

import json

import pytest
from test_sandbox_helpers import filter_, returns, sample

from hekapy.sandbox import _lupa

LPEG = _lupa.find_lpeg() is not None

# -- cjson ----------------------------------------------------------------


@pytest.mark.parametrize(("lua", "text"), [
    ("{a=1}", '{"a":1}'),
    ("{1, 2, 'x'}", '[1,2,"x"]'),
    ("{}", "{}"),
    ("{[1]=1, [3]=3}", "[1,null,3]"),
    ("'a/b\"c\\\\d\\n\\1'", '"a\\/b\\"c\\\\d\\n\\u0001"'),
    ("1.5", "1.5"), ("1/3", "0.33333333333333"), ("1e20", "1e+20"),
    ("true", "true"), ("nil", "null"), ("cjson.null", "null"),
    ("{a={b={true}}}", '{"a":{"b":[true]}}'),
    ("{[2.5]=1}", '{"2.5":1}'),
])
def test_cjson_encode(lua: str, text: str) -> None:
    assert _encode(lua) == text


def _encode(lua: str) -> str:
    f, c = filter_(f"""local cjson = require "cjson"
    function process_message()
        inject_payload("txt", "", cjson.encode({lua}))
        return 0
    end""")
    f.process_message(sample())
    return c.messages[0].payload or ""


@pytest.mark.parametrize(("lua", "error"), [
    ("{[20]=1}", "Cannot serialise table: excessively sparse array"),
    ("{[true]=1}",
     "Cannot serialise boolean: table key must be a number or string"),
    ("0/0", "Cannot serialise number: must not be NaN or Inf"),
    ("print or read_message", "Cannot serialise function: type not "
                              "supported"),
])
def test_cjson_encode_errors(lua: str, error: str) -> None:
    out = returns(f"require('cjson').encode({lua})")
    assert out == "false|" + error


def test_cjson_decode() -> None:
    doc = {"a": 1, "b": [1, "two", True, None, {"c": 2.5}], "d": None,
           "e": "\u00e9\u4e2d"}
    f, c = filter_("""local cjson = require "cjson"
    function process_message()
        local t = cjson.decode(read_message("Payload"))
        add_to_payload(t.a, " ", t.b[2], " ", t.b[3], " ", tostring(t.b[4]),
                       " ", t.b[5].c, " ", tostring(t.d), " ", t.e, " ")
        cjson.decode_null(true)
        local u = cjson.decode(read_message("Payload"))
        add_to_payload(tostring(u.d == cjson.null), " ",
                       cjson.encode(u.b))
        inject_payload()
        return 0
    end""")
    from test_sandbox_helpers import pack
    f.process_message(pack(payload=json.dumps(doc)))
    assert c.messages[0].payload == (
        '1 two true nil 2.5 nil \u00e9\u4e2d true '
        '[1,"two",true,null,{"c":2.5}]')


def test_cjson_decode_errors() -> None:
    out = returns("require('cjson').decode('{bad')")
    assert out.startswith("false|")
    assert "at character 2" in out
    assert returns("require('cjson').decode(5)") == (
        "false|bad argument #1 to 'decode' (string expected, got number)")
    assert returns("require('cjson').decode('[1, 2]')[2]") == "true|2"


# -- circular_buffer -----------------------------------------------------

CB = """require "circular_buffer"
cb = circular_buffer.new(3, 2, 60, true)
cb:set_header(1, "Req/s", "count")
cb:set_header(2, "Max", "ms", "max")
function process_message()
    local ns = read_message("Timestamp")
    cb:add(ns, 1, 1)
    cb:set(ns, 2, read_message("Fields[ms]"))
    return 0
end
function timer_event(ns)
    inject_payload("cbuf", "graph", cb)
    cb:format("cbufd")
    inject_payload("cbufd", "delta", cb)
    inject_payload("cbufd", "delta2", cb)
    cb:format("cbuf")
end
"""


def _m(ts: float, ms: float):
    from test_sandbox_helpers import pack

    from hekapy import Field
    return pack(timestamp=int(ts * 1e9), fields=[Field("ms", ms)])


def test_circular_buffer_cbuf_and_cbufd_output() -> None:
    f, c = filter_(CB, max_timer_inject=5)
    for ts, ms in [(120, 5), (130, 9), (185, 1), (300, 4), (10, 99)]:
        f.process_message(_m(ts, ms))
    f.timer_event(0)
    header = ('{"time":180,"rows":3,"columns":2,"seconds_per_row":60,'
              '"column_info":[{"name":"Req_s","unit":"count",'
              '"aggregation":"sum"},{"name":"Max","unit":"ms",'
              '"aggregation":"max"}]}\n')
    cbuf, cbufd, empty = (m.payload for m in c.messages)
    assert cbuf == header + "1\t1\nnan\tnan\n1\t4\n"
    assert cbufd == header + "120\t2\t9\n180\t1\t1\n300\t1\t4\n"
    assert empty is None or empty == header
    assert len(c.messages) == 3


@pytest.mark.parametrize(("expr", "expected"), [
    ("cb:get(0, 1)", "nan"),
    ("cb:get(-60e9, 1)", "nil"),
    ("cb:add(60e9, 1, 2), cb:add(60e9, 1, 3), cb:get(60e9, 1)", "2|5|5"),
    ("cb:add(1e12, 1, 1), cb:get(0, 1), cb:current_time()",
     "1|nil|960000000000"),
    ("cb:get_configuration()", "3|2|60"),
    ("cb:get_header(2)", "Column_2|count|sum"),
    ("cb:set(120e9, 2, 4), cb:set(60e9, 2, 2), "
     "cb:compute('avg', 2), cb:compute('sum', 2), cb:compute('max', 2)",
     "4|2|3|6|4|2"),
    ("cb:compute('sd', 1)", "nan|0"),
    ("cb:add(0, 3, 1)", "<error>"),
    ("circular_buffer.new(1, 1, 1)", "<error>"),
])
def test_circular_buffer_methods(expr: str, expected: str) -> None:
    assert _cb(expr) == expected


def _cb(expr: str) -> str:
    f, c = filter_("""require "circular_buffer"
    cb = circular_buffer.new(3, 2, 60)
    local function pack(...) return {n = select("#", ...), ...} end
    function process_message()
        local r = pack(pcall(function() return """ + expr + """ end))
        if not r[1] then inject_payload("txt", "", "<error>") return 0 end
        for i = 2, r.n do
            add_to_payload(i > 2 and "|" or "", r[i])
        end
        inject_payload()
        return 0
    end""")
    f.process_message(sample())
    return c.messages[0].payload or ""


def test_mannwhitneyu_separates_distinct_samples() -> None:
    out = _cb("(function() for i = 0, 2 do cb:set(i * 60e9, 1, i) end "
              "return cb:mannwhitneyu(1, 0, 60e9, 60e9, 120e9) end)()")
    u, p = out.split("|")
    assert float(u) >= 0 and 0 <= float(p) <= 1


# -- lpeg -------------------------------------------------------------------


@pytest.mark.skipif(not LPEG, reason="lua-lpeg is not installed")
def test_lpeg_and_re() -> None:
    assert returns("require('lpeg').match(lpeg.C(lpeg.R('09')^1), '42x')"
                   ) == "true|42"
    assert returns("require('re').match('abc', '{[a-z]+}')") == "true|abc"


def test_lpeg_missing_names_the_debian_package(monkeypatch) -> None:
    monkeypatch.setattr(_lupa, "find_lpeg", lambda: None)
    assert returns("require('lpeg')") == (
        "false|module 'lpeg' not found: install the Debian package "
        "lua-lpeg (apt-get install lua-lpeg)")


# -- os ----------------------------------------------------------------------


def test_os_time_and_date_are_utc() -> None:
    assert returns("require('os').time({year=2013, month=3, day=15, "
                   "hour=19, min=20, sec=27})") == "true|1363375227"
    assert returns("require('os').date('%Y-%m-%d %H:%M:%S', 1363375227)"
                   ) == "true|2013-03-15 19:20:27"
    assert returns("require('os').time({year=2013, month=14, day=1})") == \
        "true|1391256000"
    assert returns("type(require('os').clock())") == "true|number"
