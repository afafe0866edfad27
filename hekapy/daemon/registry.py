"""Plugin types by name: the built-in ones and entry-point plugins.

A TOML section's ``type`` (or its name when ``type`` is omitted) is
looked up here.  Built-in types are imported on first use, so a daemon
that does not use the sandbox never imports lupa.  Third-party plugins
register classes in the ``hekapy.plugins`` entry-point group under
their type name.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from hekapy._errors import ConfigError

CATEGORIES = ("Input", "Splitter", "Decoder", "Filter", "Encoder", "Output")

_P = "hekapy.plugins"

BUILTIN: dict[str, str] = {
    "LogstreamerInput": f"{_P}.inputs.logstreamer:LogstreamerInput",
    "TcpInput": f"{_P}.inputs.network:TcpInput",
    "UdpInput": f"{_P}.inputs.network:UdpInput",
    "StdinInput": f"{_P}.inputs.simple:StdinInput",
    "FilePollingInput": f"{_P}.inputs.simple:FilePollingInput",
    "HekaFramingSplitter": f"{_P}.splitters:HekaFramingSplitter",
    "TokenSplitter": f"{_P}.splitters:TokenSplitter",
    "RegexSplitter": f"{_P}.splitters:RegexSplitter",
    "NullSplitter": f"{_P}.splitters:NullSplitter",
    "ProtobufDecoder": f"{_P}.decoders:ProtobufDecoder",
    "PayloadRegexDecoder": f"{_P}.decoders:PayloadRegexDecoder",
    "MultiDecoder": f"{_P}.decoders:MultiDecoder",
    "ScribbleDecoder": f"{_P}.decoders:ScribbleDecoder",
    "AccessLogDecoder": f"{_P}.decoders.accesslog:AccessLogDecoder",
    "SandboxDecoder": "hekapy.sandbox:SandboxDecoder",
    "SandboxFilter": "hekapy.sandbox:SandboxFilter",
    "SandboxEncoder": "hekapy.sandbox:SandboxEncoder",
    "CounterFilter": f"{_P}.filters.counter:CounterFilter",
    "ProtobufEncoder": f"{_P}.encoders:ProtobufEncoder",
    "PayloadEncoder": f"{_P}.encoders:PayloadEncoder",
    "RstEncoder": f"{_P}.encoders:RstEncoder",
    "LogOutput": f"{_P}.outputs.simple:LogOutput",
    "FileOutput": f"{_P}.outputs.file:FileOutput",
    "TcpOutput": f"{_P}.outputs.tcp:TcpOutput",
    "HttpOutput": f"{_P}.outputs.http:HttpOutput",
}

# Types hekad 0.10 ships that hekapy does not implement; naming one
# gives a clearer error than "no registered plugin type".
HEKA_ONLY = frozenset(
    (
        "AMQPInput",
        "DockerEventInput",
        "DockerLogInput",
        "DockerStatsInput",
        "HttpInput",
        "HttpListenInput",
        "KafkaInput",
        "ProcessInput",
        "ProcessDirectoryInput",
        "SandboxInput",
        "StatAccumInput",
        "StatsdInput",
        "PatternGroupingSplitter",
        "GeoIpDecoder",
        "PayloadXmlDecoder",
        "StatsToFieldsDecoder",
        "SandboxManagerFilter",
        "StatFilter",
        "ESJsonEncoder",
        "ESLogstashV0Encoder",
        "AMQPOutput",
        "CarbonOutput",
        "DashboardOutput",
        "ElasticSearchOutput",
        "IrcOutput",
        "KafkaOutput",
        "NagiosOutput",
        "SandboxOutput",
        "SmtpOutput",
        "UdpOutput",
        "WhisperOutput",
    )
)

_cache: dict[str, type] = {}


def category_of(type_name: str) -> str | None:
    """The plugin category a type name's suffix gives, or None."""
    for cat in CATEGORIES:
        if type_name.endswith(cat):
            return cat
    return None


def _third_party(type_name: str) -> Any:
    """A registered or entry-point plugin class, or None."""
    import hekapy.plugins as api

    find = getattr(api, "lookup", None)
    if find is not None:
        return find(type_name)
    for ep in metadata.entry_points(group="hekapy.plugins"):
        if ep.name == type_name:
            return ep.load()
    return None


def lookup(type_name: str) -> type[Any]:
    """The plugin class registered as ``type_name``.

    Raises
    ------
    hekapy.ConfigError
        When no such type is registered or its module fails to import.
    """
    cls = _cache.get(type_name)
    if cls is not None:
        return cls
    target = BUILTIN.get(type_name)
    try:
        if target is not None:
            module, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module), attr)
        else:
            cls = _third_party(type_name)
            if cls is None:
                raise _unknown(type_name)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"plugin type {type_name!r} is not available ({exc})"
        ) from exc
    if not isinstance(cls, type):
        raise ConfigError(f"plugin type {type_name!r} is not a class")
    _cache[type_name] = cls
    return cls


def _unknown(type_name: str) -> ConfigError:
    if type_name in HEKA_ONLY:
        return ConfigError(
            f"plugin type {type_name!r} exists in Heka but is not "
            "implemented by hekapy"
        )
    return ConfigError(f"no registered plugin type {type_name!r}")
