"""Tokenizers for both matcher dialects.

A token is a tuple ``(kind, value, column)`` with a 1-based column.
Kinds: ``name`` (an identifier), ``field`` (``Fields[..]`` with its
indices, value ``(name_bytes, fi, ai)``), ``op`` (a comparison operator,
value its text), ``&&``, ``||``, ``(``, ``)``, ``string`` (value
``(bytes, plain)`` where ``plain`` marks a trailing ``%``), ``regex``
(value the pattern text), ``number`` (value the lexeme) and ``eof``.

The two dialects differ only in a few lexical rules, passed as flags:
how backslashes in strings are read, whether ``/regex/`` literals exist,
which numbers are well formed, and the limits lua_sandbox imposes.
Whitespace is space, tab, CR and LF in both (Go Heka stopped reading at
the first newline; hekapy reads on).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hekapy._errors import MatcherSyntaxError

Token = tuple[str, object, int]

_WHITESPACE = " \t\r\n"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_CHARS = re.compile(r"[0-9.eE+-]+")
_HEKA_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_LSB_NUMBER = re.compile(
    r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_OPERATORS = ("==", "!=", ">=", "<=", "=~", "!~", ">", "<")
_MAX_INDEX = 2**31 - 1


class Lexer:
    """Split one expression into tokens, dialect by dialect.

    Parameters
    ----------
    text:
        The expression.
    lua_sandbox:
        Use the lua_sandbox rules instead of Heka's.
    """

    def __init__(self, text: str, lua_sandbox: bool = False) -> None:
        self.text = text
        self.lsb = lua_sandbox
        self.max_index = 255 if lua_sandbox else _MAX_INDEX

    def error(self, what: str, pos: int) -> MatcherSyntaxError:
        return MatcherSyntaxError(what, self.text, pos + 1)

    def tokens(self) -> Iterator[Token]:
        text = self.text
        n = len(text)
        pos = 0
        while True:
            while pos < n and text[pos] in _WHITESPACE:
                pos += 1
            if pos >= n:
                yield ("eof", None, n + 1)
                return
            tok, pos = self._next(pos)
            yield tok

    def _next(self, pos: int) -> tuple[Token, int]:
        text = self.text
        c = text[pos]
        col = pos + 1
        if c in "()":
            return (c, c, col), pos + 1
        two = text[pos:pos + 2]
        if two in ("&&", "||"):
            return (two, two, col), pos + 2
        for op in _OPERATORS:
            if text.startswith(op, pos):
                return ("op", op, col), pos + len(op)
        if c in "'\"":
            return self._string(pos)
        if c == "/" and not self.lsb:
            return self._regex(pos)
        if c.isdigit() or c in ".+-":
            return self._number(pos)
        m = _NAME.match(text, pos)
        if m:
            if m.group() == "Fields":
                return self._field(m.end(), col)
            return ("name", m.group(), col), m.end()
        raise self.error(_unexpected(c, two), pos)

    def _string(self, pos: int) -> tuple[Token, int]:
        text = self.text
        quote = text[pos]
        out: list[str] = []
        i = pos + 1
        n = len(text)
        while i < n:
            c = text[i]
            if c == quote:
                break
            if c == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt == quote or (self.lsb and nxt in "\\'\""):
                    out.append(nxt)
                    i += 2
                    continue
            out.append(c)
            i += 1
        else:
            raise self.error(f"string {text[pos:pos + 20]!r} is never "
                             f"closed with {quote}", pos)
        data = "".join(out).encode("utf-8", "surrogateescape")
        if self.lsb:
            self._check_lsb_string(data, pos)
        i += 1
        plain = i < n and text[i] == "%"
        return ("string", (data, plain), pos + 1), i + plain

    def _check_lsb_string(self, data: bytes, pos: int) -> None:
        if len(data) > 255:
            raise self.error(
                f"string of {len(data)} bytes is longer than the 255 "
                "bytes lua_sandbox allows", pos)
        if b"\0" in data:
            raise self.error("lua_sandbox strings cannot hold a NUL byte",
                             pos)

    def _regex(self, pos: int) -> tuple[Token, int]:
        text = self.text
        out: list[str] = []
        i = pos + 1
        n = len(text)
        while i < n and text[i] != "/":
            if text[i] == "\\" and text[i + 1:i + 2] == "/":
                out.append("/")
                i += 2
                continue
            out.append(text[i])
            i += 1
        if i >= n:
            raise self.error(f"regular expression {text[pos:pos + 20]!r} "
                             "is never closed with /", pos)
        return ("regex", "".join(out), pos + 1), i + 1

    def _number(self, pos: int) -> tuple[Token, int]:
        m = _NUMBER_CHARS.match(self.text, pos)
        lexeme = m.group() if m else self.text[pos]
        form = _LSB_NUMBER if self.lsb else _HEKA_NUMBER
        if not form.fullmatch(lexeme):
            raise self.error(f"malformed number {lexeme!r}", pos)
        return ("number", lexeme, pos + 1), pos + len(lexeme)

    def _field(self, pos: int, col: int) -> tuple[Token, int]:
        text = self.text
        if text[pos:pos + 1] != "[":
            raise self.error("expected '[' right after Fields", pos)
        close = text.find("]", pos + 1)
        if close < 0:
            raise self.error("field name is never closed with ']'", pos)
        name = text[pos + 1:close]
        if not name and not self.lsb:
            raise self.error("empty field name in Fields[]", pos + 1)
        pos = close + 1
        indices: list[int] = []
        while text[pos:pos + 1] == "[":
            if len(indices) == 2:
                raise self.error("a field takes at most two indices, "
                                 "Fields[name][fi][ai]", pos)
            value, pos = self._index(pos + 1)
            indices.append(value)
        fi, ai = ([*indices, 0, 0])[:2]
        data = name.encode("utf-8", "surrogateescape")
        return ("field", (data, fi, ai), col), pos

    def _index(self, pos: int) -> tuple[int, int]:
        text = self.text
        end = pos
        while end < len(text) and text[end] in "0123456789":
            end += 1
        if end == pos or text[end:end + 1] != "]":
            bad = text[end:end + 1] or "end of expression"
            raise self.error(f"expected digits and ']' in a field index, "
                             f"found {bad!r}", end)
        value = int(text[pos:end])
        if value > self.max_index:
            raise self.error(f"field index {value} is larger than "
                             f"{self.max_index}", pos)
        return value, end + 1


def _unexpected(c: str, two: str) -> str:
    if c == "=":
        return "unknown operator '='; expected '==' or '=~'"
    if c in "&|":
        return f"unknown operator {c!r}; expected {c * 2!r}"
    if c == "!":
        return f"unknown operator {two!r}; expected '!=' or '!~'"
    if c == "/":
        return "lua_sandbox takes quoted Lua patterns, not /regex/"
    return f"unexpected character {c!r}"
