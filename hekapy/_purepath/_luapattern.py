"""Lua 5.1 patterns as lua_sandbox's message matcher reads them.

Pure-Python twin of ``_fp_luapattern.pxi``.  The syntax is Lua 5.1's:
single-character classes (``.``, ``%a %c %d %l %p %s %u %w %x %z`` and
their upper-case complements, ``%`` before any other character quotes
it, and ``[...]`` sets with ranges), the quantifiers ``* + - ?``, the
anchors ``^`` (first character) and ``$`` (last character), ``%bxy``
and ``%f[set]``.  As in lua_sandbox, parentheses are ordinary characters
(there are no captures), so ``%1`` is refused.

Only "is there a match" matters (no captures), so greedy and lazy
quantifiers are the same and the search need not backtrack: it runs
the pattern as a set of states over the subject, one byte at a time,
in O(len(pattern) * len(subject)) time whatever the input.  A pattern
built to make Lua backtrack for ever costs no more than any other.

Contract: :func:`parse_pattern` raises :class:`LuaPatternError` for a
malformed pattern; :class:`LuaPattern` ``.search(subject)`` returns a
bool and never raises.
"""

from __future__ import annotations

from collections.abc import Callable

# Item kinds and quantifiers (the compiled twin uses the same codes).
SINGLE, BALANCE, FRONTIER = 0, 1, 2
ONE, STAR, OPT = 0, 1, 2

Item = tuple[int, bytes, int]


class LuaPatternError(ValueError):
    """A malformed pattern; ``offset`` is the byte offset in it."""

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(f"{what} at pattern byte {offset}")
        self.offset = offset


def _class_table(test: Callable[[int], bool]) -> bytes:
    return bytes(1 if test(c) else 0 for c in range(256))


_CLASSES: dict[int, Callable[[int], bool]] = {
    ord("a"): lambda c: 65 <= c <= 90 or 97 <= c <= 122,
    ord("c"): lambda c: c < 32 or c == 127,
    ord("d"): lambda c: 48 <= c <= 57,
    ord("l"): lambda c: 97 <= c <= 122,
    ord("p"): lambda c: 33 <= c <= 126 and not chr(c).isalnum(),
    ord("s"): lambda c: 9 <= c <= 13 or c == 32,
    ord("u"): lambda c: 65 <= c <= 90,
    ord("w"): lambda c: chr(c).isalnum() and c < 128,
    ord("x"): lambda c: chr(c) in "0123456789abcdefABCDEF",
    ord("z"): lambda c: c == 0,
}


def _match_class(c: int, cl: int) -> bool:
    test = _CLASSES.get(cl | 0x20) if 65 <= cl <= 90 or 97 <= cl <= 122 \
        else None
    if test is None:
        return cl == c
    result = bool(test(c))
    return result if cl >= 97 else not result


def _set_end(p: bytes, i: int) -> int:
    # i is just after '['; returns the offset of the closing ']'.
    n = len(p)
    if i < n and p[i] == 94:  # '^'
        i += 1
    while True:
        if i >= n:
            raise LuaPatternError("missing ']' in a set", i)
        c = p[i]
        i += 1
        if c == 37:  # '%'
            if i >= n:
                raise LuaPatternError("set ends with '%'", i)
            i += 1
        if i < n and p[i] == 93:  # ']'
            return i


def _set_table(p: bytes, start: int, close: int) -> bytes:
    # start is the offset of '['; close the offset of its ']'.
    def member(c: int) -> bool:
        i = start + 1
        sig = True
        if p[i] == 94:
            sig = False
            i += 1
        while i < close:
            if p[i] == 37:
                i += 1
                if _match_class(c, p[i]):
                    return sig
            elif i + 2 < close and p[i + 1] == 45:  # range a-z
                if p[i] <= c <= p[i + 2]:
                    return sig
                i += 2
            elif p[i] == c:
                return sig
            i += 1
        return not sig

    return _class_table(member)


def parse_pattern(p: bytes) -> tuple[bool, bool, list[Item]]:
    """Parse ``p`` into ``(anchored, end_anchored, items)``.

    Each item is ``(kind, data, quantifier)``: for SINGLE, ``data`` is a
    256-byte membership table; for BALANCE the two bracket bytes; for
    FRONTIER the set's table.  ``x+`` becomes ``x`` then ``x*``.
    """
    n = len(p)
    anchored = n > 0 and p[0] == 94
    i = int(anchored)
    items: list[Item] = []
    end_anchored = False
    while i < n:
        c = p[i]
        if c == 36 and i + 1 == n:  # '$' at the end
            end_anchored = True
            break
        if c == 37 and i + 1 < n and p[i + 1] in b"bf":
            i = _special(p, i, items)
            continue
        table, i = _single(p, i)
        q = p[i] if i < n else 0
        if q == 43:  # '+'
            items.append((SINGLE, table, ONE))
            items.append((SINGLE, table, STAR))
        else:
            quant = {42: STAR, 45: STAR, 63: OPT}.get(q, ONE)
            items.append((SINGLE, table, quant))
            if quant == ONE:
                continue
        i += 1
    return anchored, end_anchored, items


