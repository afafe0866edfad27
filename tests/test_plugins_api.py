"""Plugin base classes, the context and the plugin-type registry."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

import hekapy.plugins as plugins
from hekapy import HekaError, Message, Pack
from hekapy.plugins import (
    Decoder,
    Encoder,
    Filter,
    Input,
    Output,
    Plugin,
    PluginContext,
    PluginExit,
    Splitter,
)


class Counter(Filter):
    config_schema = {"step": 1, "label": "n"}

    def process_message(self, pack: Pack) -> None:
        pass


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        (Input, "Input"),
        (Splitter, "Splitter"),
        (Decoder, "Decoder"),
        (Filter, "Filter"),
        (Encoder, "Encoder"),
        (Output, "Output"),
    ],
)
def test_categories(cls: type[Plugin], category: str) -> None:
    assert cls.category == category
    assert issubclass(cls, Plugin)


def test_config_defaults_merge_with_given_values() -> None:
    p = Counter("c", {"step": 5})
    assert p.name == "c"
    assert p.config == {"step": 5, "label": "n"}
    assert Counter.config_schema == {"step": 1, "label": "n"}
    assert p.context is None


def test_unimplemented_hooks_raise() -> None:
    with pytest.raises(NotImplementedError):
        Filter("f").process_message(Pack(b""))
    with pytest.raises(NotImplementedError):
        Output("o").process_message(Pack(b""))
    with pytest.raises(NotImplementedError):
        Decoder("d").decode(Pack(b""))
    with pytest.raises(NotImplementedError):
        Encoder("e").encode(Pack(b""))
    with pytest.raises(NotImplementedError):
        Splitter("s").feed(b"")
    assert Splitter("s").finish() == []


def test_context_passes_injections_and_names_the_logger() -> None:
    seen: list[Any] = []
    ctx = PluginContext(
        "f1", seen.append, hostname="h", pid=7, base_dir="/tmp"
    )
    p = Counter("f1")
    p.start(ctx)
    assert p.context is ctx
    m = Message(type="x")
    ctx.inject(m)
    assert seen == [m]
    assert ctx.logger.name == "hekapy.f1"
    assert (ctx.hostname, ctx.pid, ctx.base_dir) == ("h", 7, "/tmp")


def test_plugin_exit_is_a_heka_error() -> None:
    assert issubclass(PluginExit, HekaError)


def test_register_and_lookup() -> None:
    plugins.register("CounterTestFilter", Counter)
    try:
        assert plugins.lookup("CounterTestFilter") is Counter
        assert "CounterTestFilter" in plugins.available()
    finally:
        plugins._api._registered.pop("CounterTestFilter")
    assert plugins.lookup("CounterTestFilter") is None
    with pytest.raises(TypeError, match="must be a Plugin subclass"):
        plugins.register("Bad", dict)  # type: ignore[arg-type]


class _FakeEntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self._target = target

    def load(self) -> Any:
        return self._target


def test_entry_point_plugins_are_found_by_type_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eps = [
        _FakeEntryPoint("ThirdPartyOutput", Counter),
        _FakeEntryPoint("NotAPlugin", len),
    ]

    def entry_points(group: str) -> list[_FakeEntryPoint]:
        return eps if group == "hekapy.plugins" else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    assert plugins.lookup("ThirdPartyOutput") is Counter
    assert plugins.lookup("Missing") is None
    assert "ThirdPartyOutput" in plugins.available()
    with pytest.raises(TypeError, match="'fake:NotAPlugin'"):
        plugins.lookup("NotAPlugin")


@pytest.mark.parametrize(
    ("name", "module"),
    [("FileOutput", "hekapy.plugins.outputs.file"),
     ("AccessLogDecoder", "hekapy.plugins.decoders.accesslog"),
     ("PayloadEncoder", "hekapy.plugins.encoders")],
)
def test_lookup_finds_built_in_types(name: str, module: str) -> None:
    cls = plugins.lookup(name)
    assert cls is not None
    assert (cls.__name__, cls.__module__) == (name, module)
    assert name in plugins.available()


def test_an_output_made_in_python_uses_the_encoder_it_names(
    tmp_path: Any,
) -> None:
    from hekapy.plugins.outputs.file import FileOutput

    path = tmp_path / "out.txt"
    out = FileOutput("o", {"path": str(path), "encoder": "PayloadEncoder"})
    out.start(PluginContext("o", lambda m: None))
    out.process_message(Pack(Message.new(type="t", payload="hi").encode()))
    out.stop()
    assert path.read_text() == "hi\n"
    assert out.direct_target() is None
