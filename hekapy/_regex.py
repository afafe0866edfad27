"""RE2 (Go's regular expression syntax) with quiet, readable errors.

RE2 logs every pattern it refuses to standard error by default; hekapy
turns that off and reports the reason once, as text, in its own error.
"""

from __future__ import annotations

from typing import Any

import re2


def compile_re2(pattern: str | bytes, what: str) -> Any:
    """Compile ``pattern``; ``what`` names it in the error.

    Raises
    ------
    hekapy.ConfigError
        When RE2 refuses the pattern.
    """
    from hekapy._errors import ConfigError

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise ConfigError(f"bad {what} {pattern!r}: {why}") from None
