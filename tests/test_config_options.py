"""Every option of every built-in plugin type loads, and only its type.

The cases are generated from each class's ``config_schema`` plus the
common options of its category, so a new option is covered as soon as
it exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hekapy.daemon import config as cfg
from hekapy.daemon import registry
from hekapy.plugins._builtin import BUILTIN

TYPES = sorted(t for t in BUILTIN if not t.startswith("Sandbox"))


def _schema(type_name: str) -> dict[str, Any]:
    cls = registry.lookup(type_name)
    cat = registry.category_of(type_name) or ""
    out = dict(cfg.COMMON[cat])
    out.update(cls.config_schema)
    return out


SAMPLES = {"matcher_dialect": "lua_sandbox"}


def _other(default: Any, key: str = "") -> Any:
    if key in SAMPLES:
        return SAMPLES[key]
    if default is None or isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 2
    if isinstance(default, float):
        return default + 0.5
    if isinstance(default, str):
        return default + "x" if default else "x"
    if isinstance(default, list):
        return ["x"]
    return {"k": "v"}


def _wrong(default: Any) -> Any:
    if isinstance(default, str):
        return 7
    return "text"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{ "
            + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
            + " }"
        )
    return json.dumps(value)


CASES = [
    (t, k)
    for t in TYPES
    for k in sorted(_schema(t))
    if k not in ("message_matcher",)
]


def _section(type_name: str, key: str, value: Any) -> str:
    lines = ["[p]", f'type = "{type_name}"']
    if registry.category_of(type_name) in ("Filter", "Output"):
        lines.append('message_matcher = "TRUE"')
    if key in ("decoder", "splitter", "encoder", "subs"):
        return "\n".join(lines) + "\n"
    lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("type_name", "key"), CASES)
def test_option_loads(tmp_path: Path, type_name: str, key: str) -> None:
    value = _other(_schema(type_name)[key], key)
    p = tmp_path / "c.toml"
    p.write_text(_section(type_name, key, value))
    spec = cfg.load(p, env={}).plugins["p"]
    if key in ("decoder", "splitter", "encoder", "subs"):
        return
    got = spec.config[key]
    if key in getattr(spec.cls, "path_options", ()):
        assert got == str(tmp_path / value)
    else:
        assert got == value


@pytest.mark.parametrize(
    ("type_name", "key"),
    [
        c
        for c in CASES
        if _schema(c[0])[c[1]] is not None
        and c[1] not in ("decoder", "splitter", "encoder", "subs")
    ],
)
def test_option_of_wrong_type_is_an_error(
    tmp_path: Path, type_name: str, key: str
) -> None:
    p = tmp_path / "c.toml"
    p.write_text(_section(type_name, key, _wrong(_schema(type_name)[key])))
    with pytest.raises(cfg.ConfigErrors) as info:
        cfg.load(p, env={})
    text = "\n".join(info.value.lines())
    assert f"'{key}' must be" in text
    assert "[p]" in text


def test_every_builtin_type_is_importable() -> None:
    for t in TYPES:
        cls = registry.lookup(t)
        assert cls.__name__ == t
        assert registry.category_of(t) == cls.category
