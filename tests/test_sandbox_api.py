"""The Heka 0.10 sandbox API as scripts see it."""

from __future__ import annotations

import math

import pytest
from test_sandbox_helpers import (
    HOSTNAME,
    decoder,
    filter_,
    pack,
    returns,
    sample,
)

from hekapy import (
    Field,
    Message,
    PluginFailure,
    SandboxError,
    SandboxTerminated,
)
from hekapy.sandbox import SandboxFilter, termination_message

# -- read_message -------------------------------------------------------------


@pytest.mark.parametrize(("expr", "expected"), [
    ('read_message("Type")', "true|TEST"),
    ('read_message("Logger")', "true|GoSpec"),
    ('read_message("Payload")', "true|Test Payload"),
    ('read_message("EnvVersion")', "true|0.8"),
    ('read_message("Hostname")', "true|example.com"),
    ('read_message("Uuid")', "true|00010203-0405-0607-0809-0a0b0c0d0e0f"),
    ('read_message("Timestamp") == 1500000000123456789', "true|true"),
    ('read_message("Severity")', "true|6"),
    ('read_message("Pid")', "true|9283"),
    ('read_message("Fields[foo]")', "true|bar"),
    ('read_message("Fields[foo]", 1)', "true|alternate"),
    ('read_message("Fields[foo]", 2)', "true|nil"),
    ('read_message("Fields[number]")', "true|64"),
    ('type(read_message("Fields[number]"))', "true|number"),
    ('read_message("Fields[numbers]", 0, 2)', "true|3"),
    ('read_message("Fields[numbers]", 0, 3)', "true|nil"),
    ('read_message("Fields[bool]")', "true|true"),
    ('read_message("Fields[bools]", 0, 1)', "true|false"),
    ('read_message("Fields[double]")', "true|2.5"),
    ('read_message("Fields[bytes]")', "true|data"),
    ('read_message("Fields[empty]")', "true|nil"),
    ('read_message("Fields[missing]")', "true|nil"),
    ('read_message("Fields[foo")', "true|nil"),
    ('read_message("Bogus")', "true|nil"),
    ('#read_message("raw")', f"true|{len(sample().raw)}"),
    ('read_message("Fields[foo]", 0, 0)', "true|bar"),
])
def test_read_message(expr: str, expected: str) -> None:
    assert returns(expr) == expected


def test_read_message_defaults_on_a_bare_message() -> None:
    bare = pack(uuid=b"short")
    assert returns('read_message("Type")', bare) == "true|"
    assert returns('read_message("Uuid")', bare) == "true|"
    assert returns('read_message("Timestamp")', bare) == "true|nil"
    assert returns('read_message("Severity")', bare) == "true|7"
    assert returns('read_message("Pid")', bare) == "true|nil"


@pytest.mark.parametrize(("expr", "error"), [
    ("read_message()", "read_message() incorrect number of arguments"),
    ('read_message("Type", 0, 0, 0)',
     "read_message() incorrect number of arguments"),
    ('read_message("Fields[foo]", -1)',
     "bad argument #2 to 'read_message' (field index must be >= 0)"),
    ('read_message("Fields[foo]", 0, -1)',
     "bad argument #3 to 'read_message' (array index must be >= 0)"),
    ('read_message({}, 0)',
     "bad argument #1 to 'read_message' (string expected, got table)"),
])
def test_read_message_errors(expr: str, error: str) -> None:
    assert returns(expr) == "false|" + error


def test_read_message_in_timer_event_is_nil() -> None:
    f, c = filter_("""
    function process_message() return 0 end
    function timer_event(ns)
        inject_payload("txt", "", tostring(read_message("Type")))
    end""")
    f.process_message(sample())
    f.timer_event(0)
    assert c.messages[0].payload == "nil"


# -- read_next_field ------------------------------------------------------


def test_read_next_field_walks_every_field_then_nils() -> None:
    f, c = filter_("""
    function process_message()
        for round = 1, 2 do
            while true do
                local t, n, v, r, count = read_next_field()
                if not t then
                    add_to_payload(tostring(n), tostring(v), "\\n")
                    break
                end
                add_to_payload(t, " ", n, " ", tostring(v), " ", r, " ",
                               count, "\\n")
            end
        end
        inject_payload()
        return 0
    end""", max_process_inject=1)
    f.process_message(sample())
    lines = c.messages[0].payload.splitlines()
    assert lines[:10] == [
        "0 foo bar  1", "2 number 64  1", "2 numbers 1 count 3",
        "4 bool true  1", "4 bools true  3", "3 double 2.5  1",
        "1 bytes data  1", "1 empty nil  1", "0 foo alternate  1",
        "nilnil"]
    assert lines[10] == "nilnil"


