"""Pure-Python twin of ``_fp_matcher.pxi``: run a compiled matcher program.

The program tables are described in ``hekapy/matcher/_compiler.py``.  A
:class:`MatchProgram` holds the programs of one or more matchers; for
each message it reads an operand at most once and runs a test at most
once, however many matchers use them, then walks each matcher's code:
one loop that follows the jump of every test's result until it reaches
ACCEPT or REJECT.

Reading an operand gives a tag and a value.  ``MISSING`` is a field (or
array element) that does not exist: only ``== NIL`` is true for it.
``ABSENT`` is an unset header in the lua_sandbox dialect: it sorts below
every value, so ``!=``, ``<``, ``<=`` and ``!~`` are true.  A Heka header
that is unset reads as its default instead ("" and 0, Severity 7).  A
test whose literal does not suit the value's type is false, whatever
the operator.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hekapy._purepath._luapattern import LuaPattern
from hekapy._purepath._view import MessageView

# Mirrors hekapy.matcher._ast (kept literal here: the twin must not
# import the matcher package, which imports the twins).
EQ, NE, GT, GE, LT, LE, RE, NRE = range(8)
UUID, TIMESTAMP, SEVERITY, PID, FIELD = 1, 2, 5, 8, 10
ABSENT, UUID_TEXT = 16, 32
K_STR, K_INT, K_DBL, K_BOOL, K_BOOLNUM, K_NIL = range(6)
K_REGEX, K_PREFIX, K_SUFFIX, K_CONTAINS, K_EQUALS, K_LUA = range(6, 12)
ACCEPT, REJECT = -1, -2

# Operand tags.
T_MISSING, T_ABSENT, T_BYTES, T_INT, T_DOUBLE, T_BOOL = range(6)
_FIELD_TAGS = (T_BYTES, T_BYTES, T_INT, T_DOUBLE, T_BOOL)
_HEADERS = {1: "uuid", 2: "timestamp", 3: "type", 4: "logger",
            5: "severity", 6: "payload", 7: "env_version", 8: "pid",
            9: "hostname"}
_DEFAULTS = {TIMESTAMP: 0, SEVERITY: 7, PID: 0}
_ABSENT_TRUE = frozenset((NE, LT, LE, NRE))


def read_operand(view: Any, source: int, name: bytes, fi: int,
                 ai: int) -> tuple[int, Any]:
    """``(tag, value)`` of one operand of ``view``."""
    src = source & 15
    if src == FIELD:
        i = view.find_field(name, fi)
        if i < 0:
            return T_MISSING, None
        value = view.field_value(i, ai)
        if value is None:
            return T_MISSING, None
        return _FIELD_TAGS[view.field_type(i)], value
    value = getattr(view, _HEADERS[src])
    if value is None:
        if source & ABSENT:
            return T_ABSENT, None
        value = _DEFAULTS.get(src, b"")
    if src in _DEFAULTS:
        return T_INT, value
    if source & UUID_TEXT:
        value = _uuid_text(value)
    return T_BYTES, value


def _uuid_text(raw: bytes) -> bytes:
    if len(raw) != 16:
        return b""
    h = raw.hex().encode()
    return b"-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


def _compare(op: int, a: Any, b: Any) -> bool:
    if op == EQ:
        return bool(a == b)
    if op == NE:
        return bool(a != b)
    if op == GT:
        return bool(a > b)
    if op == GE:
        return bool(a >= b)
    if op == LT:
        return bool(a < b)
    return bool(a <= b)


def _search(kind: int, value: bytes, data: bytes, matcher: Any) -> bool:
    if kind == K_CONTAINS:
        return data in value
    if kind == K_PREFIX:
        return value.startswith(data)
    if kind == K_SUFFIX:
        return value.endswith(data)
    if kind == K_EQUALS:
        return value == data
    return bool(matcher(value))


def run_test(tag: int, value: Any, op: int, kind: int, data: bytes,
             ival: int, dval: float, matcher: Any) -> bool:
    """The result of one test on an operand read by :func:`read_operand`.

    ``matcher`` is a callable ``f(value) -> bool`` for K_REGEX and K_LUA
    (see :func:`searcher`).
    """
    if kind == K_NIL:
        return (tag <= T_ABSENT) == (op == EQ)
    if tag == T_MISSING:
        return False
    if tag == T_ABSENT:
        return op in _ABSENT_TRUE
    if tag == T_BYTES:
        if kind == K_STR:
            return _compare(op, value, data)
        if kind >= K_REGEX:
            return _search(kind, value, data, matcher) == (op == RE)
        return False
    if tag == T_BOOL:
        if kind == K_BOOL or kind == K_BOOLNUM:
            return (int(value) == ival) == (op == EQ)
        return False
    if tag == T_INT:
        if kind == K_INT or kind == K_BOOLNUM:
            return _compare(op, value, ival)
        if kind == K_DBL:
            return _compare(op, float(value), dval)
        return False
    if kind in (K_INT, K_DBL, K_BOOLNUM):
        return _compare(op, value, dval)
    return False


def searcher(kind: int, data: bytes, rx: Any) -> Any:
    """``f(value) -> bool`` for a K_LUA or K_REGEX test, else None."""
    if kind == K_LUA:
        return LuaPattern(data).search
    if kind != K_REGEX:
        return None
    match = regex_match(rx)
    if match is None:
        return lambda value: rx.search(value) is not None
    return lambda value: match(value, 0, len(value))[0][0] >= 0


def regex_match(rx: Any) -> Any:
    """google-re2's inner unanchored ``Match(text, start, end)``, or None.

    It costs half as much as the public ``search``, which also builds a
    match object; None when this google-re2 version lacks it.
    """
    inner = getattr(rx, "_regexp", None)
    anchor = getattr(getattr(type(inner), "Anchor", None), "UNANCHORED",
                     None)
    match = getattr(inner, "Match", None)
    if anchor is None or match is None:
        return None
    return partial(match, anchor)


class MatchProgram:
    """Compiled matchers over one set of shared operands and tests.

    Parameters
    ----------
    operands, tests, code, entries:
        The tables made by ``hekapy.matcher._compiler.compile_program``.

    Raises
    ------
    ValueError
        When the tables are inconsistent (a jump backwards or out of
        range, a test or operand index out of range).
    """

    __slots__ = ("_view", "code", "entries", "operands", "tests")

    def __init__(self, operands: list[tuple[Any, ...]],
                 tests: list[tuple[Any, ...]],
                 code: list[tuple[int, int, int]],
                 entries: list[int]) -> None:
        self.operands = [tuple(o) for o in operands]
        self.tests = [_prepare(t, len(self.operands)) for t in tests]
        self.code = [tuple(c) for c in code]
        self.entries = list(entries)
        _check_jumps(self.code, self.entries, len(self.tests))

    def matches(self, msg: Any) -> bool:
        """Whether the first matcher matches ``msg``.

        ``msg`` is raw protobuf bytes, a MessageView, a Pack or a
        Message.
        """
        return self._run(_view_of(msg), [None] * len(self.tests),
                         [None] * len(self.operands), self.entries[0])

    def match_list(self, msg: Any) -> list[int]:
        """Indices (ascending) of the matchers that match ``msg``."""
        view = _view_of(msg)
        results: list[Any] = [None] * len(self.tests)
        values: list[Any] = [None] * len(self.operands)
        return [k for k, entry in enumerate(self.entries)
                if self._run(view, results, values, entry)]

    def count_matching(self, messages: list[bytes],
                       every: bool = False) -> int:
        """How many raw messages in ``messages`` match (all matchers'
        hits summed with ``every``)."""
        if every:
            return sum(len(self.match_list(m)) for m in messages)
        return sum(1 for m in messages if self.matches(m))

    def match_mask(self, msg: Any) -> int:
        """Bit k set when matcher k matches ``msg``."""
        mask = 0
        for k in self.match_list(msg):
            mask |= 1 << k
        return mask

    def _run(self, view: Any, results: list[Any], values: list[Any],
             pc: int) -> bool:
        code = self.code
        while pc >= 0:
            t, on_true, on_false = code[pc]
            r = results[t]
            if r is None:
                r = results[t] = self._test(view, t, values)
            pc = on_true if r else on_false
        return pc == ACCEPT

    def _test(self, view: Any, t: int, values: list[Any]) -> bool:
        o, op, kind, data, ival, dval, matcher = self.tests[t]
        tv = values[o]
        if tv is None:
            tv = values[o] = read_operand(view, *self.operands[o])
        return run_test(tv[0], tv[1], op, kind, data, ival, dval, matcher)


def _prepare(row: tuple[Any, ...], n_operands: int) -> tuple[Any, ...]:
    o, op, kind, data, ival, dval, rx = row
    if not 0 <= o < n_operands or not EQ <= op <= NRE \
            or not K_STR <= kind <= K_LUA:
        raise ValueError(f"bad matcher test row {row!r}")
    if kind == K_REGEX and rx is None:
        raise ValueError(f"regex test without a regex {row!r}")
    matcher = searcher(kind, data, rx)
    return (o, op, kind, bytes(data), int(ival), float(dval), matcher)


def _check_jumps(code: list[tuple[int, ...]], entries: list[int],
                 n_tests: int) -> None:
    if not entries:
        raise ValueError("a matcher program needs at least one entry")
    n = len(code)
    for e in entries:
        if not (e in (ACCEPT, REJECT) or 0 <= e < n):
            raise ValueError(f"bad matcher entry {e}")
    for pc, (t, on_true, on_false) in enumerate(code):
        if not 0 <= t < n_tests:
            raise ValueError(f"bad test index {t} at {pc}")
        for target in (on_true, on_false):
            if not (target in (ACCEPT, REJECT) or pc < target < n):
                raise ValueError(f"bad jump {target} at {pc}")


def _view_of(msg: Any) -> Any:
    if isinstance(msg, MessageView):
        return msg
    if isinstance(msg, (bytes, bytearray, memoryview)):
        return MessageView(bytes(msg))
    if isinstance(msg, str):
        raise TypeError("cannot match a str; expected protobuf bytes, a "
                        "MessageView, a Pack or a Message")
    view = getattr(msg, "view", None)
    if view is not None:
        return view if isinstance(view, MessageView) \
            else MessageView(view.raw)
    if hasattr(msg, "encode"):
        return MessageView(msg.encode())
    if hasattr(msg, "raw"):
        return MessageView(msg.raw)
    raise TypeError(f"cannot match a {type(msg).__name__}; expected "
                    "bytes, a MessageView, a Pack or a Message")
