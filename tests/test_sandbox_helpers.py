"""Helpers shared by the sandbox tests (no tests here)."""

from __future__ import annotations

from typing import Any

from hekapy import Field, Message, Pack
from hekapy.plugins import PluginContext
from hekapy.sandbox import SandboxDecoder, SandboxEncoder, SandboxFilter

HOSTNAME = "testhost"


def pack(**headers: Any) -> Pack:
    """A pack of a message with the given headers and ``fields``."""
    fields = headers.pop("fields", [])
    return Pack(Message(**headers, fields=fields).encode())


def sample() -> Pack:
    return pack(uuid=bytes(range(16)), timestamp=1500000000123456789,
                type="TEST", logger="GoSpec", severity=6,
                payload="Test Payload", env_version="0.8", pid=9283,
                hostname="example.com",
                fields=[Field("foo", "bar"), Field("number", 64),
                        Field("numbers", [1, 2, 3], representation="count"),
                        Field("bool", True), Field("bools",
                                                   [True, False, False]),
                        Field("double", 2.5), Field("bytes", b"data"),
                        Field("empty", b""), Field("foo", "alternate")])


class Collector:
    """A PluginContext whose injections land in ``packs``."""

    def __init__(self, base_dir: str = ".") -> None:
        self.packs: list[Pack] = []
        self.context = PluginContext("t", self.packs.append,
                                     hostname=HOSTNAME, pid=4242,
                                     base_dir=base_dir)

    @property
    def messages(self) -> list[Message]:
        return [p.message for p in self.packs]


def start(cls: Any, source: str, name: str = "sbx",
          collector: Collector | None = None, **config: Any) -> Any:
    """Create and start a sandbox plugin of class ``cls``."""
    plugin = cls(name, {"source": source, **config})
    plugin.start((collector or Collector()).context)
    return plugin


def filter_(source: str, **config: Any) -> tuple[SandboxFilter, Collector]:
    c = Collector(config.pop("base_dir", "."))
    return start(SandboxFilter, source, collector=c, **config), c


def decoder(source: str, **config: Any) -> SandboxDecoder:
    plugin: SandboxDecoder = start(SandboxDecoder, source, **config)
    return plugin


def encoder(source: str, **config: Any) -> SandboxEncoder:
    plugin: SandboxEncoder = start(SandboxEncoder, source, **config)
    return plugin


def returns(expr: str, msg: Pack | None = None, **config: Any) -> Any:
    """Evaluate a Lua expression inside process_message; return results.

    The values come back through inject_payload as their add_to_payload
    text, joined with "|".
    """
    src = f"""
    local function pack(...) return {{n = select("#", ...), ...}} end
    function process_message()
        local r = pack(pcall(function() return {expr} end))
        for i = 1, r.n do
            local v = r[i]
            if type(v) == "table" then v = "<table>" end
            add_to_payload(i > 1 and "|" or "", v)
        end
        inject_payload("txt", "r")
        return 0
    end
    """
    src = "require 'table'; require 'string'\n" + src
    f, c = filter_(src, **config)
    f.process_message(msg or sample())
    return c.messages[0].payload