def test_read_next_field_restarts_for_each_message() -> None:
    f, c = filter_("""
    function process_message()
        local t, n = read_next_field()
        inject_payload("txt", "", n)
        return 0
    end""")
    f.process_message(sample())
    f.process_message(sample())
    assert [m.payload for m in c.messages] == ["foo", "foo"]


# -- read_config ----------------------------------------------------------


def test_read_config_types() -> None:
    cfg = {"s": "text", "b": True, "i": 7, "f": 1.5, "a": [1, 2],
           "t": {"x": 1}}
    out = returns('read_config("s"), read_config("b"), read_config("i"), '
                  'read_config("f"), read_config("a"), read_config("t"), '
                  'read_config("missing")', config=cfg)
    assert out == "true|text|true|7|1.5|nil|nil|nil"


@pytest.mark.parametrize("args", ["", '"a", "b"'])
def test_read_config_needs_one_argument(args: str) -> None:
    assert returns(f"read_config({args})") == \
        "false|read_config() must have a single argument"


# -- add_to_payload and number formatting ---------------------------------


@pytest.mark.parametrize(("value", "text"), [
    ("1", "1"), ("-1", "-1"), ("0", "0"), ("1.2", "1.2"),
    ("0.123456789", "0.12345679"), ("-0.5", "-0.5"),
    ("1/3", "0.33333333"), ("2147483647", "2147483647"),
    ("2147483648", "2147483648"), ("1e100", "1.0000000000000000e+100"),
    ("0.1 + 0.2", "0.3"), ("0/0", "nan"), ("1/0", "inf"),
    ("-1/0", "-inf"), ("123.000000005", "123.00000001"),
    ("3.999999999", "4"), ("-2.25", "-2.25"),
])
def test_number_formatting(value: str, text: str) -> None:
    if value == "1e100":
        text = f"{1e100:0.17g}"
    assert returns(value, config={}) .split("|")[1] == text


def test_add_to_payload_spec_example() -> None:
    f, c = filter_("""
    local cjson = require "cjson"
    function process_message()
        inject_payload("txt", "", cjson.encode({value=1}), 1.2,
                       " string ", nil, " ", true, " ", false)
        return 0
    end""")
    f.process_message(sample())
    assert c.messages[0].payload == '{"value":1}1.2 string nil true false'


@pytest.mark.parametrize(("expr", "error"), [
    ("add_to_payload()", "bad argument #0 to 'add_to_payload' "
                         "(must have at least one argument)"),
    ("add_to_payload({})", "bad argument #1 to 'add_to_payload' "
                           "(unsupported type)"),
    ("add_to_payload('a', print or add_to_payload)",
     "bad argument #2 to 'add_to_payload' (unsupported type)"),
])
def test_add_to_payload_errors(expr: str, error: str) -> None:
    assert returns(expr).endswith("false|" + error)


def test_output_limit_on_add_to_payload() -> None:
    out = returns("add_to_payload(string.rep('x', 200))",
                  output_limit=100)
    assert out == "false|add_to_payload() output_limit exceeded"


# -- inject_payload ------------------------------------------------------


def test_inject_payload_message() -> None:
    f, c = filter_("""
    function process_message()
        inject_payload("json", "my name", "{}")
        return 0
    end""")
    f.process_message(sample())
    m = c.messages[0]
    assert m.type == "heka.sandbox-output"
    assert m.logger == "sbx"
    assert m.hostname == HOSTNAME
    assert m.pid == 4242
    assert m.payload == "{}"
    assert len(m.uuid or b"") == 16
    assert m.fields == [
        Field("payload_type", "json", representation="file-extension"),
        Field("payload_name", "my name")]


def test_inject_payload_defaults_and_empty_buffer() -> None:
    f, c = filter_("""
    function process_message()
        inject_payload()
        add_to_payload("x")
        inject_payload("", nil)
        return 0
    end""")
    f.process_message(sample())
    assert len(c.messages) == 1
    assert c.messages[0].field("payload_type") == "txt"
    assert c.messages[0].field("payload_name") == ""


