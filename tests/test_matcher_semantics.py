"""Matcher semantics beyond the spec tables, on both evaluator twins."""

from __future__ import annotations

from types import ModuleType

import pytest

from hekapy import Field, Message
from hekapy._purepath import MessageView as PureView
from hekapy.matcher import Matcher, MatcherSet, parse
from hekapy.matcher._api import build

UUID = bytes.fromhex("8e414f019d7f4a48a5e1ae92e5954df5")
TS = 1428773426113040228


def _full() -> bytes:
    return Message(
        uuid=UUID, timestamp=TS, type="TEST", logger="GoSpec", severity=6,
        payload="Test Payload", env_version="0.8", pid=32157,
        hostname="trink", fields=[
            Field("str", ["bar", "baz"]), Field("bytes", b"data"),
            Field("int", [999, 2**62 + 1]), Field("dbl", [99.9, 2.0**53]),
            Field("yes", True), Field("no", False), Field("one", 1),
            Field("fone", 1.0), Field("text", "TRUE"),
            Field("str", "second"), Field("nan", float("nan")),
            Field("empty", "")]).encode()


def _bare() -> bytes:
    return Message(uuid=UUID, timestamp=0).encode()


def _run(impl: ModuleType, expr: str, raw: bytes,
         dialect: str = "heka") -> bool:
    return bool(build([parse(expr, dialect)], impl).matches(raw))


HEKA_FULL = [
    ("Uuid == '8e414f01-9d7f-4a48-a5e1-ae92e5954df5'", True),
    ("Uuid =~ /^8e414f01-/", True),
    ("Uuid < '9'", True),
    # Exact 64-bit integers (Go compared float64s).
    (f"Timestamp == {TS}", True),
    (f"Timestamp == {TS + 1}", False),
    (f"Timestamp < {TS + 1}", True),
    ("Timestamp > 1.4e18", True),
    (f"Fields[int][0][1] == {2**62 + 1}", True),
    (f"Fields[int][0][1] == {2**62}", False),
    ("Fields[int] == 999.0", True),
    ("Fields[dbl] < 100", True),
    (f"Fields[dbl][0][1] == {2**53}", True),
    ("Severity == 6E0", True),
    ("Severity == 6.5", False),
    ("Severity > -1", True),
    ("Pid == 32157", True),
    # Second occurrence of a field name.
    ("Fields[str][1] == 'second'", True),
    ("Fields[str][0][1] == 'baz'", True),
    ("Fields[str][2] == NIL", True),
    ("Fields[str][0][2] != 'x'", False),
    # Type mismatches are false for every operator.
    ("Fields[yes] == 'x'", False),
    ("Fields[no] != 'x'", False),
    ("Fields[no] > 5", False),
    ("Fields[no] =~ /x/", False),
    ("Fields[no] !~ /x/", False),
    ("Fields[text] == TRUE", False),
    ("Fields[one] == TRUE", False),
    ("Fields[str] != 5", False),
    ("Fields[int] != 'x'", False),
    ("Fields[int] !~ /x/", False),
    ("Fields[yes] == TRUE", True),
    ("Fields[no] == FALSE", True),
    ("Fields[bytes] =~ /^da/", True),
    ("Fields[bytes] < 'datb'", True),
    ("Fields[empty] == ''", True),
    ("Fields[empty] != NIL", True),
    # NaN is unordered: only != holds.
    ("Fields[nan] == 0", False),
    ("Fields[nan] != 0", True),
    ("Fields[nan] >= 0", False),
    # Regex fast paths and the engine agree.
    ("Type =~ /^TEST$/", True),
    ("Type =~ /^TES$/", False),
    ("Type =~ /^$/", False),
    ("Type =~ //", True),
    ("Type =~ /^/", True),
    ("Type =~ /ES/", True),
    ("Type =~ /^T.S/", True),
    ("Type =~ /(?i)test/", True),
    ("Payload =~ /Payload$/", True),
    ("Payload =~ /Test\\sPay/", True),
    ("Payload =~ /a\\/b/", False),
    # Go's $ is the end of the text, not before a final newline.
    ("Hostname =~ /k$/", True),
    # Whitespace of every kind, text after a newline is read.
    ("Type == 'TEST'\n&& Severity == 6", True),
    ("Type == 'TEST'\r\n&&\tSeverity == 7", False),
    ("(((Type == 'TEST')))", True),
    ("TRUE && FALSE || TRUE", True),
    ("FALSE || FALSE && TRUE", False),
    ("FALSE || (TRUE && TRUE)", True),
]


@pytest.mark.parametrize(("expr", "expect"), HEKA_FULL)
def test_heka_full_message(impl: ModuleType, expr: str,
                           expect: bool) -> None:
    assert _run(impl, expr, _full()) is expect


HEKA_BARE = [
    # Unset headers read as "" and 0, Severity as 7.
    ("Type == ''", True),
    ("Hostname != ''", False),
    ("Payload =~ /^$/", True),
    ("Pid == 0", True),
    ("Severity == 7", True),
    ("Timestamp == 0", True),
    ("Fields[any] == NIL", True),
    ("Fields[any] != 'x'", False),
    ("Uuid == '8e414f01-9d7f-4a48-a5e1-ae92e5954df5'", True),
]


@pytest.mark.parametrize(("expr", "expect"), HEKA_BARE)
def test_heka_unset_headers(impl: ModuleType, expr: str,
                            expect: bool) -> None:
    assert _run(impl, expr, _bare()) is expect


def test_heka_uuid_of_wrong_length_reads_empty(impl: ModuleType) -> None:
    raw = Message(uuid=b"short", timestamp=0).encode()
    assert _run(impl, "Uuid == ''", raw)


