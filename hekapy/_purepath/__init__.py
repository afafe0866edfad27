"""Pure-Python twin of :mod:`hekapy._fastpath`, with the same names."""

from hekapy._purepath._accesslog import AccessLogCodec
from hekapy._purepath._framing import Record, StreamReader
from hekapy._purepath._luapattern import LuaPattern, LuaPatternError
from hekapy._purepath._matcher import MatchProgram
from hekapy._purepath._router import route_chunk
from hekapy._purepath._view import MessageView

__all__ = ["AccessLogCodec", "LuaPattern", "LuaPatternError",
           "MatchProgram", "MessageView", "Record", "StreamReader",
           "route_chunk"]
