"""Router routing rules: order, loops, circular refusal, signers, changes."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from hekapy import (
    Field,
    InjectError,
    Message,
    Pack,
    PluginFailure,
    Router,
    SandboxTerminated,
    Signer,
    frame,
)
from hekapy.plugins import Filter, Output, PluginExit


def msg(type_: str = "t", n: int = 0, **headers: Any) -> Message:
    return Message.new(
        type=type_, payload=str(n), fields=[Field("n", n)], **headers
    )


class Collect(Output):
    """Keeps (type, payload, loop_count, signer) of what it receives."""

    def __init__(self, name: str = "out", **config: Any) -> None:
        super().__init__(name, config)
        self.got: list[tuple[str, str, int, str | None]] = []

    def process_message(self, pack: Pack) -> None:
        m = pack.message
        self.got.append(
            (m.type or "", m.payload or "", pack.loop_count, pack.signer)
        )

    def payloads(self) -> list[str]:
        return [g[1] for g in self.got]


class Reinject(Filter):
    """Injects one message of ``to`` type per message; records errors."""

    def __init__(self, name: str, to: str) -> None:
        super().__init__(name)
        self.to = to
        self.errors: list[InjectError] = []

    def process_message(self, pack: Pack) -> None:
        try:
            self.context.inject(msg(self.to, pack.loop_count))
        except InjectError as exc:
            self.errors.append(exc)


@pytest.mark.parametrize("threaded", [False, True])
def test_each_plugin_sees_its_messages_in_order(threaded: bool) -> None:
    r = Router(queue_size=3)
    a, b = Collect("a"), Collect("b")
    r.add_output(a, "TRUE", threaded=threaded)
    r.add_output(b, "Fields[n] >= 50", threaded=threaded)
    for n in range(100):
        r.inject(msg(n=n))
    r.close()
    assert a.payloads() == [str(n) for n in range(100)]
    assert b.payloads() == [str(n) for n in range(50, 100)]


def test_inject_accepts_message_bytes_and_pack() -> None:
    r = Router()
    out = Collect()
    r.add_output(out, "TRUE")
    r.inject(msg(n=1))
    r.inject(msg(n=2).encode())
    r.inject(Pack(msg(n=3).encode(), signer="s"))
    r.drain()
    assert out.got == [
        ("t", "1", 0, None),
        ("t", "2", 0, None),
        ("t", "3", 0, "s"),
    ]
    with pytest.raises(TypeError, match="cannot route 'str'"):
        r.inject("nope")  # type: ignore[arg-type]


def test_filters_route_before_outputs_and_matchers_run_once() -> None:
    r = Router()
    order: list[str] = []

    class Note(Output):
        def process_message(self, pack: Pack) -> None:
            order.append(self.name)

    class NoteF(Filter):
        def process_message(self, pack: Pack) -> None:
            order.append(self.name)

    r.add_output(Note("o1"), "TRUE")
    r.add_filter(NoteF("f1"), "TRUE")
    r.add_output(Note("o2"), "TRUE")
    assert r.plugins == ["f1", "o1", "o2"]
    r.inject(msg())
    r.drain()
    assert sorted(order) == ["f1", "o1", "o2"]
    rep = r.report()["plugins"]
    assert [rep[n]["matched"] for n in ("f1", "o1", "o2")] == [1, 1, 1]


@pytest.mark.parametrize("loops", [1, 2, 4, 6])
def test_message_loop_limit(loops: int) -> None:
    r = Router(max_message_loops=loops)
    ping, pong = Reinject("ping", "b"), Reinject("pong", "a")
    out = Collect()
    r.add_filter(ping, "Type == 'a'")
    r.add_filter(pong, "Type == 'b'")
    r.add_output(out, "TRUE")
    r.inject(msg("a"))
    r.drain()
    assert [g[2] for g in out.got] == list(range(loops + 1))
    errors = ping.errors + pong.errors
    assert len(errors) == 1
    assert str(errors[0]).startswith(
        f"exceeded MaxMsgLoops: loop count {loops + 1}"
    )
    rep = r.report()["plugins"]
    assert rep["ping"]["injected"] + rep["pong"]["injected"] == loops


def test_zero_loops_counts_as_one() -> None:
    assert Router(max_message_loops=0).max_message_loops == 1


def test_filter_matching_its_own_injection_is_refused() -> None:
    r = Router()
    f = Reinject("echo", "a")
    out = Collect()
    r.add_filter(f, "Type == 'a'")
    r.add_output(out, "TRUE")
    r.inject(msg("a"))
    r.drain()
    assert [str(e) for e in f.errors] == [
        "creates a circular reference (matches this plugin's "
        "message_matcher \"Type == 'a'\") in plugin 'echo'"
    ]
    assert out.payloads() == ["0"]
    assert r.report()["plugins"]["echo"]["injected"] == 0


def test_timer_injection_starts_at_loop_count_one() -> None:
    r = Router()
    out = Collect()

    class Ticker(Filter):
        def timer_event(self, ns: int) -> None:
            self.context.inject(msg("tick"))

    r.add_filter(Ticker("tick"), "FALSE", ticker_interval=1)
    r.add_output(out, "TRUE")
    r.tick(now=10**9)
    r.drain()
    assert out.got == [("tick", "0", 1, None)]


def test_message_signer_selects_by_verified_signer() -> None:
    ops = Signer("ops", "key", 1)
    r = Router(signers=[ops])
    signed, anyone = Collect("signed"), Collect("anyone")
    r.add_output(signed, "TRUE", message_signer="ops")
    r.add_output(anyone, "TRUE")
    data = (
        frame(msg(n=1).encode(), ops)
        + frame(msg(n=2).encode())
        + frame(msg(n=3).encode(), Signer("ops", "wrong", 1))
    )
    assert r.feed(data[:10]) == 0
    assert r.feed(data[10:]) == 2
    r.drain()
    assert signed.got == [("t", "1", 0, "ops")]
    assert anyone.payloads() == ["1", "2"]


def test_add_and_remove_while_messages_flow() -> None:
    r = Router(queue_size=4)
    a, b = Collect("a"), Collect("b")
    r.add_output(a, "TRUE")
    for n in range(10):
        r.inject(msg(n=n))
    r.add_output(b, "TRUE", threaded=True)
    for n in range(10, 20):
        r.inject(msg(n=n))
    r.remove("a")
    for n in range(20, 30):
        r.inject(msg(n=n))
    r.close()
    assert a.payloads() == [str(n) for n in range(20)]
    assert b.payloads() == [str(n) for n in range(10, 30)]
    assert r.plugins == ["b"]
    assert r.report()["plugins"]["b"]["state"] == "stopped"


def test_remove_without_drain_drops_and_counts() -> None:
    gate, entered = threading.Event(), threading.Event()

    class Gated(Collect):
        def process_message(self, pack: Pack) -> None:
            entered.set()
            gate.wait(5)
            super().process_message(pack)

    r = Router(queue_size=10)
    a = Gated("a")
    r.add_output(a, "TRUE", threaded=True)
    for n in range(5):
        r.inject(msg(n=n))
    assert entered.wait(5)
    runner = r._by_name["a"]
    remover = threading.Thread(
        target=r.remove, args=("a",), kwargs={"drain": False}
    )
    remover.start()
    deadline = time.monotonic() + 5
    while runner.dropped < 4 and time.monotonic() < deadline:
        time.sleep(0.001)
    gate.set()
    remover.join(5)
    assert a.payloads() == ["0"]
    assert runner.dropped == 4
    assert r.plugins == []
    with pytest.raises(KeyError):
        r.remove("a")


def test_duplicate_name_is_refused() -> None:
    r = Router()
    r.add_output(Collect("x"), "TRUE")
    with pytest.raises(ValueError, match="'x' is already routed"):
        r.add_filter(Collect("x"), "TRUE")


@pytest.mark.parametrize("threaded", [False, True])
def test_plugin_that_raises_is_counted_and_router_goes_on(
    threaded: bool, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(Output):
        seen: list[int] = []

        def process_message(self, pack: Pack) -> None:
            n = pack.view.read_field(b"n")
            if n % 3 == 0:
                raise RuntimeError(f"bad {n}")
            if n % 3 == 1:
                raise PluginFailure(f"soft {n}")
            self.seen.append(n)

    flaky, good = Flaky("flaky"), Collect("good")
    r = Router()
    r.add_output(flaky, "TRUE", threaded=threaded)
    r.add_output(good, "TRUE")
    with caplog.at_level(logging.DEBUG, logger="hekapy.router"):
        for n in range(9):
            r.inject(msg(n=n))
        r.drain()
    rep = r.report()["plugins"]["flaky"]
    assert (rep["processed"], rep["failed"]) == (9, 6)
    assert flaky.seen == [2, 5, 8]
    assert len(good.got) == 9
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 3
    assert all(
        rec.name == "hekapy.router" and "flaky" in rec.getMessage()
        for rec in errors
    )
    r.close()


@pytest.mark.parametrize(
    ("exc", "mtype", "payload"),
    [
        (
            SandboxTerminated("lua", "process_message() boom"),
            "heka.sandbox-terminated",
            "process_message() boom",
        ),
        (
            PluginExit("disk gone"),
            "heka.terminated",
            "dying (type Dying) terminated. Error: disk gone",
        ),
    ],
)
def test_plugin_that_dies_is_removed_and_announced(
    exc: Exception, mtype: str, payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Dying(Filter):
        stopped = False

        def process_message(self, pack: Pack) -> None:
            if pack.view.read_field(b"n") == 2:
                raise exc

        def stop(self) -> None:
            self.stopped = True

    r = Router(hostname="h1", queue_size=10)
    dying = Dying("dying")
    out = Collect()
    r.add_filter(dying, "Type == 't'")
    r.add_output(out, "Type != 't'")
    with caplog.at_level(logging.ERROR, logger="hekapy.router"):
        for n in range(5):
            r.inject(msg(n=n))
        r.drain()
    assert r.plugins == ["out"]
    assert dying.stopped
    assert [(g[0], g[1]) for g in out.got] == [(mtype, payload)]
    note = r.terminations[0]
    assert (note["name"], note["dropped"]) == ("dying", 0)
    for n in range(5, 8):
        r.inject(msg(n=n))
    r.close()
    assert len(out.got) == 1


def test_report_dict_and_all_report_message() -> None:
    r = Router(hostname="h1", pid=42)
    out = Collect("reports")
    r.add_filter(Reinject("f", "derived"), "Type == 't'")
    r.add_output(out, "Type == 'heka.all-report'")
    for n in range(3):
        r.inject(msg(n=n))
    r.drain()
    rep = r.report()
    f = rep["plugins"]["f"]
    assert {
        k: f[k]
        for k in (
            "kind",
            "matched",
            "processed",
            "failed",
            "injected",
            "dropped",
            "queue_length",
            "queue_capacity",
        )
    } == {
        "kind": "filter",
        "matched": 3,
        "processed": 3,
        "failed": 0,
        "injected": 3,
        "dropped": 0,
        "queue_length": 0,
        "queue_capacity": 0,
    }
    assert rep["router"]["routed"] == 6
    assert rep["router"]["blocked_on"] is None
    r.send_report()
    r.drain()
    (m,) = [p for p in r._by_name["reports"].plugin.got]
    assert m[0] == "heka.all-report"
    body = json.loads(m[1])
    assert set(body) == {
        "globals",
        "inputs",
        "splitters",
        "decoders",
        "filters",
        "outputs",
        "encoders",
    }
    (entry,) = body["filters"]
    assert entry["Name"] == "f"
    assert entry["InjectMessageCount"] == {
        "value": 3,
        "representation": "count",
    }
    assert entry["InChanCapacity"]["value"] == 0
    assert body["outputs"][0]["Name"] == "reports"
    assert body["globals"][0]["ProcessMessageCount"]["value"] == 6


def test_reports_on_an_interval() -> None:
    r = Router(report_interval=5)
    out = Collect()
    r.add_output(out, "Type == 'heka.all-report'")
    r.tick(now=0)
    assert out.got == []
    r.tick(now=10**9)
    r.drain()
    assert [g[0] for g in out.got] == ["heka.all-report"]


def test_report_includes_plugin_stats() -> None:
    class WithStats(Output):
        stats = {"memory": 1000, "max_memory": 2000}

        def process_message(self, pack: Pack) -> None:
            pass

    r = Router()
    r.add_output(WithStats("s"), "TRUE")
    assert r.report()["plugins"]["s"]["stats"] == {
        "memory": 1000,
        "max_memory": 2000,
    }
    entry = json.loads(r.report_message().payload or "")["outputs"][0]
    assert entry["Memory"] == {"value": 1000, "representation": "B"}


def test_undecodable_bytes_are_counted_not_routed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = Router()
    out = Collect()
    r.add_output(out, "TRUE")
    with caplog.at_level(logging.WARNING, logger="hekapy.router"):
        r.inject(b"\x0a\x05ab")
    r.inject(msg())
    r.drain()
    assert r.report()["router"]["decode_failures"] == 1
    assert len(out.got) == 1
    assert "does not decode" in caplog.records[0].getMessage()


def test_timers_fire_and_final_timer_on_close() -> None:
    calls: list[int] = []

    class Timed(Output):
        def process_message(self, pack: Pack) -> None:
            pass

        def timer_event(self, ns: int) -> None:
            calls.append(ns)

    r = Router()
    r.add_output(
        Timed("t"), "TRUE", ticker_interval=2, timer_event_on_shutdown=True
    )
    r.tick(now=0)
    assert calls == []
    r.tick(now=10**9)
    assert len(calls) == 1
    r.close()
    assert len(calls) == 2


def test_closed_router_refuses_plugins() -> None:
    r = Router()
    r.close()
    r.close()
    with pytest.raises(ValueError, match="router is closed"):
        r.add_output(Collect(), "TRUE")


def test_bad_options_are_refused() -> None:
    r = Router()
    with pytest.raises(ValueError, match="on_full must be"):
        r.add_output(Collect("a"), "TRUE", on_full="spill")
    with pytest.raises(ValueError, match="queue_size must be at least 1"):
        r.add_output(Collect("b"), "TRUE", queue_size=-1)
    assert r.plugins == []


def test_injecting_a_pack_routes_a_new_one() -> None:
    made = Pack(msg("derived", 9).encode(), signer="ops", loop_count=7)

    class Forward(Filter):
        def process_message(self, pack: Pack) -> None:
            self.context.inject(made)

    r = Router()
    out = Collect()
    r.add_filter(Forward("fwd"), "Type == 't'")
    r.add_output(out, "Type == 'derived'")
    r.inject(msg(n=1))
    r.drain()
    assert (made.loop_count, made.signer) == (7, "ops")
    assert out.got == [("derived", "9", 1, None)]
