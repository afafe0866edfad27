"""Built-in encoders: turn a pack into the bytes an output writes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hekapy._message import VALUE_TYPE_NAMES, Message
from hekapy._pack import Pack
from hekapy.plugins._api import Encoder
from hekapy.plugins.decoders import _golayout


class ProtobufEncoder(Encoder):
    """The message's protobuf bytes, unchanged when it was not modified."""

    def encode(self, pack: Pack) -> bytes | None:
        return pack.raw


class PayloadEncoder(Encoder):
    """The payload, optionally after a timestamp and with a newline.

    ``ts_format`` is a Go layout; the time is the message's own
    (``ts_from_message``) or the time of encoding.
    """

    config_schema = {
        "append_newlines": True,
        "prefix_ts": False,
        "ts_format": "[2006/Jan/02:15:04:05 -0700] ",
        "ts_from_message": True,
    }

    def encode(self, pack: Pack) -> bytes | None:
        payload = pack.view.payload or b""
        cfg = self.config
        if cfg["prefix_ts"]:
            ns = pack.view.timestamp if cfg["ts_from_message"] else None
            if ns is None:
                ns = time.time_ns()
            prefix = _golayout.format_ns(ns, cfg["ts_format"])
            payload = prefix.encode() + payload
        if cfg["append_newlines"]:
            payload += b"\n"
        return payload


def _rst_value(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value)[2:-1]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rst_text(msg: Message) -> str:
    """A message as a reStructuredText field list, for reading."""
    ts = msg.timestamp or 0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts // 10**9))
    lines = [
        f":Timestamp: {when}.{ts % 10**9:09d} +0000 UTC",
        f":Type: {msg.type or ''}",
        f":Hostname: {msg.hostname or ''}",
        f":Pid: {msg.pid or 0}",
        f":Uuid: {msg.uuid_str}",
        f":Logger: {msg.logger or ''}",
        f":Payload: {msg.payload or ''}",
        f":EnvVersion: {msg.env_version or ''}",
        f":Severity: {7 if msg.severity is None else msg.severity}",
        ":Fields:",
    ]
    for f in msg.fields:
        kind = VALUE_TYPE_NAMES[f.value_type].lower()
        if kind == "double":
            kind = "double"
        values = [_rst_value(v) for v in f.values]
        shown = (
            values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
        )
        if kind in ("string", "bytes"):
            shown = '"' + shown + '"' if len(values) == 1 else shown
        lines.append(
            f'    | name:"{f.name}" type:{kind} value:{shown}'
            + (
                f' representation:"{f.representation}"'
                if f.representation
                else ""
            )
        )
    return "\n".join(lines) + "\n\n"


class RstEncoder(Encoder):
    """Every header and field as a reStructuredText field list."""

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)

    def encode(self, pack: Pack) -> bytes | None:
        return rst_text(pack.message).encode("utf-8", "replace")
