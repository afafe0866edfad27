"""A direct AST interpreter, the reference the compiled program must equal.

It walks the tree recursively and evaluates each test with the same leaf
functions as the pure evaluator, so comparing the two checks the
compiler (folding, sharing, jump offsets) and, run against the compiled
twin, the Cython evaluator.  It is not used to route messages.
"""

from __future__ import annotations

from typing import Any

from hekapy._purepath._matcher import read_operand, run_test, searcher
from hekapy.matcher._ast import BoolOp, Const, Node


def evaluate(node: Node, view: Any) -> bool:
    """Whether the expression ``node`` matches the MessageView ``view``."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, BoolOp):
        if node.is_and:
            return all(evaluate(c, view) for c in node.children)
        return any(evaluate(c, view) for c in node.children)
    o, lit = node.operand, node.literal
    tag, value = read_operand(view, o.source, o.name, o.fi, o.ai)
    matcher = searcher(lit.kind, lit.data, lit.obj)
    return run_test(tag, value, node.op, lit.kind, lit.data, lit.ival,
                    lit.dval, matcher)