LSB_FULL = [
    ("Fields[yes] != FALSE", True),
    ("Fields[yes] != TRUE", False),
    # Booleans also compare with numeric 1 and 0, not the reverse.
    ("Fields[one] == TRUE", True),
    ("Fields[fone] == TRUE", True),
    ("Fields[one] != FALSE", True),
    ("Fields[int] == TRUE", False),
    ("Fields[yes] == 1", False),
    ("Fields[text] == TRUE", False),
    ("Uuid == '8e414f01-9d7f-4a48-a5e1-ae92e5954df5'", False),
    ("Payload =~ 'Pay(load'%", False),
    ("Payload =~ 'Test Pay'%", True),
    ("Payload =~ '^Test%s'", True),
    ("Payload =~ 'T(e)st'", False),
    ("Payload =~ '%f[%a]Payload'", True),
    ("Timestamp > '2015-04-11T10:30:26-0700'", True),
    ("Timestamp < '2015-04-11T18:30:27+0100'", True),
    ("Timestamp > '2015-04-11T18:30:26+0100'", True),
    ("Timestamp > '2015-04-11T18:30:27+0100'", False),
    ("Timestamp == '2015-04-11T17:30:26.113040228Z'", True),
    ("Timestamp >= +1e18", True),
]


@pytest.mark.parametrize(("expr", "expect"), LSB_FULL)
def test_lua_sandbox_full_message(impl: ModuleType, expr: str,
                                  expect: bool) -> None:
    assert _run(impl, expr, _full(), "lua_sandbox") is expect


LSB_BARE = [
    # An unset header sorts below every value.
    ("Pid == NIL", True),
    ("Pid != 0", True),
    ("Pid < 0", True),
    ("Pid >= 0", False),
    ("Pid == 0", False),
    ("Type =~ '.'", False),
    ("Type !~ 'x'%", True),
    ("Severity == 7", True),
    ("Timestamp == 0", True),
]


@pytest.mark.parametrize(("expr", "expect"), LSB_BARE)
def test_lua_sandbox_unset_headers(impl: ModuleType, expr: str,
                                   expect: bool) -> None:
    assert _run(impl, expr, _bare(), "lua_sandbox") is expect


def test_views_of_either_twin_are_accepted(impl: ModuleType) -> None:
    raw = _full()
    program = build([parse("Fields[str][1] == 'second'")], impl)
    assert program.matches(impl.MessageView(raw))
    assert program.matches(PureView(raw))
    assert program.matches(bytearray(raw))


class _CountingView(PureView):
    """A pure view that counts header and field lookups."""

    reads = 0

    def find_field(self, name: bytes, fi: int = 0) -> int:
        type(self).reads += 1
        return super().find_field(name, fi)


def test_matcher_set_reads_and_tests_once() -> None:
    import hekapy._purepath as pure

    exprs = ["Fields[str] == 'bar'", "Fields[str] == 'bar' && TRUE",
             "Fields[str] != 'x'", "Fields[str] == 'bar' || FALSE"]
    program = build([parse(e) for e in exprs], pure)
    assert len(program.tests) == 2
    assert len(program.operands) == 1
    view = _CountingView(_full())
    assert program.match_list(view) == [0, 1, 2, 3]
    assert _CountingView.reads == 1


def test_short_circuit_skips_later_tests() -> None:
    import hekapy._purepath as pure

    program = build([parse("FALSE && Fields[a] == 1 || Fields[b] == 2 "
                           "&& Fields[c] == 3")], pure)
    _CountingView.reads = 0
    assert not program.matches(_CountingView(_full()))
    assert _CountingView.reads == 1  # Fields[b] missing: Fields[c] skipped


def test_matcher_set_mixes_dialects() -> None:
    raw = _bare()
    mset = MatcherSet([Matcher("Pid == 0"),
                       Matcher("Pid == 0", "lua_sandbox"),
                       Matcher("Pid == NIL", "lua_sandbox")])
    assert mset.matches(raw) == [0, 2]


def test_threads_share_one_matcher_set(impl: ModuleType) -> None:
    # RE2 runs without the GIL, so two threads can be inside one
    # program at once; each call must still see only its own message.
    import threading

    long_a = "a" * 20000
    one = Message(type="one", payload=long_a + "x",
                  fields=[Field("f", "p")]).encode()
    two = Message(type="two", payload=long_a + "y",
                  fields=[Field("f", "q")]).encode()
    program = build([parse(e) for e in (
        "Payload =~ /a+x$/ && Type == 'one' && Fields[f] == 'p'",
        "Payload =~ /a+y$/ && Type == 'two' && Fields[f] == 'q'",
        "Uuid == '' && Payload =~ /(a|b)+z/")], impl)
    wrong: list[object] = []

    def hammer(raw: bytes, expected: list[int]) -> None:
        for _ in range(150):
            got = program.match_list(raw)
            if got != expected:
                wrong.append(got)

    threads = [threading.Thread(target=hammer, args=(one, [0])),
               threading.Thread(target=hammer, args=(two, [1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not wrong


def test_count_matching_agrees_with_matches(impl) -> None:
    from hekapy import Field, Message
    from hekapy.matcher import parse
    from hekapy.matcher._api import build

    msgs = [Message(type="a", fields=[Field("n", i)]).encode()
            for i in range(10)]
    single = build([parse("Fields[n] >= 4")], impl)
    assert single.count_matching(msgs) == 6
    both = build([parse("Fields[n] >= 4"), parse("Type == 'a'")], impl)
    assert both.count_matching(msgs, True) == 16
