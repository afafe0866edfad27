"""The router's view of the matchers: one table evaluated per message.

:class:`MatchTable` holds the runners in routing order (filters first,
then outputs, each in the order they were added) and one
``hekapy.matcher.MatcherSet`` over their matchers, so a message's
headers and fields are read once however many plugins there are.
``hits(view)`` returns the indices of the runners whose matcher
selected the message, in ascending order (``MatcherSet.matches``).
``direct`` lines up the runners' direct targets (compiled sandbox
callers, frame sinks) with the matchers, for the compiled routing loop
(None when there are none); ``sinks`` are the runners with a sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hekapy.router._runner import Runner


def compile_matcher(expression: str, dialect: str) -> Any:
    """A ``hekapy.matcher.Matcher`` (raises MatcherSyntaxError)."""
    from hekapy.matcher import Matcher

    return Matcher(expression, dialect)


class MatchTable:
    """Runners in routing order plus the MatcherSet over their matchers."""

    __slots__ = ("_eval", "_set", "direct", "runners", "sinks")

    def __init__(self, runners: Sequence[Runner]) -> None:
        self.runners = tuple(runners)
        self._set: Any = None
        self._eval: Any = None
        direct = tuple(r.direct for r in self.runners)
        self.direct = (
            direct if any(d is not None for d in direct) else None
        )
        self.sinks = tuple(r for r in self.runners if r.sink)
        if self.runners:
            from hekapy.matcher import MatcherSet

            self._set = MatcherSet([r.matcher for r in self.runners])
            self._eval = self._set.matches

    @property
    def matcher_set(self) -> Any:
        """The MatcherSet (None when there are no runners)."""
        return self._set

    def hits(self, view: Any) -> list[int]:
        """Indices of the runners whose matcher selects ``view``."""
        if self._eval is None:
            return []
        return self._eval(view)  # type: ignore[no-any-return]
