"""The public matcher classes: :class:`Matcher` and :class:`MatcherSet`.

Both are thin shells over the evaluator twin chosen by
:mod:`hekapy._impl` (``MatchProgram``): they parse, compile and hand the
program tables to it, so ``matches`` runs entirely in the twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from hekapy import _impl, _purepath
from hekapy.matcher._ast import Node
from hekapy.matcher._compiler import compile_program
from hekapy.matcher._parser import parse

if TYPE_CHECKING:
    from hekapy._purepath._matcher import MatchProgram as _Program
else:
    _Program = getattr(_impl.impl, "MatchProgram", None) or \
        _purepath.MatchProgram


def build(asts: Sequence[Node], impl: ModuleType | None = None) -> Any:
    """A ``MatchProgram`` of twin ``impl`` (default: the chosen one)."""
    module = impl or _impl.impl
    return module.MatchProgram(*compile_program(asts))


class Matcher(_Program):
    """A compiled ``message_matcher`` expression.

    Parameters
    ----------
    expression:
        The matcher text, e.g. ``"Type == 'nginx' && Severity <= 4"``.
    dialect:
        ``"heka"`` (Go Heka 0.10, the default) or ``"lua_sandbox"``
        (Hindsight); docs/matcher.md describes both.

    Raises
    ------
    hekapy.MatcherSyntaxError
        When the expression does not parse; ``.column`` (1-based) says
        where and the message says what was expected there.

    Notes
    -----
    ``matches(msg)`` takes raw protobuf bytes, a
    :class:`hekapy.MessageView`, a :class:`hekapy.Pack` or a
    :class:`hekapy.Message` and returns a bool.  Raw bytes that do not
    decode raise :class:`hekapy.DecodeError`.
    """

    def __init__(self, expression: str, dialect: str = "heka") -> None:
        ast = parse(expression, dialect)
        super().__init__(*compile_program([ast]))
        self.expression = expression
        self.dialect = dialect
        self.ast = ast

    def __repr__(self) -> str:
        return f"Matcher({self.expression!r}, dialect={self.dialect!r})"


class MatcherSet(_Program):
    """Many matchers evaluated together, as the router does per message.

    Parameters
    ----------
    matchers:
        :class:`Matcher` objects (of either dialect), in plugin order.

    Notes
    -----
    ``matches(msg)`` returns the ascending list of the indices of the
    matchers that match; ``mask(msg)`` returns the same as an int whose
    bit ``k`` is set when matcher ``k`` matches.  One call reads each
    header or field at most once and runs each distinct test (same
    operand, operator and literal) at most once, whichever matchers
    share it.
    """

    matches = _Program.match_list  # type: ignore[assignment]
    mask = _Program.match_mask

    def __init__(self, matchers: Iterable[Matcher]) -> None:
        self.matchers = tuple(matchers)
        for m in self.matchers:
            if not isinstance(m, Matcher):
                raise TypeError(f"MatcherSet takes Matcher objects, not "
                                f"{type(m).__name__}")
        if not self.matchers:
            raise ValueError("MatcherSet needs at least one matcher")
        super().__init__(*compile_program([m.ast for m in self.matchers]))

    def __len__(self) -> int:
        return len(self.matchers)

    def __repr__(self) -> str:
        return f"MatcherSet(<{len(self.matchers)} matchers>)"