def test_inject_payload_type_must_be_string() -> None:
    assert returns("inject_payload(1)") == (
        "false|bad argument #1 to 'inject_payload' "
        "(string expected, got number)")


# -- inject_message -------------------------------------------------------


def test_inject_message_table_is_rewritten_for_filters() -> None:
    f, c = filter_("""
    function process_message()
        inject_message({Type="count", Logger="me", Hostname="spoof",
                        Payload="p", Severity=3, Pid=12,
                        Timestamp=1e9, Fields={n=1}})
        return 0
    end""")
    p = sample()
    p.loop_count = 2
    f.process_message(p)
    m = c.messages[0]
    assert (m.type, m.logger, m.hostname) == ("heka.sandbox.count", "sbx",
                                              HOSTNAME)
    assert (m.payload, m.severity, m.pid, m.timestamp) == ("p", 3, 12,
                                                           10 ** 9)
    assert m.fields == [Field("n", 1.0)]
    assert c.packs[0].loop_count == 3


def test_inject_message_protobuf_string() -> None:
    raw = Message(uuid=bytes(16), timestamp=5, type="x",
                  payload="pb").encode()
    f, c = filter_("""
    function process_message()
        inject_message(read_message("raw"))
        return 0
    end""")
    f.process_message(Pack_raw(raw))
    m = c.messages[0]
    assert (m.type, m.payload, m.timestamp) == ("heka.sandbox.x", "pb", 5)


def Pack_raw(raw: bytes):
    from hekapy import Pack
    return Pack(raw)


def test_inject_message_golden_bytes() -> None:
    from test_sandbox_helpers import encoder

    from hekapy.sandbox._host import ScriptError  # noqa: F401
    e = encoder("""
    function process_message()
        inject_message({Timestamp=1e9, Fields={number=1,
            numbers={value={1,2,3}, representation="count"},
            string="string", strings={"s1","s2","s3"}, bool=true,
            bools={true,false,false}}})
        return 0
    end""")
    out = e.encode(sample())
    assert out is not None
    assert out[:2] == b"\x0a\x10" and len(out) > 18
    body = out[18:]
    assert body[:6] == bytes.fromhex("108094ebdc03")
    expected = [
        "52130a066e756d626572100339000000000000f03f",
        "522c0a076e756d6265727310031a05636f756e743a18"
        "000000000000f03f00000000000000400000000000000840",
        "520e0a05626f6f6c731004420301" "0000",
        "520a0a04626f6f6c10044001",
        "52100a06737472696e672206737472696e67",
        "52150a07737472696e67732202733122027332220273 33".replace(" ", ""),
    ]
    rest = body[6:].hex()
    for part in expected:
        assert part in rest
    assert len(rest) == sum(len(p) for p in expected)
    assert rest == "".join(expected)


@pytest.mark.parametrize(("table", "error"), [
    ("{Fields={x={}}}", "unsupported type: nil"),
    ("{Fields={x={1, 'a'}}}", "array has mixed types"),
    ("{Fields={x={value='s', value_type=2}}}",
     "invalid string value_type: 2"),
    ("{Fields={x={value=1, value_type=0}}}",
     "invalid numeric value_type: 0"),
    ("{Fields={x={value=true, value_type=1}}}",
     "invalid boolean value_type: 1"),
    ("{Fields={x={{1}, {2}}}}", "unsupported array type: table"),
])
def test_inject_message_table_errors(table: str, error: str) -> None:
    assert returns(f"inject_message({table})") == (
        "false|inject_message() could not encode protobuf - " + error)


def test_inject_message_argument_errors() -> None:
    text = "inject_message() takes a single string or table argument"
    assert returns("inject_message()") == "false|" + text
    assert returns("inject_message(1)") == "false|" + text
    assert returns("inject_message('junk')") == \
        "false|inject_message() protobuf unmarshal failed"


def test_inject_message_output_limit() -> None:
    out = returns("inject_message({Payload=string.rep('x', 300)})",
                  output_limit=200)
    assert out == "false|inject_message() output_limit exceeded"


def test_inject_count_limit_terminates() -> None:
    f, c = filter_("""
    function process_message()
        inject_payload("txt", "", "a")
        inject_payload("txt", "", "b")
        return 0
    end""")
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert ei.value.reason == ("process_message() inject_message() "
                               "exceeded InjectMessage count")
    assert len(c.messages) == 1


