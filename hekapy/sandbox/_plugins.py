"""SandboxFilter, SandboxDecoder and SandboxEncoder.

Each is the matching plugin base class with a Lua sandbox inside; what
differs is where injected messages go: a filter routes them through its
context (rewritten the way Heka rewrote them), a decoder returns them in
place of the message it was given, an encoder returns their bytes as
its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hekapy import _wire as w
from hekapy._errors import DecodeError, InjectError, PluginFailure
from hekapy._impl import MessageView
from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy.plugins._api import Decoder, Encoder, Filter, PluginContext
from hekapy.sandbox._host import SandboxHost, ScriptError
from hekapy.sandbox._reader import MessageSource

_HEADERS = ("uuid", "timestamp", "type", "hostname", "logger", "severity",
            "pid")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def termination_message(name: str, reason: str, hostname: str = ""
                        ) -> Message:
    """The ``heka.sandbox-terminated`` message for a stopped sandbox.

    Parameters
    ----------
    name:
        The plugin's name (``Fields[plugin]``).
    reason:
        Why it stopped (the Payload), e.g. ``SandboxTerminated.reason``.
    hostname:
        The router's hostname.
    """
    return Message.new(type="heka.sandbox-terminated", logger="hekad",
                       hostname=hostname, payload=reason,
                       fields=[Field("plugin", name)])


def _payload_fields(ptype: bytes, pname: bytes) -> list[Field]:
    return [Field("payload_type", _text(ptype),
                  representation="file-extension"),
            Field("payload_name", _text(pname))]


# Headers a decoder's injected message inherits from the original, with
# their protobuf field numbers.
_INHERITED = (("timestamp", 2), ("type", 3), ("logger", 4), ("severity", 5),
              ("pid", 8), ("hostname", 9))


def _header_bytes(num: int, value: Any) -> bytes:
    if num in (5, 8):
        return bytes((num << 3,)) + w.int32_varint(value)
    if num == 2:
        return b"\x10" + w.varint(value)
    return w.length_delimited(num, value)


def _refused(from_table: bool) -> ScriptError:
    # Heka's texts for injected bytes that do not form a message.
    if from_table:
        return ScriptError("inject_message() could not encode protobuf")
    return ScriptError("inject_message() protobuf unmarshal failed")


def _view_injected(data: bytes, from_table: bool) -> Any:
    try:
        view = MessageView(data)
        view.field_count()
    except DecodeError:
        raise _refused(from_table) from None
    return view


def _decode_injected(data: bytes, from_table: bool) -> Message:
    try:
        return Message.decode(data)
    except DecodeError:
        raise _refused(from_table) from None


class SandboxFilter(SandboxHost, Filter):
    """A Heka SandboxFilter: a Lua script fed the matched messages.

    Parameters
    ----------
    name:
        The plugin name; injected messages carry it as Logger.
    config:
        The keys of a Heka sandbox section (``filename`` or ``source``,
        ``memory_limit``, ``instruction_limit``, ``output_limit``,
        ``module_directory``, ``preserve_data``, ``config``,
        ``max_process_inject``, ``max_timer_inject``, ...) plus
        ``state_directory``.
    """

    sandbox_kind = "filter"

    def __init__(self, name: str, config: Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, config)
        self._setup_host()

    def start(self, context: PluginContext) -> None:
        """Load the script (raises :class:`hekapy.SandboxError`)."""
        self.context = context
        self._load_sandbox()

    def process_message(self, pack: Pack) -> None:
        """Run ``process_message()`` with ``pack`` as the current message.
        """
        r = self._run_process(pack)
        if r != 0:
            st, text = self._process_outcome(r)
            if st < 0:
                self._fail(st, text)

    def _hostname(self) -> str:
        return getattr(self.context, "hostname", "") or ""

    def _route(self, msg: Message) -> None:
        cur = self._pack
        loops = (cur.loop_count if cur is not None else 0) + 1
        pack = Pack.from_message(msg, loop_count=loops)
        try:
            self.context.inject(pack)
        except InjectError as e:
            raise ScriptError(str(e)) from None

    def _inject_bytes(self, data: bytes, from_table: bool) -> None:
        msg = _decode_injected(data, from_table)
        self._count_inject()
        msg.type = "heka.sandbox." + (msg.type or "")
        msg.logger = self.name
        msg.hostname = self._hostname()
        self._route(msg)

    def _inject_payload(self, ptype: bytes, pname: bytes,
                        payload: bytes) -> None:
        self._count_inject()
        msg = Message.new(type="heka.sandbox-output", logger=self.name,
                          payload=_text(payload),
                          hostname=self._hostname(),
                          pid=getattr(self.context, "pid", 0),
                          fields=_payload_fields(ptype, pname))
        self._route(msg)


class SandboxDecoder(SandboxHost, Decoder):
    """A Heka SandboxDecoder: turns one message into zero or more.

    ``decode(pack)`` returns the injected messages or, when the script
    injected none, the message it was given (changed by
    ``write_message`` if the script wrote to it).
    """

    sandbox_kind = "decoder"

    def __init__(self, name: str, config: Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, config)
        self._setup_host()
        self._out: list[Pack] = []

    def start(self, context: PluginContext) -> None:
        """Load the script (raises :class:`hekapy.SandboxError`)."""
        self.context = context
        self._load_sandbox()

    def decode(self, pack: Pack) -> list[Pack]:
        self._out = []
        self._write_src = None
        r = self._run_process(pack)
        st, text = self._process_outcome(r) if r != 0 else (0, None)
        out, self._out = self._out, []
        written, self._write_src = self._write_src, None
        if st < 0:
            self._fail(st, text)
        if out:
            return out
        if written is not None:
            return [Pack.from_message(written.message, signer=pack.signer,
                                      loop_count=pack.loop_count)]
        return [pack]

    def _original(self) -> Message:
        src = self._reader.src
        msg: Message = src.message if isinstance(src, MessageSource) \
            else self._pack.message
        return msg

    def _inject_bytes(self, data: bytes, from_table: bool) -> None:
        if isinstance(self._reader.src, MessageSource):
            # The message was rewritten: merge with the rewritten one.
            msg = _decode_injected(data, from_table)
            self._count_inject()
            orig = self._original()
            for h in _HEADERS[1:]:
                if getattr(msg, h) is None:
                    setattr(msg, h, getattr(orig, h))
            self._emit(msg)
            return
        view = _view_injected(data, from_table)
        self._count_inject()
        # Headers the injected message lacks come from the original; they
        # are appended as protobuf fields, so the bytes are never decoded
        # into objects and encoded again.
        orig = self._pack.view
        extra = [_header_bytes(num, getattr(orig, attr))
                 for attr, num in _INHERITED
                 if getattr(view, attr) is None
                 and getattr(orig, attr) is not None]
        cur = self._pack
        self._out.append(Pack(data + b"".join(extra) if extra else data,
                              cur.signer, cur.loop_count))

    def _inject_payload(self, ptype: bytes, pname: bytes,
                        payload: bytes) -> None:
        self._count_inject()
        orig = self._original()
        msg = Message.decode(orig.encode())
        msg.payload = _text(payload)
        msg.fields.extend(_payload_fields(ptype, pname))
        self._emit(msg)

    def _emit(self, msg: Message) -> None:
        cur = self._pack
        self._out.append(Pack.from_message(
            msg, signer=cur.signer, loop_count=cur.loop_count))


class SandboxEncoder(SandboxHost, Encoder):
    """A Heka SandboxEncoder: turns a message into the bytes to send.

    ``encode(pack)`` returns the payload the script injected (the last
    one wins), or the message's protobuf when it injected nothing, or
    None when ``process_message`` returned -2.
    """

    sandbox_kind = "encoder"

    def __init__(self, name: str, config: Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__(name, config)
        self._setup_host()
        self._output: bytes | None = None

    def start(self, context: PluginContext) -> None:
        """Load the script (raises :class:`hekapy.SandboxError`)."""
        self.context = context
        self._load_sandbox()

    def encode(self, pack: Pack) -> bytes | None:
        self._output = None
        self._write_src = None
        r = self._run_process(pack)
        st, text = self._process_outcome(r) if r != 0 else (0, None)
        out, self._output = self._output, None
        written, self._write_src = self._write_src, None
        if st == -2:
            return None
        if st < 0:
            self._fail(st, text)
        if out is not None:
            return out
        if written is not None:
            data: bytes = written.message.encode()
            return data
        return pack.raw

    def _inject_bytes(self, data: bytes, from_table: bool) -> None:
        if not from_table:
            _decode_injected(data, False)
        self.inject_count += 1
        self._output = data

    def _inject_payload(self, ptype: bytes, pname: bytes,
                        payload: bytes) -> None:
        self.inject_count += 1
        self._output = payload


__all__ = ["PluginFailure", "SandboxDecoder", "SandboxEncoder",
           "SandboxFilter", "termination_message"]
