"""Plugin base classes, the plugin-type registry and built-in plugins."""

from hekapy._errors import PluginExit
from hekapy.plugins._api import (
    ENTRY_POINT_GROUP,
    Decoder,
    Encoder,
    Filter,
    Input,
    Output,
    Plugin,
    PluginContext,
    Splitter,
    available,
    lookup,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Decoder",
    "Encoder",
    "Filter",
    "Input",
    "Output",
    "Plugin",
    "PluginContext",
    "PluginExit",
    "Splitter",
    "available",
    "lookup",
    "register",
]