def test_timer_inject_limit() -> None:
    f, _c = filter_("""
    function process_message() return 0 end
    function timer_event(ns)
        for i = 1, 3 do inject_payload("txt", "", i) end
    end""", max_timer_inject=2)
    with pytest.raises(SandboxTerminated) as ei:
        f.timer_event(0)
    assert ei.value.reason == ("timer_event() inject_message() exceeded "
                               "InjectMessage count")


def test_inject_error_from_router_terminates() -> None:
    from hekapy import InjectError
    from hekapy.plugins import PluginContext

    def refuse(pack: object) -> None:
        raise InjectError("exceeded MaxMsgLoops")

    f = SandboxFilter("loop", {"source": """
    function process_message() inject_payload("txt", "", "x") return 0 end
    """})
    f.start(PluginContext("loop", refuse))
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert ei.value.reason == "process_message() exceeded MaxMsgLoops"


# -- decode_message -------------------------------------------------------


def test_decode_message_round_trip() -> None:
    f, c = filter_("""
    function process_message()
        local m = decode_message(read_message("raw"))
        add_to_payload(m.Type, " ", m.Severity, " ", #m.Uuid, " ",
                       m.Fields[3].name, " ", m.Fields[3].value[3], " ",
                       m.Fields[3].representation, " ",
                       m.Fields[3].value_type, " ", #m.Fields)
        inject_payload()
        return 0
    end""")
    f.process_message(sample())
    assert c.messages[0].payload == "TEST 6 16 numbers 3 count 2 9"


@pytest.mark.parametrize(("arg", "error"), [
    ("", "decode_message() must have one string argument"),
    ("1, 2", "decode_message() must have one string argument"),
    ("'short'", "invalid message, too short"),
    ("string.rep('\\127', 30)", "error in tag: 15 wiretype: 7 offset: 0"),
    ("'\\10\\2ab' .. string.rep('\\16\\1', 10)",
     "error in tag: 1 wiretype: 2 offset: 0"),
    ("'\\16\\1' .. string.rep('\\40\\1', 10)",
     "missing required field uuid: not found timestamp: found"),
])
def test_decode_message_errors(arg: str, error: str) -> None:
    assert returns(f"decode_message({arg})") == "false|" + error


def test_decoded_table_injects_back() -> None:
    f, c = filter_("""
    function process_message()
        inject_message(decode_message(read_message("raw")))
        return 0
    end""")
    f.process_message(sample())
    m = c.messages[0]
    orig = sample().message
    assert m.fields == orig.fields
    assert m.payload == orig.payload
    assert m.uuid == orig.uuid


# -- return codes ------------------------------------------------------------


def test_negative_status_is_a_failure_and_the_sandbox_goes_on() -> None:
    f, _ = filter_("""
    n = 0
    function process_message()
        n = n + 1
        if n == 1 then return -1, "bad input" end
        if n == 2 then return -1 end
        return 0
    end""")
    with pytest.raises(PluginFailure) as ei:
        f.process_message(sample())
    assert str(ei.value) == "bad input"
    with pytest.raises(PluginFailure):
        f.process_message(sample())
    f.process_message(sample())
    assert f.stats["failures"] == 2
    assert f.stats["process_count"] == 3


@pytest.mark.parametrize(("body", "reason"), [
    ("return 1", "process_message() received a termination status code"),
    ("return", "process_message() must return a numeric status code"),
    ("return 'x'", "process_message() must return a numeric status code"),
    ("return 0, {}",
     "process_message() must return a nil or string error message"),
    ("error('boom')", "process_message() sbx:1: boom"),
    ("error('boom', 0)", "process_message() boom"),
    ("error()", "process_message() <nil error message>"),
    ("local x = nil; x.y = 1",
     "process_message() sbx:1: attempt to index local 'x' "
     "(a nil value)"),
])
def test_fatal_outcomes_terminate_for_good(body: str, reason: str) -> None:
    f = SandboxFilter("sbx", {"source": f"function process_message() "
                                        f"{body} end"})
    from test_sandbox_helpers import Collector
    f.start(Collector().context)
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert ei.value.reason == reason
    assert ei.value.name == "sbx"
    with pytest.raises(SandboxTerminated) as again:
        f.process_message(sample())
    assert again.value.reason == reason
    with pytest.raises(SandboxTerminated):
        f.timer_event(0)


