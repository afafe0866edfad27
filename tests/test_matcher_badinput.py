"""Hostile expressions and messages: bounded work or a clear refusal.

None of these may crash, hang or raise RecursionError; what cannot be
handled is refused with a MatcherSyntaxError saying why.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from hekapy import Field, MatcherSyntaxError, Message
from hekapy.matcher import Matcher, parse
from hekapy.matcher._api import build
from hekapy.matcher._parser import MAX_NESTING

LONG_A = Message(type="x", payload="a" * 65000,
                 fields=[Field("f", "a" * 65000)]).encode()


def test_one_megabyte_expression(impl: ModuleType) -> None:
    parts = [f"Fields[f{i}] == {i}" for i in range(60000)]
    expr = " || ".join(parts) + " || Type == 'x'"
    assert len(expr) > 10**6
    program = build([parse(expr)], impl)
    assert program.matches(LONG_A)


def test_one_megabyte_string_literal(impl: ModuleType) -> None:
    program = build([parse("Payload == '" + "a" * 10**6 + "'")], impl)
    assert not program.matches(LONG_A)
    with pytest.raises(MatcherSyntaxError, match="longer than the 255"):
        parse("Payload == '" + "a" * 10**6 + "'", "lua_sandbox")


def test_one_megabyte_lua_sandbox_expression_is_refused_early() -> None:
    expr = " || ".join(["Type == 'x'"] * 80000)
    with pytest.raises(MatcherSyntaxError, match="more than 128 tests"):
        parse(expr, "lua_sandbox")


@pytest.mark.parametrize("depth", [10000, MAX_NESTING + 1])
def test_deep_parentheses_are_refused(depth: int) -> None:
    expr = "(" * depth + "TRUE" + ")" * depth
    with pytest.raises(MatcherSyntaxError, match="nest deeper") as info:
        Matcher(expr)
    assert info.value.column == MAX_NESTING + 1


def test_deepest_allowed_nesting_alternates(impl: ModuleType) -> None:
    expr = "Type == 'y'"
    for i in range(MAX_NESTING):
        op = "&&" if i % 2 else "||"
        expr = f"(Fields[f] =~ /a/ {op} {expr})"
    assert build([parse(expr)], impl).matches(LONG_A)


def test_unclosed_parentheses(impl: ModuleType) -> None:
    with pytest.raises(MatcherSyntaxError, match="never closed"):
        Matcher("(" * MAX_NESTING + "TRUE")
    with pytest.raises(MatcherSyntaxError, match="no matching"):
        Matcher("TRUE" + ")" * 10000)


@pytest.mark.parametrize("regex", [
    "(a|aa)*(a*)*b", "(a*)*$b", "(.*a){20}b", "(?:a+)+b", "^(a?){30}a{30}$",
])
def test_backtracking_regexes_run_in_linear_time(impl: ModuleType,
                                                 regex: str) -> None:
    program = build([parse(f"Payload =~ /{regex}/ || "
                           f"Fields[f] =~ /{regex}/")], impl)
    assert not program.matches(LONG_A)


@pytest.mark.parametrize("pattern", [
    "a*a*a*a*a*a*a*a*a*a*b", "a-a-a-a-a-a-a-b", ".-.-.-.-.-b$",
    "%b()%b()%b()b", "^a*a*a*a*a*a*a*a*a*a*$b",
])
def test_backtracking_lua_patterns_run_in_linear_time(
        impl: ModuleType, pattern: str) -> None:
    program = build([parse(f"Payload =~ '{pattern}'", "lua_sandbox")],
                    impl)
    assert not program.matches(LONG_A)


@pytest.mark.parametrize("regex", ["a{1000}{1000}", "((a{100}){100}){100}",
                                   "(a{1000}){1000}"])
def test_huge_regexes_are_refused(regex: str) -> None:
    with pytest.raises(MatcherSyntaxError, match="invalid regular"):
        Matcher(f"Payload =~ /{regex}/")


def test_nul_bytes(impl: ModuleType) -> None:
    raw = Message(type="a\0b", fields=[Field("n\0m", 1)]).encode()
    assert build([parse("Type == 'a\0b'")], impl).matches(raw)
    assert build([parse("Type =~ /a\\x00b/")], impl).matches(raw)
    assert build([parse("Fields[n\0m] == 1")], impl).matches(raw)
    assert build([parse("Type =~ 'a%zb'", "lua_sandbox")],
                 impl).matches(raw)
    with pytest.raises(MatcherSyntaxError, match="unexpected character"):
        Matcher("Type == 'x' \0")
    with pytest.raises(MatcherSyntaxError, match="NUL"):
        Matcher("Type == 'a\0b'", "lua_sandbox")


def test_controls_and_non_ascii_are_refused_outside_literals() -> None:
    for bad in ("\x7f", "\x0b", "é", "\ud800", "\u2028"):
        with pytest.raises(MatcherSyntaxError) as info:
            Matcher(f"Type == 'x' {bad}")
        assert info.value.column == 13


def test_non_utf8_message_bytes(impl: ModuleType) -> None:
    raw = Message(type="a\udcffb").encode()
    assert b"\xff" in raw
    assert build([parse("Type =~ /^a/")], impl).matches(raw)
    assert build([parse("Type =~ /b$/")], impl).matches(raw)
    assert build([parse("Type =~ 'a.b'", "lua_sandbox")], impl).matches(raw)
