"""Every error hekapy raises.

Bad input from outside (bytes, expressions, configuration files, Lua
scripts) gets a subclass of :class:`HekaError`; misuse of the Python API
stays a plain ``TypeError`` or ``ValueError``.  Messages start in lower
case, carry no trailing period, show the offending value with ``repr``
and end with where it happened (``at byte 12``, ``at column 7``).
"""

from __future__ import annotations


class HekaError(Exception):
    """Root of every hekapy error."""


class DecodeError(HekaError, ValueError):
    """Protobuf bytes that do not form a Heka message.

    ``offset`` is the byte offset, inside the message, where decoding
    failed.
    """

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(f"{what} at byte {offset}")
        self.offset = offset


class FramingError(HekaError, ValueError):
    """A framed stream or record that breaks Heka's framing rules.

    ``offset`` is the stream offset of the problem, when known.
    """

    def __init__(self, what: str, offset: int | None = None) -> None:
        where = "" if offset is None else f" at byte {offset}"
        super().__init__(f"{what}{where}")
        self.offset = offset


class MatcherSyntaxError(HekaError, ValueError):
    """A ``message_matcher`` expression that does not parse.

    ``column`` is 1-based; ``expression`` is the text given.
    """

    def __init__(self, what: str, expression: str, column: int) -> None:
        super().__init__(f"{what} at column {column}")
        self.expression = expression
        self.column = column


class ConfigError(HekaError, ValueError):
    """A configuration mistake; ``where`` names the file and section."""

    def __init__(self, what: str, where: str = "") -> None:
        super().__init__(f"{what} in {where}" if where else what)
        self.what = what
        self.where = where


class SandboxError(HekaError):
    """A Lua sandbox that failed to load or was terminated."""


class SandboxTerminated(SandboxError):
    """A sandbox stopped for good; ``reason`` is the text Heka reports."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"sandbox {name!r} terminated: {reason}")
        self.name = name
        self.reason = reason


class PluginFailure(HekaError):
    """One message failed in a plugin; the plugin itself goes on.

    Raised by plugin hooks (a sandbox returning a negative status, say);
    the router counts it as a failure for that plugin.
    """


class InjectError(HekaError):
    """A message a plugin tried to inject was refused.

    The reasons are Heka's: the message would loop back into the plugin
    that made it, it has been re-injected ``max_message_loops`` times, or
    the plugin exceeded its injection budget.
    """


class PluginExit(HekaError):
    """Raised by a plugin hook to stop that plugin for good.

    The router removes the plugin, drops what was queued for it and
    routes a ``heka.terminated`` message whose payload carries this
    error's text.
    """
