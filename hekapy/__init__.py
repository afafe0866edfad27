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
    PluginExit,
    PluginFailure,
    SandboxError,
    SandboxTerminated,
)
from hekapy._impl import EXTENSION_LOADED, MessageView, Record, StreamReader
from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy._signing import Signer, frame
from hekapy.matcher import Matcher, MatcherSet
from hekapy.router import Router

__version__ = "0.1.0"

__all__ = [
    "EXTENSION_LOADED",
    "ConfigError",
    "DecodeError",
    "Field",
    "FramingError",
    "HekaError",
    "InjectError",
    "Matcher",
    "MatcherSet",
    "MatcherSyntaxError",
    "Message",
    "MessageView",
    "Pack",
    "PluginExit",
    "PluginFailure",
    "Record",
    "Router",
    "SandboxError",
    "SandboxTerminated",
    "Signer",
    "StreamReader",
    "frame",
]
