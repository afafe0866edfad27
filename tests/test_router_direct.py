"""Inline Lua filters fed from framed streams.

``Router.feed`` lets the compiled routing loop call an inline sandbox
filter's process_message itself.  Every test here routes the same
messages through ``feed`` and through ``inject`` (the Python path) and
expects the same outcome, so the pure twin runs them too.
"""

from __future__ import annotations

import logging

import pytest

from hekapy import EXTENSION_LOADED, Field, Message, Pack, Router, frame
from hekapy.plugins import Output
from hekapy.sandbox import SandboxFilter

VIAS = ["feed", "inject"]


class Collect(Output):
    def __init__(self, name: str = "out") -> None:
        super().__init__(name)
        self.got: list[Message] = []

    def process_message(self, pack: Pack) -> None:
        self.got.append(pack.message)


def msg(n: int, **extra: object) -> Message:
    fields = [Field("n", n), Field("half", n / 2)]
    return Message.new(type="t", payload=str(n), fields=fields, **extra)


def send(r: Router, via: str, messages: list[Message]) -> None:
    """Route ``messages`` as one framed chunk, or one inject each."""
    if via == "feed":
        r.feed(b"".join(frame(m.encode()) for m in messages))
    else:
        for m in messages:
            r.inject(m)
    r.drain()


def sandbox(name: str, body: str, **cfg: object) -> SandboxFilter:
    return SandboxFilter(name, {"source": body, **cfg})


SUM = """
require "string"
local sum, n = 0, 0
function process_message()
    sum = sum + read_message("Fields[half]")
    n = n + 1
    return 0
end
function timer_event(ns)
    inject_payload("txt", "sum", string.format("%d %g", n, sum))
end
"""


@pytest.mark.parametrize("via", VIAS)
def test_filter_sees_every_match_and_counts_them(via: str) -> None:
    r = Router()
    out = Collect()
    r.add_filter(sandbox("sum", SUM), "Fields[n] >= 10",
                 timer_event_on_shutdown=True)
    r.add_output(out, "Type == 'heka.sandbox-output'")
    send(r, via, [msg(n) for n in range(40)])
    rep = r.report()["plugins"]["sum"]
    assert (rep["matched"], rep["processed"], rep["failed"]) == (30, 30, 0)
    assert rep["stats"]["process_count"] == 30
    r.close()
    assert [m.payload for m in out.got] == [f"30 {sum(range(10, 40)) / 2:g}"]


