"""HttpOutput: one HTTP request per encoded message."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError, PluginFailure
from hekapy._pack import Pack
from hekapy.plugins.outputs._base import EncodingOutput
from hekapy.plugins.outputs.tcp import tls_context


class HttpOutput(EncodingOutput):
    """Sends each encoded message as the body of an HTTP request.

    A response outside 2xx, or no response within ``http_timeout``
    milliseconds (0 waits as long as the system allows), counts as a
    failure of that message.
    """

    default_encoder = "PayloadEncoder"
    prefers_thread = True
    config_schema = {
        "address": "",
        "method": "POST",
        "headers": {},
        "username": "",
        "password": "",
        "http_timeout": 0,
        "use_tls": False,
        "tls": {},
        "encoder": "",
        "use_framing": None,
    }

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        url = cfg["address"]
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"address must be an http:// or https:// URL, got {url!r}"
            )
        if cfg["method"] not in ("POST", "PUT", "GET"):
            raise ConfigError(
                f"method must be POST, PUT or GET, got {cfg['method']!r}"
            )
        self._ctx = (
            tls_context(cfg["tls"], False)
            if url.startswith("https://")
            else None
        )
        self._headers = {
            str(k): str(v[0] if isinstance(v, list) else v)
            for k, v in cfg["headers"].items()
        }
        if cfg["username"]:
            token = base64.b64encode(
                f"{cfg['username']}:{cfg['password']}".encode()
            ).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self.sent = 0

    def process_message(self, pack: Pack) -> None:
        data = self.encode(pack)
        if data is None:
            return
        cfg = self.config
        req = urllib.request.Request(
            cfg["address"],
            data=None if cfg["method"] == "GET" else data,
            headers=self._headers,
            method=cfg["method"],
        )
        timeout = cfg["http_timeout"] / 1000 or None
        try:
            with urllib.request.urlopen(
                req, timeout=timeout, context=self._ctx
            ) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            raise PluginFailure(
                f"HTTP {exc.code} from {cfg['address']!r}"
            ) from exc
        except OSError as exc:
            raise PluginFailure(
                f"request to {cfg['address']!r} failed: {exc}"
            ) from exc
        self.sent += 1
