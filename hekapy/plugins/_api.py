"""Base classes for Python plugins, and the registry of plugin types.

A plugin is created with its name and its configuration (the keys of its
TOML section, or keyword arguments when embedded) and then started with a
:class:`PluginContext` from the router.  Raising from a hook counts a
failure for that plugin and the router goes on; raising
:class:`PluginExit` (or, from a sandbox, ``hekapy.SandboxTerminated``)
stops the plugin for good: the router removes it and routes a
``heka.terminated`` (``heka.sandbox-terminated``) message.

``config_schema`` maps each accepted configuration key to its default;
the daemon rejects keys that are not in it (or in the common keys of the
plugin's category).

Plugin types are found by name with :func:`lookup`: first the classes
given to :func:`register`, then the ``hekapy.plugins`` entry-point
group (a distribution declares ``MyOutput = "pkg.mod:MyOutput"``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

from hekapy.plugins._builtin import BUILTIN

if TYPE_CHECKING:
    from hekapy._message import Message
    from hekapy._pack import Pack


class PluginContext:
    """What the router hands a plugin when it starts.

    Attributes
    ----------
    name:
        The plugin's name.
    logger:
        The plugin's own logger, ``hekapy.<name>`` (no handlers added).
    hostname, pid:
        Stamp for messages the plugin creates.
    base_dir:
        Where the plugin may keep state.

    ``inject(message)`` routes a new message (a :class:`hekapy.Message`,
    a :class:`hekapy.Pack` or protobuf bytes).  It raises
    :class:`hekapy.InjectError` when the router refuses the message: it
    would match the injecting filter's own matcher, or it has been
    re-injected more than ``max_message_loops`` times.
    """

    def __init__(
        self,
        name: str,
        inject: Callable[[Message | Pack | bytes], None],
        hostname: str = "",
        pid: int = 0,
        base_dir: str = ".",
    ) -> None:
        self.name = name
        self._inject = inject
        self.logger = logging.getLogger(f"hekapy.{name}")
        self.hostname = hostname
        self.pid = pid
        self.base_dir = base_dir

    def inject(self, message: Message | Pack | bytes) -> None:
        """Route ``message`` (see the class docstring)."""
        self._inject(message)


class Plugin:
    """Common base: a name, a configuration, start and stop.

    Parameters
    ----------
    name:
        The plugin's name (its TOML section).
    config:
        Configuration values; missing keys take the defaults of
        ``config_schema``.
    """

    category: ClassVar[str] = ""
    config_schema: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | None = None,
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
        """Read the source, calling ``deliver(record)`` for each record."""
        raise NotImplementedError


class Splitter(Plugin):
    """Cuts a byte stream into records (sans-IO)."""

    category = "Splitter"

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the records it completed."""
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        """Records left at the end of the stream (may be empty)."""
        return []


class Decoder(Plugin):
    """Turns one pack into zero or more packs."""

    category = "Decoder"

    def decode(self, pack: Pack) -> list[Pack]:
        """The packs ``pack`` decodes to (empty to drop it)."""
        raise NotImplementedError


class Filter(Plugin):
    """Receives the messages its matcher selects; may inject new ones.

    ``process_message(pack)`` gets each selected :class:`hekapy.Pack`
    in order (``pack.view`` reads values without decoding the whole
    message, ``pack.message`` builds a :class:`hekapy.Message`).  Raise
    :class:`hekapy.PluginFailure` (or any exception) to count a failure,
    :class:`PluginExit` to stop for good.  ``self.context.inject(msg)``
    routes a new message.
    """

    category = "Filter"

    def process_message(self, pack: Pack) -> None:
        """Handle one message the matcher selected."""
        raise NotImplementedError

    def timer_event(self, ns: int) -> None:
        """Called every ``ticker_interval`` seconds when one is set."""


class Encoder(Plugin):
    """Turns one pack into the bytes an output writes (None skips it)."""

    category = "Encoder"

    def encode(self, pack: Pack) -> bytes | None:
        """The bytes to write for ``pack``, or None to skip it."""
        raise NotImplementedError


class Output(Plugin):
    """Receives the messages its matcher selects and sends them on.

    Same hooks and failure rules as :class:`Filter`.
    """

    category = "Output"

    def process_message(self, pack: Pack) -> None:
        """Handle one message the matcher selected."""
        raise NotImplementedError

    def timer_event(self, ns: int) -> None:
        """Called every ``ticker_interval`` seconds when one is set."""


ENTRY_POINT_GROUP = "hekapy.plugins"

_registered: dict[str, type[Plugin]] = {}


def register(type_name: str, cls: type[Plugin]) -> None:
    """Make ``cls`` available as plugin type ``type_name`` in-process.

    Raises
    ------
    TypeError
        When ``cls`` is not a :class:`Plugin` subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise TypeError(f"plugin type must be a Plugin subclass, got {cls!r}")
    _registered[type_name] = cls


def lookup(type_name: str) -> type[Plugin] | None:
    """The plugin class known as ``type_name``, or None.

    Looks at :func:`register` calls first, then at hekapy's built-in
    types (``FileOutput``, ``AccessLogDecoder``, ...), then at the entry
    points of the ``hekapy.plugins`` group.  Import errors propagate.
    """
    cls = _registered.get(type_name)
    if cls is not None:
        return cls
    target = BUILTIN.get(type_name)
    if target is not None:
        module, _, attr = target.partition(":")
        found: type[Plugin] = getattr(
            importlib.import_module(module), attr)
        return found
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == type_name:
            loaded = ep.load()
            if isinstance(loaded, type) and issubclass(loaded, Plugin):
                return loaded
            raise TypeError(
                f"entry point {ep.value!r} for plugin type "
                f"{type_name!r} is not a Plugin subclass"
            )
    return None


def available() -> list[str]:
    """Names of the registered, built-in and entry-point plugin types."""
    names = set(_registered) | set(BUILTIN)
    names.update(
        ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
    )
    return sorted(names)
