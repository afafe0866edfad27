"""Plugin base classes and the built-in plugins."""

from hekapy.plugins._api import (
    Decoder,
    Encoder,
    Filter,
    Input,
    Output,
    Plugin,
    PluginContext,
    Splitter,
)

__all__ = ["Decoder", "Encoder", "Filter", "Input", "Output", "Plugin",
           "PluginContext", "Splitter"]
