"""The spec's matcher case tables, run against both evaluator twins."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

import hekapy
from hekapy.matcher import Matcher, MatcherSet, MatcherSyntaxError, parse
from hekapy.matcher._api import build

# The specification's case tables, copied into the project.
CASES = Path(__file__).resolve().parent / "data" / "matcher"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((CASES / name).read_text())  # type: ignore


def _cases(name: str) -> list[tuple[str, str, bytes, str]]:
    table = _load(name)
    messages = table.get("messages") or {"M": table["message_hex"]}
    return [pytest.param(table["dialect"], c["expr"],
                         bytes.fromhex(messages[c.get("message", "M")]),
                         c["expect"], id=c["id"])
            for c in table["cases"]]


def _outcome(impl: ModuleType, expr: str, dialect: str,
             raw: bytes) -> str:
    try:
        program = build([parse(expr, dialect)], impl)
    except MatcherSyntaxError:
        return "parse_error"
    return "match" if program.matches(raw) else "nomatch"


@pytest.mark.parametrize(("dialect", "expr", "raw", "expect"),
                         _cases("matcher_heka.json"))
def test_heka_case(impl: ModuleType, dialect: str, expr: str, raw: bytes,
                   expect: str) -> None:
    assert _outcome(impl, expr, dialect, raw) == expect


@pytest.mark.parametrize(("dialect", "expr", "raw", "expect"),
                         _cases("matcher_lua_sandbox.json"))
def test_lua_sandbox_case(impl: ModuleType, dialect: str, expr: str,
                          raw: bytes, expect: str) -> None:
    assert _outcome(impl, expr, dialect, raw) == expect


def _heka_message() -> bytes:
    return bytes.fromhex(_load("matcher_heka.json")["message_hex"])


def test_matcher_public_attributes() -> None:
    m = hekapy.Matcher("Type == 'TEST'")
    assert m.expression == "Type == 'TEST'"
    assert m.dialect == "heka"
    lsb = Matcher("Type == 'TEST'", dialect="lua_sandbox")
    assert lsb.dialect == "lua_sandbox"
    assert "Type == 'TEST'" in repr(m)


def test_matcher_accepts_every_message_form() -> None:
    raw = _heka_message()
    m = Matcher("Type == 'TEST' && Fields[int][0][1] == 1024")
    msg = hekapy.Message.decode(raw)
    assert m.matches(raw)
    assert m.matches(hekapy.MessageView(raw))
    assert m.matches(hekapy.Pack(raw))
    assert m.matches(msg)
    msg.type = "other"
    assert not m.matches(msg)


def test_matcher_rejects_other_objects() -> None:
    m = Matcher("TRUE")
    with pytest.raises(TypeError):
        m.matches("Type == 'x'")
    with pytest.raises(TypeError):
        m.matches(42)


def test_matcher_bad_bytes_raise_decode_error() -> None:
    with pytest.raises(hekapy.DecodeError):
        Matcher("Type == 'x'").matches(b"\x0a\xff")


def test_broken_field_raises_only_when_fields_are_read(
        impl: ModuleType) -> None:
    # A Field sub-message whose name has the wrong wire type.
    raw = hekapy.Message(type="x").encode() + b"\x52\x02\x08\x05"
    assert build([parse("Type == 'x'")], impl).matches(raw)
    with pytest.raises(hekapy.DecodeError):
        build([parse("Fields[a] == 1")], impl).matches(raw)


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unknown matcher dialect"):
        Matcher("TRUE", dialect="go")


def test_expression_must_be_str() -> None:
    with pytest.raises(TypeError):
        Matcher(b"TRUE")  # type: ignore[arg-type]


SET_EXPRESSIONS = [
    ("Type == 'TEST'", "heka"),
    ("Type == 'other'", "heka"),
    ("Severity == 6 && Fields[foo] == 'bar'", "heka"),
    ("Fields[missing] != NIL", "heka"),
    ("TRUE", "heka"),
    ("FALSE", "heka"),
    ("Payload =~ 'Payload'", "lua_sandbox"),
    ("Type == 'TEST' || Pid == 1", "heka"),
    ("Hostname == NIL", "lua_sandbox"),
    ("Fields[Payload] =~ /type=web/", "heka"),
]


def test_matcher_set_agrees_with_single_matchers() -> None:
    raw = _heka_message()
    matchers = [Matcher(e, d) for e, d in SET_EXPRESSIONS]
    mset = MatcherSet(matchers)
    expected = [k for k, m in enumerate(matchers) if m.matches(raw)]
    assert expected == [0, 2, 4, 6, 7, 9]
    assert mset.matches(raw) == expected
    assert mset.mask(raw) == sum(1 << k for k in expected)
    assert len(mset) == len(matchers)


@pytest.mark.parametrize("n", [1, 2, 70])
def test_matcher_set_of_any_size(impl: ModuleType, n: int) -> None:
    raw = _heka_message()
    asts = [parse(f"Severity == {k % 8}") for k in range(n)]
    program = build(asts, impl)
    expected = [k for k in range(n) if k % 8 == 6]
    assert program.match_list(raw) == expected
    assert program.match_mask(raw) == sum(1 << k for k in expected)


def test_matcher_set_needs_matchers() -> None:
    with pytest.raises(ValueError):
        MatcherSet([])
    with pytest.raises(TypeError):
        MatcherSet(["TRUE"])  # type: ignore[list-item]
