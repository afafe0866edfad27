"""AccessLogDecoder: nginx/apache access log lines, decoded natively.

It gives each line the message ``sandboxes/decoders/access_log.lua``
gives it (Type, Timestamp from the line's time, Severity 3 for a 5xx
status and 4 for a 4xx, Fields remote_addr, remote_user, method, path,
protocol, status, body_bytes_sent, http_referer, http_user_agent and
extra), without running Lua.  In the daemon, an input that splits lines
(TokenSplitter on newlines) hands it whole blocks of lines, which it
turns into one framed stream for the router; the codec is compiled
with the fast path and pure Python without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError, PluginFailure
from hekapy._impl import impl
from hekapy._pack import Pack
from hekapy.plugins._api import Decoder


class AccessLogDecoder(Decoder):
    """Decodes "combined" (or common) format access log lines.

    Config: ``message_type`` (the message Type, default
    ``nginx.access``; the Lua decoder's ``type``, renamed because a
    section's ``type`` names the plugin) and ``payload_keep`` (keep the
    line as the Payload, default false).  A payload that is not an
    access log line is a decode failure.
    """

    config_schema = {"message_type": "nginx.access", "payload_keep": False}

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        msg_type = self.config["message_type"]
        keep = self.config["payload_keep"]
        if not isinstance(msg_type, str):
            raise ConfigError(
                f"message_type must be a string, got {msg_type!r}"
            )
        if not isinstance(keep, bool):
            raise ConfigError(
                f"payload_keep must be true or false, got {keep!r}"
            )
        self.codec = impl.AccessLogCodec(msg_type.encode(), keep)
        # Many lines at once: see AccessLogCodec.frame_lines.
        self.frame_lines = self.codec.frame_lines

    def decode(self, pack: Pack) -> list[Pack]:
        view = pack.view
        payload = view.payload
        if payload is None:
            raise PluginFailure("no payload")
        data = self.codec.decode(
            payload, view.timestamp, view.logger, view.hostname, view.pid
        )
        if data is None:
            raise PluginFailure("not an access log line")
        return [Pack(data, pack.signer, pack.loop_count)]
