"""What every built-in output shares: an encoder and optional framing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hekapy._pack import Pack
from hekapy._signing import frame
from hekapy.plugins._api import Encoder, Output


class EncodingOutput(Output):
    """An output that writes what its encoder makes of each message.

    ``encoder`` is an :class:`hekapy.plugins.Encoder` instance, attached
    by the daemon (the TOML ``encoder`` key) or given by an embedding
    program; without one, an encoder of the type the ``encoder`` setting
    names is made, or of the class's ``default_encoder`` type.
    ``use_framing`` wraps each encoded message in a Heka record; when
    unset it is on exactly when the encoder is a ProtobufEncoder.
    """

    default_encoder = "ProtobufEncoder"

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        self.encoder: Encoder | None = None
        self.max_message_size: int | None = None

    def _ensure_encoder(self) -> Encoder:
        # Without an attached encoder, the ``encoder`` setting names an
        # encoder type (the daemon attaches the section's instance).
        enc = self.encoder
        if enc is None:
            from hekapy.daemon import registry

            name = self.config.get("encoder") or self.default_encoder
            cls = registry.lookup(name)
            enc = self.encoder = cls(f"{self.name}-{name}")
        return enc

    @property
    def framing(self) -> bool:
        """Whether records are written framed."""
        use = self.config.get("use_framing")
        if use is None:
            return type(self._ensure_encoder()).__name__ == "ProtobufEncoder"
        return bool(use)

    def encode(self, pack: Pack) -> bytes | None:
        """The bytes to write for ``pack`` (None: write nothing)."""
        data = self._ensure_encoder().encode(pack)
        if data is None:
            return None
        if self.framing:
            return frame(data, max_message_size=self.max_message_size)
        return data


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(
    text: str | int | float,
    key: str = "duration",
) -> float:
    """Seconds in a Go duration string such as ``"250ms"`` or ``"1m30s"``.

    A bare number is taken as seconds.

    Raises
    ------
    hekapy.ConfigError
        When the text is not a duration.
    """
    from hekapy._errors import ConfigError

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{key} must be a duration, got {text!r}")
    total = 0.0
    pos = 0
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        pos = 1
    if text[pos:] == "0":
        return 0.0
    while pos < len(text):
        start = pos
        while pos < len(text) and (text[pos].isdigit() or text[pos] == "."):
            pos += 1
        num = text[start:pos]
        ustart = pos
        while pos < len(text) and not (
            text[pos].isdigit() or text[pos] == "."
        ):
            pos += 1
        unit = text[ustart:pos]
        if not num or unit not in _UNITS:
            raise ConfigError(
                f"{key} must be a duration such as '250ms', got {text!r}"
            )
        try:
            total += float(num) * _UNITS[unit]
        except ValueError as exc:
            raise ConfigError(
                f"{key} must be a duration, got {text!r}"
            ) from exc
    return sign * total


class Retry:
    """Heka's ``retries`` table: growing delays with jitter.

    ``delay`` doubles after each failure up to ``max_delay``;
    ``max_retries`` -1 retries forever, 0 never.
    """

    def __init__(self, table: Mapping[str, Any] | None = None) -> None:
        from hekapy._errors import ConfigError

        table = dict(table or {})
        extra = set(table) - {
            "delay",
            "max_delay",
            "max_retries",
            "max_jitter",
        }
        if extra:
            raise ConfigError(
                f"unknown config setting {sorted(extra)[0]!r} in retries"
            )
        self.delay = parse_duration(table.get("delay", "250ms"), "delay")
        self.max_delay = parse_duration(
            table.get("max_delay", "30s"), "max_delay"
        )
        self.max_jitter = parse_duration(
            table.get("max_jitter", "500ms"), "max_jitter"
        )
        self.max_retries = int(table.get("max_retries", -1))
        self.reset()

    def reset(self) -> None:
        self.attempts = 0
        self._next = self.delay

    def next_wait(self) -> float | None:
        """Seconds to wait before the next try, None when out of tries."""
        import random

        if 0 <= self.max_retries <= self.attempts:
            return None
        self.attempts += 1
        wait = self._next + random.uniform(0, self.max_jitter)
        self._next = min(self._next * 2, self.max_delay)
        return min(wait, self.max_delay)