def test_error_text_is_limited_to_255_characters() -> None:
    f, _ = filter_("function process_message() error(string.rep('e', 999), "
                   "0) end\nrequire 'string'")
    with pytest.raises(SandboxTerminated) as ei:
        f.process_message(sample())
    assert len(ei.value.reason) == 255


def test_timer_event_gets_ns_and_missing_timer_terminates() -> None:
    f, c = filter_("""
    function process_message() return 0 end
    function timer_event(ns) inject_payload("txt", "", ns) end""")
    f.timer_event(1234567890)
    assert c.messages[0].payload == "1234567890"
    g, _ = filter_("function process_message() return 0 end")
    with pytest.raises(SandboxTerminated) as ei:
        g.timer_event(0)
    assert ei.value.reason == "timer_event() function was not found"


def test_load_errors() -> None:
    from test_sandbox_helpers import Collector
    for source, text in [
        ("function process_message(", "failed to load"),
        ("error('at load')", "at load"),
        ("x = 1", "process_message() function was not found"),
    ]:
        f = SandboxFilter("bad", {"source": source})
        with pytest.raises(SandboxError, match=text.replace("(", r"\(")
                           .replace(")", r"\)")):
            f.start(Collector().context)


def test_missing_api_function_for_the_kind() -> None:
    assert returns("write_message('Type', 'x')") == (
        "false|sbx:5: attempt to call global "
        "'write_message' (a nil value)")


def test_termination_message() -> None:
    m = termination_message("f1", "process_message() boom", "host1")
    assert m.type == "heka.sandbox-terminated"
    assert m.logger == "hekad"
    assert m.payload == "process_message() boom"
    assert m.hostname == "host1"
    assert m.field("plugin") == "f1"
    assert len(m.uuid or b"") == 16 and m.timestamp


def test_stats() -> None:
    f, _ = filter_("""
    t = {}
    function process_message()
        for i = 1, 5000 do t[i] = i end
        add_to_payload("abc")
        inject_payload()
        return 0
    end""")
    f.process_message(sample())
    s = f.stats
    assert s["memory"] > 0 and s["max_memory"] >= s["memory"]
    assert s["max_instructions"] >= 10000
    assert s["max_output"] == 3
    assert s["inject_count"] == 1
    assert s["process_count"] == 1


def test_nan_is_formatted() -> None:
    assert math.isnan(float("nan"))
    assert returns("0/0").endswith("nan")


# -- decoders ---------------------------------------------------------------


def test_decoder_write_message_headers_and_fields() -> None:
    d = decoder("""
    function process_message()
        write_message("Type", "new")
        write_message("Payload", "changed")
        write_message("Severity", 2)
        write_message("Pid", "77")
        write_message("Timestamp", "0x10")
        write_message("Uuid", "01234567-89ab-cdef-0123-456789abcdef")
        write_message("Fields[foo]", "replaced", "rep")
        write_message("Fields[foo]", "appended", "", 0, 1)
        write_message("Fields[new]", 1.5)
        write_message("Fields[new]", true, "", 1)
        write_message("Fields[bools]", nil, "", 0, 0)
        write_message("Fields[double]", nil)
        add_to_payload(read_message("Fields[foo]", 0, 1), " ",
                       read_message("Type"), " ", #read_message("raw"))
        return 0
    end""")
    out = d.decode(sample())
    assert len(out) == 1
    m = out[0].message
    assert (m.type, m.payload, m.severity, m.pid, m.timestamp) == (
        "new", "changed", 2, 77, 16)
    assert m.uuid == bytes.fromhex("0123456789abcdef0123456789abcdef")
    assert m.fields[0] == Field("foo", ["replaced", "appended"])
    assert Field("new", 1.5) in m.fields and Field("new", True) in m.fields
    names = [f.name for f in m.fields]
    assert "double" not in names
    assert next(f for f in m.fields if f.name == "bools").values == [
        False, False]


