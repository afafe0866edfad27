"""hekapy.matcher: Heka ``message_matcher`` expressions, both dialects.

:class:`Matcher` compiles one expression; :class:`MatcherSet` evaluates
many against one message in a single pass.  The grammar, the semantics
and where hekapy differs from Go Heka and lua_sandbox are described in
docs/matcher.md.
"""

from hekapy._errors import MatcherSyntaxError
from hekapy.matcher._api import Matcher, MatcherSet
from hekapy.matcher._parser import DIALECTS, parse

__all__ = ["DIALECTS", "Matcher", "MatcherSet", "MatcherSyntaxError",
           "parse"]
