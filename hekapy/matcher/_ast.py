"""The matcher AST and the codes shared by the compiler and evaluators.

Both dialects parse into the same three node kinds: :class:`Const`
(``TRUE``/``FALSE``), :class:`Test` (one comparison) and :class:`BoolOp`
(an n-ary ``&&`` or ``||``).  A test names an operand (a header or a
field), an operator and a literal that the parser has already checked
and converted, so nothing after parsing can fail.

The integer codes below are the program format: the compiler writes them
into flat tables and both evaluator twins read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Operators.
EQ, NE, GT, GE, LT, LE, RE, NRE = range(8)
OP_TEXT = ("==", "!=", ">", ">=", "<", "<=", "=~", "!~")
OP_CODES = {text: code for code, text in enumerate(OP_TEXT)}
RELATIONAL = frozenset((EQ, NE, GT, GE, LT, LE))

# Operand sources: the Heka protobuf field number of a header, or FIELD.
UUID, TIMESTAMP, TYPE, LOGGER, SEVERITY = 1, 2, 3, 4, 5
PAYLOAD, ENV_VERSION, PID, HOSTNAME, FIELD = 6, 7, 8, 9, 10
SRC_MASK = 15
# Flags or-ed into a source.  ABSENT: an unset header stays absent
# (lua_sandbox) instead of reading as its default (Heka).  UUID_TEXT: the
# Uuid reads as its dashed lower-case text (Heka), not 16 raw bytes.
ABSENT = 16
UUID_TEXT = 32

HEADER_NAMES = {
    "Uuid": UUID, "Timestamp": TIMESTAMP, "Type": TYPE, "Logger": LOGGER,
    "Severity": SEVERITY, "Payload": PAYLOAD, "EnvVersion": ENV_VERSION,
    "Pid": PID, "Hostname": HOSTNAME,
}
SOURCE_NAMES = {v: k for k, v in HEADER_NAMES.items()}
NUMERIC_HEADERS = frozenset((TIMESTAMP, SEVERITY, PID))

# Literal kinds.  Numbers carry both an int and a double; K_INT means the
# literal was an integer that fits in 64 bits and is compared exactly.
K_STR, K_INT, K_DBL, K_BOOL, K_BOOLNUM, K_NIL = range(6)
# Search kinds (operators =~ and !~): RE2 regex, the literal fast paths,
# and Lua patterns.
K_REGEX, K_PREFIX, K_SUFFIX, K_CONTAINS, K_EQUALS, K_LUA = range(6, 12)
SEARCH_KINDS = frozenset(range(K_REGEX, K_LUA + 1))

# Jump targets outside the code.
ACCEPT, REJECT = -1, -2


@dataclass(frozen=True)
class Operand:
    """What a test reads: ``source`` (with flags) and, for fields, where.

    ``name`` is the field name in bytes; ``fi`` picks the fi-th field of
    that name and ``ai`` the element of its value array.
    """

    source: int
    name: bytes = b""
    fi: int = 0
    ai: int = 0

    def text(self) -> str:
        src = self.source & SRC_MASK
        if src != FIELD:
            return SOURCE_NAMES[src]
        name = self.name.decode("utf-8", "surrogateescape")
        return f"Fields[{name}][{self.fi}][{self.ai}]"


@dataclass(frozen=True)
class Literal:
    """A checked literal: ``kind`` plus the values the evaluators need.

    ``text`` is how it was written, for error messages and printing;
    ``data`` holds string bytes or the search text; ``obj`` a compiled
    regex or Lua pattern (excluded from equality: ``data`` and ``kind``
    identify it).
    """

    kind: int
    text: str
    data: bytes = b""
    ival: int = 0
    dval: float = 0.0
    obj: Any = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class Test:
    """One comparison ``operand op literal``; ``column`` is 1-based."""

    operand: Operand
    op: int
    literal: Literal
    column: int = 0

    def key(self) -> tuple[Operand, int, Literal]:
        return (self.operand, self.op, self.literal)


@dataclass(frozen=True)
class Const:
    """``TRUE`` or ``FALSE``."""

    value: bool


@dataclass
class BoolOp:
    """``&&`` (``is_and``) or ``||`` over two or more children."""

    is_and: bool
    children: list[Node]


Node = Test | Const | BoolOp


def to_text(node: Node) -> str:
    """Print ``node`` back as an expression (fully parenthesised)."""
    if isinstance(node, Const):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, Test):
        return (f"{node.operand.text()} {OP_TEXT[node.op]} "
                f"{node.literal.text}")
    sep = " && " if node.is_and else " || "
    return "(" + sep.join(to_text(c) for c in node.children) + ")"
