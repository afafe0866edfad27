"""Compile matcher ASTs into one flat program.

The program is four plain tables that both evaluator twins
(``hekapy._purepath._matcher`` and ``_fp_matcher.pxi``) read:

``operands``
    ``(source, name, fi, ai)``: what to read from the message (see
    :class:`hekapy.matcher._ast.Operand`), each distinct read once.
``tests``
    ``(operand, op, kind, data, ival, dval, regex)``: one comparison of
    an operand with a literal; equal tests of several matchers share one
    row, so a message is tested once per row at most.
``code``
    ``(test, on_true, on_false)``: after running ``test``, jump to
    ``on_true`` or ``on_false``: an index further down the code, or
    ``ACCEPT`` (-1) / ``REJECT`` (-2).  ``a && b`` sends a's false exit
    straight to the rejection target: that is the short circuit.
``entries``
    Where each matcher's code starts (or ``ACCEPT``/``REJECT`` for a
    matcher that folded to a constant).

Jumps only go forward, so evaluation is one loop without a stack that
always ends.  Constants are folded away before code is emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hekapy.matcher._ast import (
    ACCEPT,
    REJECT,
    BoolOp,
    Const,
    Node,
    Operand,
    Test,
)

Tables = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]],
               list[tuple[int, int, int]], list[int]]


def fold(node: Node) -> Node:
    """``node`` with every TRUE/FALSE that can be removed removed."""
    if not isinstance(node, BoolOp):
        return node
    absorbing = not node.is_and  # FALSE absorbs &&, TRUE absorbs ||
    children: list[Node] = []
    for child in node.children:
        child = fold(child)
        if isinstance(child, Const):
            if child.value == absorbing:
                return child
            continue
        children.append(child)
    if not children:
        return Const(not absorbing)
    if len(children) == 1:
        return children[0]
    return BoolOp(node.is_and, children)


class _Builder:
    def __init__(self) -> None:
        self.operands: list[tuple[Any, ...]] = []
        self.operand_index: dict[Operand, int] = {}
        self.tests: list[tuple[Any, ...]] = []
        self.test_index: dict[Any, int] = {}
        self.code: list[tuple[int, int, int]] = []
        self.entries: list[int] = []

    def add(self, ast: Node) -> None:
        # Emit backwards (the last test first), so every jump target is
        # known when a test is emitted; then reverse into place.
        rev: list[tuple[int, int, int]] = []
        entry = self._emit(fold(ast), ACCEPT, REJECT, rev)
        base = len(self.code)
        last = base + len(rev) - 1

        def place(target: int) -> int:
            return target if target < 0 else last - target

        for test, on_true, on_false in reversed(rev):
            self.code.append((test, place(on_true), place(on_false)))
        self.entries.append(place(entry))

    def _emit(self, node: Node, on_true: int, on_false: int,
              rev: list[tuple[int, int, int]]) -> int:
        if isinstance(node, Const):
            return on_true if node.value else on_false
        if isinstance(node, Test):
            rev.append((self._test(node), on_true, on_false))
            return len(rev) - 1
        entry = -3
        for i, child in enumerate(reversed(node.children)):
            if i == 0:
                entry = self._emit(child, on_true, on_false, rev)
            elif node.is_and:
                entry = self._emit(child, entry, on_false, rev)
            else:
                entry = self._emit(child, on_true, entry, rev)
        return entry

    def _test(self, test: Test) -> int:
        key = test.key()
        index = self.test_index.get(key)
        if index is not None:
            return index
        operand = self.operand_index.get(test.operand)
        if operand is None:
            o = test.operand
            operand = self.operand_index[o] = len(self.operands)
            self.operands.append((o.source, o.name, o.fi, o.ai))
        lit = test.literal
        row = (operand, test.op, lit.kind, lit.data, lit.ival, lit.dval,
               lit.obj)
        index = self.test_index[key] = len(self.tests)
        self.tests.append(row)
        return index


def compile_program(asts: Sequence[Node]) -> Tables:
    """The program tables for ``asts``, one entry per AST, in order."""
    builder = _Builder()
    for ast in asts:
        builder.add(ast)
    return (builder.operands, builder.tests, builder.code,
            builder.entries)
