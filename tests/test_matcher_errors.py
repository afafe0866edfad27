"""Refused expressions: where (column) and what was expected."""

from __future__ import annotations

import pytest

from hekapy import HekaError, MatcherSyntaxError
from hekapy.matcher import Matcher, parse

HEKA_ERRORS = [
    # (expression, column, words the message must contain)
    ("", 1, "expected a test"),
    ("TRUE FALSE", 6, "expected '&&', '||'"),
    ("TRUE Bogus == 1", 6, "found 'Bogus'"),
    ("Type == 'x' && Bogus == 1", 16, "unknown name 'Bogus'"),
    ("Type == 'x' &&\nBogus == 1", 16, "Severity, Pid, Fields[name]"),
    ("Severity == 5-", 13, "malformed number '5-'"),
    ("Severity == 1.2.3", 13, "malformed number"),
    ("Severity == 1e309", 13, "does not fit in a double"),
    ("Type = 'x'", 6, "expected '==' or '=~'"),
    ("Type === 'x'", 8, "unknown operator '='"),
    ("Type == 'x' & Pid == 1", 13, "'&&'"),
    ("Type == 'x' | Pid == 1", 13, "'||'"),
    ("Type == 'x'\r\n|| Pid == 'y'", 24, "expected a number after 'Pid =='"),
    ("Pid =~ /6/", 5, "Pid cannot be used with =~"),
    ("Type == 6", 9, "expected a quoted string after 'Type =='"),
    ("Type =~ 'x'", 9, "expected a /regex/"),
    ("Type =~ /(/", 9, "invalid regular expression /(/"),
    ("Type =~ /(a)\\1/", 9, "invalid regular expression"),
    ("Type =~ /(?=a)/", 9, "invalid regular expression"),
    ("Type =~ /x", 9, "never closed with /"),
    ("Type == 'x", 9, "never closed with '"),
    ("Fields[x] != TRUE", 14, "NIL after 'Fields[x] !='"),
    ("Fields[x] > NIL", 13, "after 'Fields[x] >'"),
    ("Fields[x][0][0][0] == 1", 16, "at most two indices"),
    ("Fields[x][99999999999] == 1", 11, "larger than"),
    ("Fields [x] == 1", 7, "expected '[' right after Fields"),
    ("Fields[x", 7, "never closed with ']'"),
    ("(Type == 'x'", 1, "'(' is never closed"),
    ("Type == 'x')", 12, "')' has no matching '('"),
    ("NIL", 1, "NIL can only follow"),
    ("Type == 'x' && ", 16, "found the end of the expression"),
    ("Type == 'x' NIL", 13, "found 'NIL'"),
    ("Type == 'a\0b' && \0", 18, "unexpected character '\\x00'"),
    ("Type == 'x' || Fields[a] ==", 28, "found the end"),
    ("Severity == .", 13, "malformed number '.'"),
    ("Type ~= /x/", 6, "unexpected character '~'"),
]


@pytest.mark.parametrize(("expr", "column", "words"), HEKA_ERRORS)
def test_heka_refusals(expr: str, column: int, words: str) -> None:
    with pytest.raises(MatcherSyntaxError) as info:
        Matcher(expr)
    err = info.value
    assert err.column == column
    assert err.expression == expr
    assert words in str(err)
    assert str(err).endswith(f" at column {column}")
    assert isinstance(err, ValueError)
    assert isinstance(err, HekaError)


LSB_ERRORS = [
    ("Type =~ /x/", 9, "quoted Lua patterns, not /regex/"),
    ("Type == 'x'%", 9, "only marks a plain Lua pattern"),
    ("Type =~ '[a'", 9, "missing ']'"),
    ("Type =~ '%'", 9, "ends with '%'"),
    ("Type =~ '(a)%1'", 9, "back-reference"),
    ("Type =~ '%bx'", 9, "missing arguments to %b"),
    ("Type =~ '%fx'", 9, "missing '[' after %f"),
    ("Severity == 007", 13, "malformed number"),
    ("Severity == .5", 13, "malformed number"),
    ("Type == 'a\0b'", 9, "NUL byte"),
    ("Timestamp == '2015-02-30T00:00:00Z'", 14, "out of range"),
    ("Timestamp == '2015-02-01T00:00:00+2400'", 14, "offset"),
    ("Timestamp =~ 'x'", 11, "Timestamp cannot be used with =~"),
    ("Fields[x] > TRUE", 13, "after 'Fields[x] >'"),
    ("Uuid == NIL", 9, "expected a quoted string after 'Uuid =='"),
]


@pytest.mark.parametrize(("expr", "column", "words"), LSB_ERRORS)
def test_lua_sandbox_refusals(expr: str, column: int, words: str) -> None:
    with pytest.raises(MatcherSyntaxError) as info:
        Matcher(expr, "lua_sandbox")
    assert info.value.column == column
    assert words in str(info.value)


def test_lua_sandbox_accepts_what_heka_refuses() -> None:
    for expr in ("Fields[x] != TRUE", "Type == NIL", "Pid != NIL",
                 "Fields[] == 1", "Severity == -1"):
        parse(expr, "lua_sandbox")


def test_lua_sandbox_limits_are_inclusive() -> None:
    parse(" || ".join(["TRUE"] * 128), "lua_sandbox")
    with pytest.raises(MatcherSyntaxError, match="more than 128 tests"):
        parse(" || ".join(["TRUE"] * 129), "lua_sandbox")
    parse("Fields[x][255][255] == 1", "lua_sandbox")
    parse("Type == '" + "x" * 255 + "'", "lua_sandbox")
    with pytest.raises(MatcherSyntaxError, match="256 bytes"):
        parse("Type == '" + "é" * 128 + "'", "lua_sandbox")


def test_heka_has_no_lua_sandbox_limits() -> None:
    parse(" || ".join(["TRUE"] * 500))
    parse("Type == '" + "x" * 1000 + "'")
    parse("Fields[x][1000][1000] == 1")
