"""Property tests: the compiled program equals the AST interpreter.

Random expressions of both dialects and random messages; for each, the
flat program of every evaluator twin (and a MatcherSet of several
expressions) must give what the direct AST interpreter gives, and any
text at all must either compile or raise MatcherSyntaxError.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from hekapy import Field, MatcherSyntaxError, Message
from hekapy._purepath import MessageView as PureView
from hekapy.matcher import parse
from hekapy.matcher._api import build
from hekapy.matcher._ast import Node
from hekapy.matcher._interp import evaluate

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
given, settings = hypothesis.given, hypothesis.settings
# The impl fixture is a module, the same for every example.
_SHARED_FIXTURE = [hypothesis.HealthCheck.function_scoped_fixture]

NAMES = ["a", "b", "Type"]
VARIABLES = ["Type", "Logger", "Payload", "Hostname", "EnvVersion", "Uuid",
             "Severity", "Pid", "Timestamp", "Fields[a]", "Fields[b]",
             "Fields[a][1]", "Fields[b][0][1]", "Fields[Type]"]
OPS = ["==", "!=", "<", "<=", ">", ">=", "=~", "!~"]
HEKA_LITERALS = ["'x'", "''", "'abc'", "\"ab\"", "0", "1", "-1", "7",
                 "2.5", "1e3", "TRUE", "FALSE", "NIL", "/a/", "/^a/",
                 "/c$/", "/^abc$/", "/b+/", "/(?i)X/", "//"]
LSB_LITERALS = ["'x'", "''", "'abc'", "\"ab\"", "0", "1", "-1", "7",
                "2.5", "1e3", "TRUE", "FALSE", "NIL", "'a'", "'^a'",
                "'c$'", "'b+'", "'%a%a'", "'a'%", "'[ab]c'",
                "'1970-01-01T00:00:01Z'"]


def _tests(literals: list[str]):  # type: ignore[no-untyped-def]
    return st.builds(lambda v, o, lit: f"{v} {o} {lit}",
                     st.sampled_from(VARIABLES), st.sampled_from(OPS),
                     st.sampled_from(literals))


def _exprs(literals: list[str]):  # type: ignore[no-untyped-def]
    leaf = st.one_of(_tests(literals), st.sampled_from(["TRUE", "FALSE"]))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} && {b}", inner, inner),
            st.builds(lambda a, b: f"{a} || {b}", inner, inner),
            st.builds(lambda a: f"({a})", inner)),
        max_leaves=8)


_values = st.one_of(
    st.lists(st.sampled_from(["x", "", "abc", "ab", "Xa", "bc"]),
             min_size=1, max_size=3),
    st.lists(st.integers(-3, 8), min_size=1, max_size=3),
    st.lists(st.sampled_from([0.0, 1.0, 2.5, -1.0, 1e3]), min_size=1,
             max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=2),
    st.lists(st.sampled_from([b"abc", b"x"]), min_size=1, max_size=2))
_text = st.one_of(st.none(), st.sampled_from(["x", "", "abc", "Xa", "bc"]))


@st.composite
def _messages(draw):  # type: ignore[no-untyped-def]
    fields = [Field(draw(st.sampled_from(NAMES)), draw(_values))
              for _ in range(draw(st.integers(0, 4)))]
    return Message(
        uuid=draw(st.sampled_from([None, b"\x01" * 16, b"short"])),
        timestamp=draw(st.sampled_from([None, 0, 1, 10**9, 2**62 + 1])),
        type=draw(_text), logger=draw(_text), payload=draw(_text),
        hostname=draw(_text), env_version=draw(_text),
        severity=draw(st.one_of(st.none(), st.integers(-1, 8))),
        pid=draw(st.one_of(st.none(), st.integers(-1, 8))),
        fields=fields).encode()


def _parse_or_none(expr: str, dialect: str) -> Node | None:
    try:
        return parse(expr, dialect)
    except MatcherSyntaxError:
        return None


def _check(impl: ModuleType, exprs: list[str], dialect: str,
           raws: list[bytes]) -> None:
    asts = [a for a in (_parse_or_none(e, dialect) for e in exprs) if a]
    hypothesis.assume(asts)
    programs = [build([a], impl) for a in asts]
    together = build(asts, impl)
    for raw in raws:
        view = PureView(raw)
        expected = [evaluate(a, view) for a in asts]
        assert [p.matches(raw) for p in programs] == expected
        assert together.match_list(raw) == \
            [k for k, hit in enumerate(expected) if hit]


@settings(max_examples=150, deadline=None,
          suppress_health_check=_SHARED_FIXTURE)
@given(st.lists(_exprs(HEKA_LITERALS), min_size=1, max_size=4),
       st.lists(_messages(), min_size=1, max_size=3))
def test_heka_program_equals_interpreter(impl: ModuleType,
                                         exprs: list[str],
                                         raws: list[bytes]) -> None:
    _check(impl, exprs, "heka", raws)


@settings(max_examples=150, deadline=None,
          suppress_health_check=_SHARED_FIXTURE)
@given(st.lists(_exprs(LSB_LITERALS), min_size=1, max_size=4),
       st.lists(_messages(), min_size=1, max_size=3))
def test_lua_sandbox_program_equals_interpreter(impl: ModuleType,
                                                exprs: list[str],
                                                raws: list[bytes]) -> None:
    _check(impl, exprs, "lua_sandbox", raws)


_GRAMMAR_CHARS = ("TRUEFALSNIypeLogrPaydHstmUuiSvFl[]()0123456789.-+eE"
                  "'\"/\\=!<>~&| \t\r\n%^$*?")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=_GRAMMAR_CHARS)),
       st.sampled_from(["heka", "lua_sandbox"]))
def test_any_text_compiles_or_is_refused(text: str, dialect: str) -> None:
    try:
        ast = parse(text, dialect)
    except MatcherSyntaxError as err:
        assert 1 <= err.column <= len(text) + 1
        return
    build([ast])
