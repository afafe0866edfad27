"""What ``read_message`` and ``read_next_field`` return.

Values are read from a :class:`hekapy.MessageView` (or, once a decoder
or encoder wrote to its message, from a :class:`MessageSource` with the
same methods) without building Python message objects.  The getter for
each variable name is compiled once and cached.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable
from typing import Any

from hekapy._message import BYTES, Message

Getter = Callable[[Any, int, int], Any]

LARGE = 4096


def _text(attr: str) -> Getter:
    def get(src: Any, fi: int, ai: int) -> Any:
        v = getattr(src, attr)
        return b"" if v is None else v
    return get


def _number(attr: str, default: int | None = None) -> Getter:
    def get(src: Any, fi: int, ai: int) -> Any:
        v = getattr(src, attr)
        return default if v is None else v
    return get


def _uuid_text(src: Any, fi: int, ai: int) -> Any:
    u = src.uuid
    if u is None or len(u) != 16:
        return b""
    return str(_uuid.UUID(bytes=bytes(u))).encode()


def _raw(src: Any, fi: int, ai: int) -> Any:
    return src.raw or None


def _field(name: bytes) -> Getter:
    def get(src: Any, fi: int, ai: int) -> Any:
        v = src.read_field(name, fi, ai)
        if v == b"":
            i = src.find_field(name, fi)
            if src.field_type(i) == BYTES:
                return None
        return v
    return get


def _nothing(src: Any, fi: int, ai: int) -> Any:
    return None


_HEADERS: dict[bytes, Getter] = {
    b"Type": _text("type"),
    b"Logger": _text("logger"),
    b"Payload": _text("payload"),
    b"EnvVersion": _text("env_version"),
    b"Hostname": _text("hostname"),
    b"Uuid": _uuid_text,
    b"Timestamp": _number("timestamp"),
    b"Severity": _number("severity", 7),
    b"Pid": _number("pid"),
    b"raw": _raw,
}


def compile_getter(name: bytes) -> Getter:
    """The function reading variable ``name`` from a view."""
    g = _HEADERS.get(name)
    if g is not None:
        return g
    if name.startswith(b"Fields[") and name.endswith(b"]") \
            and len(name) >= 8:
        return _field(name[7:-1])
    return _nothing


class Reader:
    """Answers ``read_message`` for whichever message is current.

    ``guard(size)`` says whether a string of
    ``size`` bytes fits in the sandbox's memory; when it does not,
    ``oom`` is returned and Lua raises the memory error.
    """

    __slots__ = ("getters", "src", "next_field", "guard", "oom")

    def __init__(self) -> None:
        self.getters: dict[Any, Getter] = {}
        self.src: Any = None
        self.next_field = 0
        self.guard: Callable[[int], bool] | None = None
        self.oom: Any = None

    def read(self, name: Any, fi: int, ai: int) -> Any:
        try:
            g = self.getters[name]
        except KeyError:
            if not isinstance(name, bytes):
                return None
            if len(self.getters) > 4096:
                self.getters.clear()
            g = self.getters[name] = compile_getter(name)
        except TypeError:
            return None
        src = self.src
        if src is None:
            return None
        try:
            v = g(src, fi, ai)
        except Exception:
            return None
        if v.__class__ is bytes and len(v) > LARGE and \
                self.guard is not None and not self.guard(len(v)):
            return self.oom
        return v

    def read_next_field(self) -> tuple[Any, ...]:
        src = self.src
        i = self.next_field
        if src is None or i >= src.field_count():
            return (None, None, None, None, None)
        self.next_field = i + 1
        vt = src.field_type(i)
        v = src.field_value(i, 0)
        if vt == BYTES and v == b"":
            v = None
        return (vt, src.field_name(i), v, src.field_representation(i),
                src.field_len(i))


def _utf8(s: str | None) -> bytes | None:
    return None if s is None else s.encode("utf-8", "surrogateescape")


class MessageSource:
    """A :class:`hekapy.Message` seen through the MessageView methods.

    ``raw`` stays the bytes the message came from, as Heka's
    ``read_message("raw")`` does after a write.
    """

    def __init__(self, message: Message, raw: bytes) -> None:
        self.message = message
        self.raw = raw

    def __getattr__(self, attr: str) -> Any:
        v = getattr(self.message, attr)
        return _utf8(v) if isinstance(v, str) else v

    def field_count(self) -> int:
        return len(self.message.fields)

    def field_name(self, i: int) -> bytes:
        return _utf8(self.message.fields[i].name) or b""

    def field_type(self, i: int) -> int:
        return self.message.fields[i].value_type

    def field_representation(self, i: int) -> bytes:
        return _utf8(self.message.fields[i].representation) or b""

    def field_len(self, i: int) -> int:
        return len(self.message.fields[i].values)

    def field_value(self, i: int, ai: int = 0) -> Any:
        values = self.message.fields[i].values
        if not 0 <= ai < len(values):
            return None
        v = values[ai]
        return _utf8(v) if isinstance(v, str) else v

    def find_field(self, name: bytes, fi: int = 0) -> int:
        text = name.decode("utf-8", "surrogateescape")
        for i, f in enumerate(self.message.fields):
            if f.name == text:
                if fi == 0:
                    return i
                fi -= 1
        return -1

    def read_field(self, name: bytes, fi: int = 0, ai: int = 0) -> Any:
        i = self.find_field(name, fi)
        return None if i < 0 else self.field_value(i, ai)
