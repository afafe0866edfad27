"""Parse a ``message_matcher`` expression of either dialect into an AST.

The expression grammar is the same for both dialects::

    expr := term { '||' term }
    term := atom { '&&' atom }
    atom := '(' expr ')' | 'TRUE' | 'FALSE' | variable op literal

The parser is an operator-precedence loop with explicit stacks, so its
depth does not grow with the input; parentheses may nest at most
``MAX_NESTING`` deep, which keeps every later recursive pass shallow.
What a variable may be compared with depends on the dialect (see
``_HEKA`` and ``_LSB`` below and docs/matcher.md).  Every refusal is a
:class:`hekapy.MatcherSyntaxError` with the column and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from hekapy._errors import MatcherSyntaxError
from hekapy.matcher import _literals as lit
from hekapy.matcher._ast import (
    ABSENT,
    EQ,
    FIELD,
    HEADER_NAMES,
    K_BOOL,
    K_BOOLNUM,
    K_NIL,
    NE,
    NRE,
    NUMERIC_HEADERS,
    OP_CODES,
    PID,
    RE,
    SEVERITY,
    TIMESTAMP,
    UUID,
    UUID_TEXT,
    BoolOp,
    Const,
    Literal,
    Node,
    Operand,
    Test,
)
from hekapy.matcher._lexer import Lexer, Token

MAX_NESTING = 64
LSB_MAX_TESTS = 128
DIALECTS = ("heka", "lua_sandbox")

_RELATIONAL = ("number", "string")
_VARIABLES = ("Uuid, Type, Logger, Payload, EnvVersion, Hostname, "
              "Timestamp, Severity, Pid, Fields[name]")


def _heka_rule(source: int, op: int) -> tuple[str, ...]:
    # What may follow ``variable op`` in the Heka dialect.
    search = op in (RE, NRE)
    if source == FIELD:
        if search:
            return ("regex",)
        if op == EQ:
            return (*_RELATIONAL, "TRUE", "FALSE", "NIL")
        return (*_RELATIONAL, "NIL") if op == NE else _RELATIONAL
    if source in NUMERIC_HEADERS:
        return () if search else ("number",)
    return ("regex",) if search else ("string",)


def _lsb_rule(source: int, op: int) -> tuple[str, ...]:
    # What may follow ``variable op`` in the lua_sandbox dialect.
    search = op in (RE, NRE)
    nil = ("NIL",) if op in (EQ, NE) else ()
    if source == FIELD:
        if search:
            return ("pattern",)
        bools = ("TRUE", "FALSE") if op in (EQ, NE) else ()
        return (*_RELATIONAL, *bools, *nil)
    if source in (SEVERITY, TIMESTAMP):
        if search:
            return ()
        return ("number", "time") if source == TIMESTAMP else ("number",)
    if source == PID:
        return () if search else ("number", *nil)
    if search:
        return ("pattern",)
    return ("string",) if source == UUID else ("string", *nil)


_DESCRIBE = {"number": "a number", "string": "a quoted string",
             "regex": "a /regex/", "pattern": "a quoted Lua pattern",
             "time": "an RFC3339 time string", "TRUE": "TRUE",
             "FALSE": "FALSE", "NIL": "NIL"}


def _describe(kinds: tuple[str, ...]) -> str:
    words = [_DESCRIBE[k] for k in kinds]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _show(tok: Token, text: str) -> str:
    kind, value, _col = tok
    if kind == "eof":
        return "the end of the expression"
    if kind == "field":
        return "Fields[...]"
    if kind == "string":
        return repr(value[0].decode("utf-8", "replace"))  # type: ignore
    return repr(value)


class Parser:
    """One parse of ``text`` in ``dialect`` ("heka" or "lua_sandbox")."""

    def __init__(self, text: str, dialect: str = "heka") -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown matcher dialect {dialect!r}; "
                             "expected 'heka' or 'lua_sandbox'")
        if not isinstance(text, str):
            raise TypeError(f"matcher expression must be str, not "
                            f"{type(text).__name__}")
        self.text = text
        self.lsb = dialect == "lua_sandbox"
        self.rule = _lsb_rule if self.lsb else _heka_rule
        self.tests = 0

    def error(self, what: str, column: int) -> MatcherSyntaxError:
        return MatcherSyntaxError(what, self.text, column)

    def parse(self) -> Node:
        """The AST of the whole expression."""
        toks = Lexer(self.text, self.lsb).tokens()
        values: list[Node] = []
        # Operator stack entries: '(' with its column, '&&' or '||'.
        ops: list[tuple[str, int]] = []
        depth = 0
        for tok in toks:
            kind, _, col = tok
            while kind == "(":
                depth += 1
                if depth > MAX_NESTING:
                    raise self.error(f"parentheses nest deeper than "
                                     f"{MAX_NESTING} levels", col)
                ops.append(("(", col))
                tok = next(toks)
                kind, _, col = tok
            values.append(self._atom(tok, toks))
            tok = next(toks)
            kind, _, col = tok
            while kind == ")":
                self._reduce(values, ops, ())
                if not ops:
                    raise self.error("')' has no matching '('", col)
                ops.pop()
                depth -= 1
                tok = next(toks)
                kind, _, col = tok
            if kind in ("&&", "||"):
                self._reduce(values, ops, ("||",) if kind == "&&" else ())
                ops.append((kind, col))
                continue
            if kind != "eof":
                raise self.error(
                    f"expected '&&', '||', ')' or the end of the "
                    f"expression, found {_show(tok, self.text)}", col)
            self._reduce(values, ops, ())
            if ops:
                raise self.error("'(' is never closed", ops[-1][1])
            return values[0]
        raise AssertionError("the lexer always ends with eof")

    @staticmethod
    def _reduce(values: list[Node], ops: list[tuple[str, int]],
                stop: tuple[str, ...]) -> None:
        # Pop operators until one in ``stop`` or a '(' and apply them;
        # an incoming '&&' stops at '||' because && binds tighter.
        while ops and ops[-1][0] != "(" and ops[-1][0] not in stop:
            op = ops.pop()[0]
            right = values.pop()
            values[-1] = _combine(op == "&&", values[-1], right)

    def _atom(self, tok: Token, toks: Iterator[Token]) -> Node:
        kind, value, col = tok
        if kind == "name" and value in ("TRUE", "FALSE"):
            self._count(col)
            return Const(value == "TRUE")
        if kind == "field":
            name, fi, ai = cast(tuple[bytes, int, int], value)
            operand = Operand(FIELD, name, fi, ai)
        elif kind == "name" and value in HEADER_NAMES:
            operand = self._header(HEADER_NAMES[value])
        elif value == "NIL":
            raise self.error("NIL can only follow == or != as the value "
                             "a field is compared with", col)
        elif kind == "name":
            raise self.error(f"unknown name {value!r}; expected "
                             f"{_VARIABLES}, TRUE, FALSE or '('", col)
        else:
            raise self.error(
                f"expected a test, TRUE, FALSE or '(', found "
                f"{_show(tok, self.text)}", col)
        self._count(col)
        return self._test(operand, col, toks)

    def _count(self, col: int) -> None:
        self.tests += 1
        if self.lsb and self.tests > LSB_MAX_TESTS:
            raise self.error(f"more than {LSB_MAX_TESTS} tests in one "
                             "lua_sandbox matcher", col)

    def _header(self, source: int) -> Operand:
        if self.lsb:
            if source not in (SEVERITY, TIMESTAMP):
                source |= ABSENT
        elif source == UUID:
            source |= UUID_TEXT
        return Operand(source)

    def _test(self, operand: Operand, col: int,
              toks: Iterator[Token]) -> Test:
        name = operand.text()
        if operand.source == FIELD:
            name = name.rsplit("][", 2)[0] + "]"
        otok = next(toks)
        if otok[0] != "op":
            raise self.error(f"expected a comparison operator after "
                             f"{name}, found {_show(otok, self.text)}",
                             otok[2])
        op = OP_CODES[otok[1]]  # type: ignore[index]
        allowed = self.rule(operand.source & 15, op)
        if not allowed:
            raise self.error(f"{name} cannot be used with {otok[1]}; "
                             "it takes ==, !=, >, >=, <, <=", otok[2])
        ltok = next(toks)
        literal = self._literal(ltok, allowed, f"{name} {otok[1]}")
        return Test(operand, op, literal, col)

    def _literal(self, tok: Token, allowed: tuple[str, ...],
                 where: str) -> Literal:
        kind, value, col = tok

        def fail(what: str) -> MatcherSyntaxError:
            return self.error(what, col)

        expected = (f"expected {_describe(allowed)} after {where!r}, "
                    f"found {_show(tok, self.text)}")
        if kind == "name" and value in allowed:
            if value == "NIL":
                return Literal(K_NIL, "NIL")
            truth = int(value == "TRUE")
            return Literal(K_BOOLNUM if self.lsb else K_BOOL,
                           str(value), ival=truth, dval=float(truth))
        if kind == "number" and "number" in allowed:
            return lit.number(str(value), fail)
        if kind == "regex" and "regex" in allowed:
            return lit.regex(str(value), fail)
        if kind != "string":
            raise fail(expected)
        data, plain = cast(tuple[bytes, bool], value)
        text = _quote(data)
        if "pattern" in allowed:
            return lit.lua_pattern(data, plain, text + "%" * plain, fail)
        if plain:
            raise fail("a '%' after a string only marks a plain Lua "
                       "pattern after =~ or !~")
        if "time" in allowed:
            return lit.rfc3339(data, text, fail)
        if "string" in allowed:
            return lit.string(data, text)
        raise fail(expected)


def _quote(data: bytes) -> str:
    # Print a string literal so that both dialects read it back.
    s = data.decode("utf-8", "surrogateescape")
    if "'" not in s and "\\" not in s:
        return f"'{s}'"
    return '"' + s.replace('"', '\\"') + '"'


def _combine(is_and: bool, left: Node, right: Node) -> Node:
    # Flatten chains of the same operator into one n-ary node.
    if isinstance(left, BoolOp) and left.is_and == is_and:
        node = left
    else:
        node = BoolOp(is_and, [left])
    if isinstance(right, BoolOp) and right.is_and == is_and:
        node.children.extend(right.children)
    else:
        node.children.append(right)
    return node


def parse(text: str, dialect: str = "heka") -> Node:
    """Parse ``text`` in ``dialect`` into an AST.

    Raises
    ------
    hekapy.MatcherSyntaxError
        When the expression does not parse; ``.column`` says where.
    """
    return Parser(text, dialect).parse()
