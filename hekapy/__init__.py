"""hekapy: an embeddable, Heka-compatible message router.

The names below are the public API; everything in a module whose name
starts with an underscore is private.
"""

from hekapy._errors import (
    ConfigError,
    DecodeError,
    FramingError,
    HekaError,
    InjectError,
    MatcherSyntaxError,
    PluginFailure,
    SandboxError,
    SandboxTerminated,
)
from hekapy._impl import EXTENSION_LOADED, MessageView, Record, StreamReader
from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy._signing import Signer, frame

__version__ = "0.1.0"

__all__ = [
    "EXTENSION_LOADED",
    "ConfigError",
    "DecodeError",
    "Field",
    "FramingError",
    "HekaError",
    "InjectError",
    "MatcherSyntaxError",
    "Message",
    "MessageView",
    "Pack",
    "PluginFailure",
    "Record",
    "SandboxError",
    "SandboxTerminated",
    "Signer",
    "StreamReader",
    "frame",
]

from hekapy.router import Router

__all__ += ["Router"]

from hekapy.matcher import Matcher, MatcherSet

__all__ += ["Matcher", "MatcherSet"]
