"""Base classes for Python plugins.

A plugin is created with its name and its configuration (the keys of its
TOML section, or keyword arguments when embedded) and then started with a
:class:`PluginContext` from the router.  Every hook runs on the plugin's
own worker; raising from a hook counts a failure for that plugin and the
router goes on.

``config_schema`` maps each accepted configuration key to its default;
the daemon rejects keys that are not in it (or in the common keys of the
plugin's category).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hekapy._message import Message
    from hekapy._pack import Pack


class PluginContext:
    """What the router hands a plugin when it starts.

    ``inject(message)`` routes a new message (a :class:`hekapy.Message`,
    a :class:`hekapy.Pack` or protobuf bytes); ``logger`` is the plugin's
    own logger (``hekapy.<name>``); ``hostname`` and ``pid`` stamp
    messages the plugin creates; ``base_dir`` is where it may keep state.
    """

    def __init__(self, name: str, inject: Any, hostname: str = "",
                 pid: int = 0, base_dir: str = ".") -> None:
        self.name = name
        self._inject = inject
        self.logger = logging.getLogger(f"hekapy.{name}")
        self.hostname = hostname
        self.pid = pid
        self.base_dir = base_dir

    def inject(self, message: Message | Pack | bytes) -> None:
        self._inject(message)


class Plugin:
    """Common base: a name, a configuration, start and stop."""

    category: ClassVar[str] = ""
    config_schema: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, name: str, config: Mapping[str, Any] | None = None,
                 ) -> None:
        self.name = name
        merged = dict(self.config_schema)
        merged.update(config or {})
        self.config = merged
        self.context: PluginContext | None = None

    def start(self, context: PluginContext) -> None:
        """Called once before the first message."""
        self.context = context

    def stop(self) -> None:
        """Called once after the last message (and the final timer)."""


class Input(Plugin):
    """Produces records.  :meth:`run` blocks until the source ends or
    :meth:`stop` is called, handing each record to ``deliver``."""

    category = "Input"

    def run(self, deliver: Any) -> None:
        raise NotImplementedError


class Splitter(Plugin):
    """Cuts a byte stream into records (sans-IO)."""

    category = "Splitter"

    def feed(self, data: bytes) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        """Records left at the end of the stream (may be empty)."""
        return []


class Decoder(Plugin):
    """Turns one pack into zero or more packs."""

    category = "Decoder"

    def decode(self, pack: Pack) -> list[Pack]:
        raise NotImplementedError


class Filter(Plugin):
    """Receives the messages its matcher selects; may inject new ones."""

    category = "Filter"

    def process_message(self, pack: Pack) -> None:
        raise NotImplementedError

    def timer_event(self, ns: int) -> None:
        """Called every ``ticker_interval`` seconds when one is set."""


class Encoder(Plugin):
    """Turns one pack into the bytes an output writes (None skips it)."""

    category = "Encoder"

    def encode(self, pack: Pack) -> bytes | None:
        raise NotImplementedError


class Output(Plugin):
    """Receives the messages its matcher selects and sends them on."""

    category = "Output"

    def process_message(self, pack: Pack) -> None:
        raise NotImplementedError

    def timer_event(self, ns: int) -> None:
        """Called every ``ticker_interval`` seconds when one is set."""
