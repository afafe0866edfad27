"""Plugin types by name: the built-in ones and entry-point plugins.

A TOML section's ``type`` (or its name when ``type`` is omitted) is
looked up here.  Built-in types are imported on first use, so a daemon
that does not use the sandbox never imports lupa.  Third-party plugins
register classes in the ``hekapy.plugins`` entry-point group under
their type name.
"""

from __future__ import annotations

from typing import Any

from hekapy._errors import ConfigError
from hekapy.plugins._api import lookup as api_lookup

CATEGORIES = ("Input", "Splitter", "Decoder", "Filter", "Encoder", "Output")

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
    try:
        cls = api_lookup(type_name)
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