def _special(p: bytes, i: int, items: list[Item]) -> int:
    n = len(p)
    if p[i + 1] == 98:  # %bxy
        if i + 3 >= n:
            raise LuaPatternError("missing arguments to %b", i)
        items.append((BALANCE, p[i + 2:i + 4], ONE))
        return i + 4
    if i + 2 >= n or p[i + 2] != 91:  # %f[set]
        raise LuaPatternError("missing '[' after %f", i)
    close = _set_end(p, i + 3)
    items.append((FRONTIER, _set_table(p, i + 2, close), ONE))
    return close + 1


def _single(p: bytes, i: int) -> tuple[bytes, int]:
    c = p[i]
    if c == 46:  # '.'
        return b"\1" * 256, i + 1
    if c == 91:  # '['
        close = _set_end(p, i + 1)
        return _set_table(p, i, close), close + 1
    if c == 37:  # '%'
        if i + 1 >= len(p):
            raise LuaPatternError("pattern ends with '%'", i)
        cl = p[i + 1]
        if 48 <= cl <= 57:
            raise LuaPatternError(
                f"back-reference %{chr(cl)} needs captures, which these "
                "patterns do not have", i)
        return _class_table(lambda ch: _match_class(ch, cl)), i + 2
    return _class_table(lambda ch: ch == c), i + 1


class LuaPattern:
    """A parsed Lua pattern; :meth:`search` finds it anywhere.

    Raises
    ------
    LuaPatternError
        When the pattern is malformed.
    """

    __slots__ = ("anchored", "end_anchored", "first", "items", "pattern")

    def __init__(self, pattern: bytes) -> None:
        self.pattern = bytes(pattern)
        self.anchored, self.end_anchored, self.items = \
            parse_pattern(self.pattern)
        # A byte every match must start with, to skip ahead quickly.
        self.first = -1
        if self.items and self.items[0][0] == SINGLE \
                and self.items[0][2] == ONE \
                and self.items[0][1].count(1) == 1:
            self.first = self.items[0][1].index(1)

    def search(self, s: bytes) -> bool:
        """Whether the pattern matches somewhere in ``s``."""
        items = self.items
        m = len(items)
        n = len(s)
        cur: set[int] = set()
        pending: dict[int, set[int]] = {}
        bal: dict[int, list[int]] = {}
        si = 0
        while si <= n:
            if not self.anchored or si == 0:
                if not cur and not pending and self.first >= 0 \
                        and not self.anchored:
                    si = s.find(bytes((self.first,)), si)
                    if si < 0:
                        return False
                cur.add(0)
            cur |= pending.pop(si, set())
            nxt: set[int] = set()
            work = list(cur)
            seen = set(cur)
            while work:
                k = work.pop()
                if k == m:
                    if not self.end_anchored or si == n:
                        return True
                    continue
                kind, data, quant = items[k]
                if kind == SINGLE:
                    if si < n and data[s[si]]:
                        nxt.add(k if quant == STAR else k + 1)
                    if quant == ONE:
                        continue
                elif kind == FRONTIER:
                    prev = s[si - 1] if si else 0
                    here = s[si] if si < n else 0
                    if data[prev] or not data[here]:
                        continue
                else:
                    end = _balance_end(s, si, data, bal, k)
                    if end > 0:
                        pending.setdefault(end, set()).add(k + 1)
                    continue
                if k + 1 not in seen:
                    seen.add(k + 1)
                    work.append(k + 1)
            cur = nxt
            if not cur and not pending and self.anchored:
                return False
            si += 1
        return False


def _balance_end(s: bytes, si: int, xy: bytes, cache: dict[int, list[int]],
                 k: int) -> int:
    # End (exclusive) of the balanced run that %bxy matches at si, or -1.
    x, y = xy[0], xy[1]
    if si >= len(s) or s[si] != x:
        return -1
    if x == y:
        j = s.find(bytes((y,)), si + 1)
        return j + 1 if j >= 0 else -1
    ends = cache.get(k)
    if ends is None:
        ends = cache[k] = [-1] * len(s)
        stack: list[int] = []
        for j, c in enumerate(s):
            if c == x:
                stack.append(j)
            elif c == y and stack:
                ends[stack.pop()] = j + 1
    return ends[si]
