"""Built-in decoders: turn a pack into zero or more packs.

A decoder that cannot read a pack raises :class:`hekapy.DecodeError`
(or :class:`hekapy.PluginFailure`); the input that owns it counts the
failure and, with ``send_decode_failures``, forwards the pack marked as
undecodable.
"""

from __future__ import annotations

import re
import uuid as _uuid
from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError, PluginFailure
from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy.plugins._api import Decoder
from hekapy.plugins.decoders import _golayout

_HEADER_KEYS = {
    "Type": "type",
    "Logger": "logger",
    "Hostname": "hostname",
    "Payload": "payload",
    "EnvVersion": "env_version",
}
_INT_HEADERS = {"Severity": "severity", "Pid": "pid"}
_TEMPLATE = re.compile(r"%(\w+)%")


class ProtobufDecoder(Decoder):
    """Checks that the record is a Heka message and passes it on."""

    def decode(self, pack: Pack) -> list[Pack]:
        pack.view.field_count()  # reads every field: raises DecodeError
        return [pack]


def _apply_fields(
    msg: Message, table: Mapping[str, Any], captures: Mapping[str, str]
) -> None:
    """Set headers and fields from a ``message_fields`` table."""

    def fill(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return _TEMPLATE.sub(
            lambda m: captures.get(m.group(1), m.group(0)), value
        )

    for key, raw in table.items():
        value = fill(raw)
        if key in _HEADER_KEYS:
            setattr(msg, _HEADER_KEYS[key], str(value))
        elif key in _INT_HEADERS:
            try:
                setattr(msg, _INT_HEADERS[key], int(value))
            except ValueError as exc:
                raise PluginFailure(
                    f"{key} must be an integer, got {value!r}"
                ) from exc
        elif key == "Uuid":
            msg.uuid = _uuid.UUID(str(value)).bytes
        else:
            name, _, rep = key.partition("|")
            if isinstance(value, (list, dict)):
                raise PluginFailure(f"field {name!r} cannot take {value!r}")
            msg.fields.append(Field(name, value, representation=rep))


class ScribbleDecoder(Decoder):
    """Sets the fixed headers and fields of ``message_fields``."""

    config_schema = {"message_fields": {}}

    def decode(self, pack: Pack) -> list[Pack]:
        msg = pack.message
        _apply_fields(msg, self.config["message_fields"], {})
        return [Pack.from_message(msg, pack.signer, pack.loop_count)]


class PayloadRegexDecoder(Decoder):
    """Parses the payload with a regex of named captures.

    ``message_fields`` values may use ``%Name%`` to insert a capture;
    a capture named ``Timestamp`` is read with ``timestamp_layout`` (a Go
    layout) in ``timestamp_location``, one named ``Severity`` goes
    through ``severity_map`` when it holds the text.  A payload the regex
    does not match is a decode failure.
    """

    config_schema = {
        "match_regex": "",
        "message_fields": {},
        "severity_map": {},
        "timestamp_layout": "2012-04-23T18:25:43.511Z",
        "timestamp_location": "UTC",
        "log_errors": True,
    }

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        from hekapy._regex import compile_re2

        pattern = self.config["match_regex"]
        if not pattern:
            raise ConfigError("'match_regex' is required")
        self._re = compile_re2(pattern, "match_regex")
        self._tz = _golayout.timezone(self.config["timestamp_location"])

    def decode(self, pack: Pack) -> list[Pack]:
        msg = pack.message
        payload = msg.payload or ""
        m = self._re.search(payload)
        if m is None:
            raise PluginFailure(
                f"payload does not match match_regex: {payload[:80]!r}"
            )
        caps = {k: v for k, v in m.groupdict().items() if v is not None}
        ts = caps.get("Timestamp")
        if ts is not None:
            try:
                msg.timestamp = _golayout.parse(
                    ts, self.config["timestamp_layout"], self._tz
                )
            except ValueError as exc:
                raise PluginFailure(
                    f"timestamp {ts!r} does not fit "
                    f"{self.config['timestamp_layout']!r}"
                ) from exc
        sev = caps.get("Severity")
        if sev is not None:
            mapped = self.config["severity_map"].get(sev, sev)
            try:
                msg.severity = int(mapped)
            except ValueError as exc:
                raise PluginFailure(
                    f"severity {sev!r} is not a number"
                ) from exc
        _apply_fields(msg, self.config["message_fields"], caps)
        return [Pack.from_message(msg, pack.signer, pack.loop_count)]


class MultiDecoder(Decoder):
    """Runs the decoders named in ``subs``.

    ``cascade_strategy = "first-wins"`` stops at the first that succeeds;
    ``"all"`` feeds each sub the output of the one before.  The daemon
    attaches the sub-decoder instances as ``sub_decoders`` before start.
    """

    config_schema = {
        "subs": [],
        "cascade_strategy": "first-wins",
        "log_sub_errors": False,
    }

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        if not self.config["subs"]:
            raise ConfigError("'subs' must name at least one decoder")
        strategy = self.config["cascade_strategy"]
        if strategy not in ("first-wins", "all"):
            raise ConfigError(
                f"cascade_strategy must be 'first-wins' or 'all', got "
                f"{strategy!r}"
            )
        self.sub_decoders: list[Decoder] = []

    def decode(self, pack: Pack) -> list[Pack]:
        errors: list[str] = []
        if self.config["cascade_strategy"] == "all":
            packs = [pack]
            for sub in self.sub_decoders:
                nxt: list[Pack] = []
                for p in packs:
                    nxt.extend(sub.decode(p))
                packs = nxt
            return packs
        for sub in self.sub_decoders:
            try:
                return sub.decode(pack)
            except Exception as exc:
                errors.append(f"{sub.name}: {exc}")
                if self.config["log_sub_errors"] and self.context:
                    self.context.logger.warning(
                        "sub-decoder %s failed: %s", sub.name, exc
                    )
        raise PluginFailure(
            "no sub-decoder succeeded (" + "; ".join(errors) + ")"
        )