@pytest.mark.parametrize("call", [
    'write_message("Fields[number]", 5)',
    'write_message("Fields[bytes]", "s")',
    'write_message("Fields[foo]", 5)',
    'write_message("Fields[foo]", "x", "", 3)',
    'write_message("Fields[foo]", "x", "", 0, 5)',
    'write_message("Type", true)',
    'write_message("Type", nil)',
    'write_message("Uuid", "not a uuid")',
    'write_message("Timestamp", "yesterday")',
    'write_message("Bogus", "x")',
])
def test_write_message_failures(call: str) -> None:
    d = decoder(f"function process_message() {call} return 0 end")
    with pytest.raises(SandboxTerminated) as ei:
        d.decode(sample())
    assert ei.value.reason == "process_message() write_message() failed"


@pytest.mark.parametrize(("call", "error"), [
    ('write_message("Type")',
     "write_message() incorrect number of arguments"),
    ('write_message("Fields[x]", {})',
     "write_message() only accepts numeric, string, or boolean field "
     "values, or nil to delete"),
])
def test_write_message_argument_errors(call: str, error: str) -> None:
    d = decoder(f"function process_message() {call} return 0 end")
    with pytest.raises(SandboxTerminated) as ei:
        d.decode(sample())
    assert ei.value.reason == "process_message() " + error


def test_decoder_injections_replace_the_message() -> None:
    d = decoder("""
    function process_message()
        inject_message({Payload="one"})
        inject_message({Payload="two", Type="own"})
        return 0
    end""")
    out = [p.message for p in d.decode(sample())]
    assert [m.payload for m in out] == ["one", "two"]
    assert [m.type for m in out] == ["TEST", "own"]
    assert out[0].hostname == "example.com" and out[0].pid == 9283
    assert out[0].logger == "GoSpec" and out[0].severity == 6


def test_decoder_failure_and_untouched_pass_through() -> None:
    d = decoder("""
    function process_message()
        if read_message("Type") == "bad" then return -1, "no parse" end
        return 0
    end""")
    p = sample()
    assert d.decode(p) == [p]
    with pytest.raises(PluginFailure, match="no parse"):
        d.decode(pack(type="bad"))


def test_decoder_inject_payload_sets_payload_fields() -> None:
    d = decoder("""
    function process_message()
        inject_payload("json", "x", "{}")
        return 0
    end""")
    m = d.decode(sample())[0].message
    assert m.payload == "{}" and m.type == "TEST"
    assert m.fields[-2:] == [
        Field("payload_type", "json", representation="file-extension"),
        Field("payload_name", "x")]


# -- encoders ---------------------------------------------------------------


def test_encoder_outputs() -> None:
    from test_sandbox_helpers import encoder
    e = encoder("""
    function process_message()
        local t = read_message("Type")
        if t == "skip" then return -2 end
        if t == "fail" then return -1, "cannot" end
        if t == "raw" then return 0 end
        if t == "write" then write_message("Payload", "w") return 0 end
        inject_payload("txt", "", "first")
        inject_payload("txt", "", "last ", t)
        return 0
    end""")
    assert e.encode(pack(type="x")) == b"last x"
    assert e.encode(pack(type="skip")) is None
    with pytest.raises(PluginFailure, match="cannot"):
        e.encode(pack(type="fail"))
    p = pack(type="raw")
    assert e.encode(p) == p.raw
    w = pack(type="write", payload="orig")
    assert Message.decode(e.encode(w) or b"").payload == "w"
    assert w.message.payload == "orig"


# -- values handed over with the call ---------------------------------------


def test_learned_reads_follow_each_message() -> None:
    f, c = filter_("""
    function process_message()
        local x = read_message("Fields[x]")
        if x == 3 then
            inject_payload("txt", "", tostring(read_message("Payload")),
                           " ", tostring(read_message("Fields[gone]")))
        end
        sum = (sum or 0) + (x or 0)
        return 0
    end
    function timer_event()
        inject_payload("txt", "", sum, " ",
                       tostring(read_message("Fields[x]")))
    end""")
    for i in range(6):
        fields = [] if i == 5 else [Field("x", i)]
        f.process_message(pack(payload=f"p{i}", fields=fields))
    f.timer_event(0)
    assert [m.payload for m in c.messages] == ["p3 nil", "10 nil"]


def test_decoder_reads_after_a_write_see_the_write() -> None:
    d = decoder("""
    function process_message()
        local before = read_message("Type")
        write_message("Type", before .. "!")
        inject_payload("txt", "", before, " ", read_message("Type"))
        return 0
    end""")
    for t in ("a", "b"):
        out = d.decode(pack(type=t))
        assert out[0].message.payload == f"{t} {t}!"
