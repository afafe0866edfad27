"""The router's view of the matchers: one table evaluated per message.

:class:`MatchTable` holds the runners in routing order (filters first,
then outputs, each in the order they were added) and one
``hekapy.matcher.MatcherSet`` over their matchers, so a message's
headers and fields are read once however many plugins there are.
``hits(view)`` returns the indices of the runners whose matcher
selected the message, in ascending order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hekapy.router._runner import Runner


def compile_matcher(expression: str, dialect: str) -> Any:
    """A ``hekapy.matcher.Matcher`` (raises MatcherSyntaxError)."""
    from hekapy.matcher import Matcher

    return Matcher(expression, dialect)


def _nothing(view: Any) -> int:
    return 0


def _bits_to_indices(mask: int) -> list[int]:
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


class MatchTable:
    """Runners in routing order plus the MatcherSet over their matchers."""

    __slots__ = ("_eval", "_set", "runners")

    def __init__(self, runners: Sequence[Runner]) -> None:
        self.runners = tuple(runners)
        self._set: Any = None
        self._eval: Any = None
        if self.runners:
            from hekapy.matcher import MatcherSet

            self._set = MatcherSet([r.matcher for r in self.runners])
            self._eval = self._set.matches

    def evaluator(self) -> Any:
        """``f(view)``: a falsy value when nothing matched, else the hits
        in the MatcherSet's own form (see :meth:`indices`)."""
        if self._eval is None:
            return _nothing
        return self._eval

    @staticmethod
    def indices(hits: Any) -> Iterable[int]:
        """The runner indices in an :meth:`evaluator` result."""
        if isinstance(hits, int):
            return _bits_to_indices(hits)
        return hits  # type: ignore[no-any-return]

    def hits(self, view: Any) -> list[int]:
        """Indices of the runners whose matcher selects ``view``."""
        if not self.runners:
            return []
        res = self._eval(view)
        if isinstance(res, int):
            return _bits_to_indices(res)
        return list(res)
