"""Pure-Python twin of :mod:`hekapy._fastpath`, with the same names."""

from hekapy._purepath._framing import Record, StreamReader
from hekapy._purepath._view import MessageView

__all__ = ["MessageView", "Record", "StreamReader"]
from hekapy._purepath._luapattern import LuaPattern, LuaPatternError
from hekapy._purepath._matcher import MatchProgram

__all__ += ["LuaPattern", "LuaPatternError", "MatchProgram"]