def test_feed_calls_inline_sandboxes_from_the_compiled_loop() -> None:
    from hekapy._impl import impl

    r = Router()
    r.add_filter(sandbox("a", SUM), "TRUE")
    r.add_filter(sandbox("b", SUM), "TRUE", threaded=True)
    direct = {name: r._by_name[name].direct for name in ("a", "b")}
    if not EXTENSION_LOADED or not hasattr(impl, "DirectCall"):
        assert direct == {"a": None, "b": None}
    else:
        # Only the inline filter is called from C.
        assert direct["a"] is not None and direct["b"] is None
        send(r, "feed", [msg(n) for n in range(5)])
        assert direct["a"].calls == 5
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_error_terminates_and_later_records_are_not_delivered(
    via: str, caplog: pytest.LogCaptureFixture
) -> None:
    lua = """
    function process_message()
        if read_message("Fields[n]") == 3 then error("boom") end
        return 0
    end
    """
    r = Router(hostname="h1")
    out = Collect()
    other = Collect("other")
    r.add_filter(sandbox("lua", lua), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-terminated'")
    r.add_output(other, "Type == 't'")
    with caplog.at_level(logging.ERROR, logger="hekapy.router"):
        send(r, via, [msg(n) for n in range(6)])
    (m,) = out.got
    assert m.field("plugin") == "lua"
    assert "boom" in (m.payload or "")
    rep = r.report()["plugins"]["lua"]
    assert (rep["state"], rep["processed"], rep["failed"]) == (
        "terminated", 4, 1)
    # The router went on: the output got all six.
    assert [x.field("n") for x in other.got] == list(range(6))
    assert r.plugins == ["out", "other"]
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_negative_status_is_a_failure_and_the_filter_goes_on(
    via: str,
) -> None:
    lua = """
    function process_message()
        local n = read_message("Fields[n]")
        if n % 3 == 0 then return -1, "not this one" end
        if n % 3 == 1 then return -2 end
        return 0
    end
    """
    r = Router()
    r.add_filter(sandbox("f", lua), "TRUE")
    send(r, via, [msg(n) for n in range(9)])
    rep = r.report()["plugins"]["f"]
    assert (rep["processed"], rep["failed"], rep["state"]) == (
        9, 6, "running")
    assert rep["stats"]["failures"] == 6
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_positive_status_terminates(via: str) -> None:
    lua = """
    function process_message() return 1, "stop here" end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("f", lua), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-terminated'")
    send(r, via, [msg(n) for n in range(3)])
    (m,) = out.got
    assert "received a termination status code: stop here" in (
        m.payload or "")
    assert r.report()["plugins"]["f"]["processed"] == 1
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_instruction_limit_terminates(via: str) -> None:
    lua = """
    function process_message()
        if read_message("Fields[n]") == 2 then while true do end end
        return 0
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("spin", lua, instruction_limit=1000), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-terminated'")
    send(r, via, [msg(n) for n in range(5)])
    (m,) = out.got
    assert "instruction_limit exceeded" in (m.payload or "")
    assert r.report()["plugins"]["spin"]["processed"] == 3
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_each_call_may_inject_its_own_quota(via: str) -> None:
    # max_process_inject is counted per call: one injection in each of
    # five calls is fine, and each injected message carries the payload
    # of the message being processed.
    lua = """
    function process_message()
        inject_payload("txt", "echo", read_message("Payload"))
        return 0
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("echo", lua, max_process_inject=1), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-output'")
    send(r, via, [msg(n) for n in range(5)])
    assert [m.payload for m in out.got] == ["0", "1", "2", "3", "4"]
    assert {m.logger for m in out.got} == {"echo"}
    rep = r.report()["plugins"]["echo"]
    assert (rep["processed"], rep["injected"], rep["failed"]) == (5, 5, 0)
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_second_injection_in_one_call_is_refused(via: str) -> None:
    lua = """
    function process_message()
        inject_payload("txt", "a", "1")
        local ok, err = pcall(inject_payload, "txt", "b", "2")
        if not ok then return -1, err end
        return 0
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("f", lua, max_process_inject=1), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-output'")
    send(r, via, [msg(n) for n in range(3)])
    assert len(out.got) == 3
    rep = r.report()["plugins"]["f"]
    assert (rep["processed"], rep["failed"]) == (3, 3)
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_injecting_what_it_matches_is_terminated(via: str) -> None:
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
    send(r, via, [msg(1), msg(2)])
    (m,) = out.got
    assert "circular reference" in (m.payload or "")
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_read_next_field_starts_over_for_each_message(via: str) -> None:
    lua = """
    require "table"
    function process_message()
        local names = {}
        while true do
            local typ, name = read_next_field()
            if not typ then break end
            names[#names + 1] = name
        end
        inject_payload("txt", "names", table.concat(names, ","))
        return 0
    end
    """
    r = Router()
    out = Collect()
    r.add_filter(sandbox("f", lua), "Type == 't'")
    r.add_output(out, "Type == 'heka.sandbox-output'")
    send(r, via, [msg(n) for n in range(3)])
    assert [m.payload for m in out.got] == ["n,half"] * 3
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_broken_fields_fail_that_message_only(via: str) -> None:
    good = [msg(n) for n in range(3)]
    # Headers decode; the fields part does not.
    broken = Message.new(type="t", payload="x").encode()
    broken += b"\x52\x03\xff\xff\xff"
    r = Router()
    r.add_filter(sandbox("sum", SUM), "Type == 't'")
    if via == "feed":
        r.feed(b"".join(frame(m) for m in
                        [good[0].encode(), broken, good[1].encode(),
                         good[2].encode()]))
    else:
        for raw in [good[0].encode(), broken, good[1].encode(),
                    good[2].encode()]:
            r.inject(raw)
    r.drain()
    rep = r.report()["plugins"]["sum"]
    assert (rep["processed"], rep["failed"], rep["state"]) == (
        4, 1, "running")
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_remove_and_add_again_between_chunks(via: str) -> None:
    r = Router()
    r.add_filter(sandbox("sum", SUM), "TRUE")
    send(r, via, [msg(n) for n in range(4)])
    r.remove("sum")
    send(r, via, [msg(n) for n in range(4)])
    r.add_filter(sandbox("sum", SUM), "TRUE")
    send(r, via, [msg(n) for n in range(2)])
    assert r.report()["plugins"]["sum"]["processed"] == 2
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_memory_is_sampled_while_messages_flow(via: str) -> None:
    lua = """
    local t = {}
    function process_message()
        t[#t + 1] = read_message("Payload")
        return 0
    end
    """
    r = Router()
    f = sandbox("grow", lua)
    r.add_filter(f, "TRUE")
    send(r, via, [msg(n) for n in range(600)])
    stats = r.report()["plugins"]["grow"]["stats"]
    assert stats["process_count"] == 600
    assert stats["max_memory"] >= stats["memory"] > 0
    r.close()


@pytest.mark.parametrize("via", VIAS)
def test_a_signer_filter_still_gets_only_signed_messages(via: str) -> None:
    r = Router()
    r.add_filter(sandbox("sum", SUM), "TRUE", message_signer="ops")
    send(r, via, [msg(n) for n in range(3)])
    assert r.report()["plugins"]["sum"]["processed"] == 0
    r.close()


def test_what_feed_cannot_route_is_counted_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = frame(msg(1).encode())
    r = Router()
    r.add_filter(sandbox("sum", SUM), "TRUE")
    with caplog.at_level(logging.WARNING, logger="hekapy.router"):
        r.feed(b"junk" + good + b"more junk" + good[:10])
        rep = r.report()["router"]
        r.close()
    assert rep["framing"]["garbage_bytes"] == 13
    assert rep["framing"]["records"] == 1
    assert rep["buffered_bytes"] == 10
    said = [rec.getMessage() for rec in caplog.records]
    assert "feed dropped 13 garbage bytes" in said
    assert any("10 bytes of an unfinished record" in s for s in said)
    assert r.report_message().payload


def test_other_threads_run_while_a_filter_computes() -> None:
    # A script busy for a good while in one call must not hold up the
    # rest of the program: the call runs without the GIL, as through
    # lupa.
    import threading
    import time

    lua = """
    function process_message()
        local x = 0
        for i = 1, 30000000 do x = x + i % 7 end
        return 0
    end
    """
    r = Router()
    r.add_filter(sandbox("busy", lua, instruction_limit=0), "TRUE")
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set() and len(ticks) < 1000:
            time.sleep(0.002)
            ticks.append(time.monotonic())

    t = threading.Thread(target=ticker)
    t.start()
    try:
        t0 = time.monotonic()
        r.feed(frame(msg(1).encode()))
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join()
    r.close()
    during = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 > 0.2, "the script should take a while"
    assert len(during) >= 10, (len(during), t1 - t0)


def test_python_plugins_around_a_direct_one_share_the_pack() -> None:
    from hekapy.plugins import Filter

    seen: list[Pack] = []

    class Keep(Filter):
        def process_message(self, pack: Pack) -> None:
            seen.append(pack)

    r = Router()
    r.add_filter(Keep("a"), "TRUE")
    r.add_filter(sandbox("lua", SUM), "TRUE")
    r.add_filter(Keep("b"), "TRUE")
    send(r, "feed", [msg(1), msg(2)])
    r.close()
    assert len(seen) == 4
    assert seen[0] is seen[1] and seen[2] is seen[3]
    assert seen[0] is not seen[2]
