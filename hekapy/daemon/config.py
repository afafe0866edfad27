"""Reading hekad-style TOML configuration.

A configuration is one TOML file or a directory whose ``*.toml`` files
are read in lexical order; a section in a later file replaces a section
of the same name from an earlier one.  ``%ENV[NAME]`` is replaced by the
environment variable before parsing.  ``[hekad]`` holds the globals;
every other top-level table is one plugin, whose ``type`` (or, when
omitted, its name) picks the plugin class.

Every mistake found is collected; :func:`load` raises one
:class:`ConfigErrors` listing them all, so a user fixes a file in one
pass instead of one error per run.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hekapy._errors import ConfigError
from hekapy.daemon import registry
from hekapy.plugins._builtin import BUILTIN

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GLOBALS: dict[str, Any] = {
    "maxprocs": 1,
    "poolsize": 100,
    "plugin_chansize": 30,
    "cpuprof": "",
    "memprof": "",
    "max_message_loops": 4,
    "max_process_inject": 1,
    "max_process_duration": 100000,
    "max_timer_inject": 10,
    "max_pack_idle": "2m",
    "base_dir": "/var/cache/hekad",
    "share_dir": "/usr/share/heka",
    "sample_denominator": 1000,
    "pid_file": "",
    "hostname": "",
    "max_message_size": 65536,
    "log_flags": 3,
    "full_buffer_max_retries": 10,
    "matcher_dialect": "heka",
    "report_interval": 0,
    "log_level": "info",
}

# Globals hekad has that mean nothing to a Python process: accepted so
# hekad files load, reported once as ignored.
IGNORED_GLOBALS = frozenset(
    (
        "maxprocs",
        "cpuprof",
        "memprof",
        "max_pack_idle",
        "log_flags",
        "full_buffer_max_retries",
    )
)

COMMON: dict[str, dict[str, Any]] = {
    "Input": {
        "decoder": "",
        "splitter": "",
        "synchronous_decode": False,
        "send_decode_failures": False,
        "log_decode_failures": True,
        "can_exit": False,
        "ticker_interval": 0,
        "retries": {},
    },
    "Splitter": {
        "keep_truncated": False,
        "use_message_bytes": False,
        "min_buffer_size": 8192,
        "deliver_incomplete_final": False,
    },
    "Decoder": {},
    "Encoder": {},
    "Filter": {
        "message_matcher": "",
        "message_signer": "",
        "ticker_interval": 0,
        "can_exit": False,
        "use_buffering": False,
        "buffering": {},
        "retries": {},
        "matcher_dialect": "",
        "threaded": None,
    },
}
COMMON["Output"] = dict(COMMON["Filter"], encoder="", use_framing=None)

DIALECTS = ("heka", "lua_sandbox")

LOAD_ORDER = ("Decoder", "Encoder", "Splitter", "Input", "Filter", "Output")

# Usable by name without a section of their own.
DEFAULT_PLUGINS = (
    "ProtobufDecoder",
    "ProtobufEncoder",
    "TokenSplitter",
    "HekaFramingSplitter",
    "NullSplitter",
)


class ConfigErrors(ConfigError):
    """Every mistake found in a configuration.

    ``errors`` is the list of :class:`hekapy.ConfigError`, one a mistake.
    ``partial`` is the configuration made of the sections that had none
    (None when the files themselves could not be read), so that a check
    can go on with them and report every mistake in one run.
    """

    def __init__(
        self, errors: list[ConfigError], partial: Config | None = None
    ) -> None:
        n = len(errors)
        super().__init__(
            f"{n} error{'s' if n != 1 else ''} loading configuration"
        )
        self.errors = errors
        self.partial = partial

    def lines(self) -> list[str]:
        """One line per mistake, then the count."""
        return [str(e) for e in self.errors] + [str(self)]


@dataclass
class PluginSpec:
    """One plugin section after validation.

    ``config`` holds every key the plugin sees (its defaults, the common
    defaults of its category and the section's own keys, ``type``
    removed), relative paths already resolved.
    """

    name: str
    type: str
    category: str
    cls: Any
    config: dict[str, Any]
    where: str
    directory: Path
    explicit: bool = True


@dataclass
class Config:
    """A validated configuration: globals and plugins in load order."""

    globals: dict[str, Any]
    plugins: dict[str, PluginSpec]
    files: list[Path]
    directory: Path
    warnings: list[str] = field(default_factory=list)

    def of(self, category: str) -> list[PluginSpec]:
        """The plugins of one category, in load order."""
        return [p for p in self.plugins.values() if p.category == category]


def substitute_env(
    text: str, env: Mapping[str, str] | None = None, where: str = ""
) -> tuple[str, list[ConfigError]]:
    """Replace ``%ENV[NAME]`` by the variable's value (empty if unset).

    Returns the text and the mistakes found (an unterminated reference,
    a name holding whitespace or another ``%ENV[``).
    """
    env = os.environ if env is None else env
    out: list[str] = []
    errors: list[ConfigError] = []
    pos = 0
    while True:
        start = text.find("%ENV[", pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        line = text.count("\n", 0, start) + 1
        end = text.find("]", start + 5)
        if end < 0:
            errors.append(
                ConfigError(
                    f"missing ']' after {text[start : start + 20]!r}",
                    f"{where} line {line}",
                )
            )
            out.append(text[start:])
            break
        name = text[start + 5 : end]
        if any(c in name for c in " \t\r\n") or "%ENV[" in name:
            errors.append(
                ConfigError(
                    f"bad environment variable name {name!r}",
                    f"{where} line {line}",
                )
            )
        else:
            out.append(env.get(name, ""))
        pos = end + 1
    return "".join(out), errors


def config_files(path: Path) -> list[Path]:
    """The files a ``-config`` path names, in the order they load."""
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.suffix == ".toml" and p.is_file()
        )
    return [path]


def read_sections(
    path: Path,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, tuple[Any, Path]], list[ConfigError]]:
    """Parse every file; later sections replace earlier ones whole.

    Returns ``{section: (table, file)}`` and the mistakes found.
    """
    errors: list[ConfigError] = []
    sections: dict[str, tuple[Any, Path]] = {}
    if not path.exists():
        return {}, [ConfigError(f"no such file or directory {str(path)!r}")]
    files = config_files(path)
    if not files:
        errors.append(ConfigError(f"no *.toml files in {str(path)!r}"))
    for f in files:
        try:
            raw = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ConfigError(f"cannot read: {exc}", str(f)))
            continue
        parse_into(sections, raw, f, env, errors)
    return sections, errors


def parse_into(
    sections: dict[str, tuple[Any, Path]],
    raw: str,
    f: Path,
    env: Mapping[str, str] | None,
    errors: list[ConfigError],
) -> None:
    """Parse one file's text; its sections replace earlier ones."""
    text, env_errors = substitute_env(raw, env, str(f))
    errors.extend(env_errors)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        errors.append(ConfigError(f"bad TOML: {exc}", str(f)))
        return
    for name, table in doc.items():
        sections.pop(name, None)
        sections[name] = (table, f)


def _type_ok(default: Any, value: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    return isinstance(value, type(default))


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "a boolean"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, (list, tuple)):
        return "an array"
    return "a table"


def _resolve(base: Path, value: str) -> str:
    if not value:
        return value
    p = Path(os.path.expanduser(value))
    return os.path.normpath(p if p.is_absolute() else (base / p))


def _load_globals(
    table: Any,
    where: str,
    base: Path,
    errors: list[ConfigError],
    warnings: list[str],
) -> dict[str, Any]:
    out = dict(GLOBALS)
    if not isinstance(table, dict):
        errors.append(ConfigError("[hekad] must be a table", where))
        return out
    for key, value in table.items():
        if key not in GLOBALS:
            errors.append(
                ConfigError(f"unknown global setting {key!r}", where)
            )
            continue
        if not _type_ok(GLOBALS[key], value):
            errors.append(
                ConfigError(
                    f"{key!r} must be {_type_name(GLOBALS[key])}, got "
                    f"{value!r}",
                    where,
                )
            )
            continue
        if key in IGNORED_GLOBALS:
            warnings.append(
                f"global setting {key!r} has no effect in "
                f"hekapy and is ignored in {where}"
            )
        out[key] = value
    if out["max_message_size"] <= 1024:
        errors.append(
            ConfigError(
                f"max_message_size must be larger than 1024, got "
                f"{out['max_message_size']!r}",
                where,
            )
        )
    if out["sample_denominator"] <= 0:
        errors.append(
            ConfigError(
                f"sample_denominator must be positive, got "
                f"{out['sample_denominator']!r}",
                where,
            )
        )
    if out["max_message_loops"] == 0:
        out["max_message_loops"] = 1
    if out["matcher_dialect"] not in DIALECTS:
        errors.append(
            ConfigError(
                f"matcher_dialect must be 'heka' or 'lua_sandbox', got "
                f"{out['matcher_dialect']!r}",
                where,
            )
        )
    if out["log_level"] not in ("debug", "info", "warning", "error"):
        errors.append(
            ConfigError(
                f"log_level must be debug, info, warning or error, got "
                f"{out['log_level']!r}",
                where,
            )
        )
    for key in ("base_dir", "share_dir", "pid_file"):
        out[key] = _resolve(base, out[key])
    if not out["hostname"]:
        out["hostname"] = socket.gethostname()
    return out


def _check_section(
    name: str,
    table: Any,
    where: str,
    base: Path,
    glob: dict[str, Any],
    errors: list[ConfigError],
    warnings: list[str],
) -> PluginSpec | None:
    if not isinstance(table, dict):
        errors.append(ConfigError(f"{name!r} must be a table", where))
        return None
    type_name = table.get("type", name)
    if not isinstance(type_name, str):
        errors.append(
            ConfigError(f"'type' must be a string, got {type_name!r}", where)
        )
        return None
    category = registry.category_of(type_name)
    if category is None:
        errors.append(
            ConfigError(
                f"unrecognized plugin category for type {type_name!r}", where
            )
        )
        return None
    try:
        cls = registry.lookup(type_name)
    except ConfigError as exc:
        errors.append(ConfigError(str(exc), where))
        return None
    schema = dict(COMMON[category])
    schema.update(getattr(cls, "config_schema", {}) or {})
    # A third-party plugin without a schema takes any key; a built-in
    # one has none to take.
    open_schema = (not getattr(cls, "config_schema", None)
                   and type_name not in BUILTIN)
    unsupported = getattr(cls, "unsupported_options", ())
    config: dict[str, Any] = dict(schema)
    for key, value in table.items():
        if key == "type":
            continue
        if key in unsupported:
            warnings.append(
                f"option {key!r} of {type_name} is not "
                f"supported by hekapy and is ignored in "
                f"{where}"
            )
            continue
        if key not in schema:
            if open_schema:
                config[key] = value
                continue
            errors.append(
                ConfigError(f"unknown config setting {key!r}", where)
            )
            continue
        if not _type_ok(schema[key], value):
            errors.append(
                ConfigError(
                    f"{key!r} must be {_type_name(schema[key])}, got "
                    f"{value!r}",
                    where,
                )
            )
            continue
        config[key] = value
    if category in ("Filter", "Output") and "use_buffering" not in (
        getattr(cls, "config_schema", {}) or {}
    ):
        for key in ("use_buffering", "buffering"):
            if table.get(key):
                warnings.append(
                    f"option {key!r} of {type_name} is not "
                    f"supported by hekapy and is ignored in "
                    f"{where}"
                )
    for key in getattr(cls, "path_options", ()):
        value = config.get(key)
        if isinstance(value, str):
            config[key] = _resolve(base, value)
    if type_name.startswith("Sandbox"):
        _sandbox_defaults(config, table, glob, base)
    if category in ("Filter", "Output"):
        _check_matcher(config, cls, glob, where, errors)
    return PluginSpec(name, type_name, category, cls, config, where, base)


def _sandbox_defaults(
    config: dict[str, Any],
    table: dict[str, Any],
    glob: dict[str, Any],
    base: Path,
) -> None:
    """Heka's rules for sandbox paths and limits.

    A relative ``filename`` or ``module_directory`` is looked up under
    ``share_dir`` first, then next to the configuration file; state goes
    to ``<base_dir>/sandbox_preservation``; the injection limits come
    from ``[hekad]`` unless the section sets them.
    """
    share = Path(glob["share_dir"])
    for key in ("filename", "module_directory"):
        value = config.get(key)
        if not isinstance(value, str) or not value or os.path.isabs(value):
            continue
        in_share = share / value
        config[key] = os.path.normpath(
            in_share if in_share.exists() else base / value
        )
    if "state_directory" in config and not config["state_directory"]:
        config["state_directory"] = os.path.join(
            glob["base_dir"], "sandbox_preservation"
        )
    for key in ("max_process_inject", "max_timer_inject"):
        if key in config and key not in table:
            config[key] = glob[key]


def _check_matcher(
    config: dict[str, Any],
    cls: type[Any],
    glob: dict[str, Any],
    where: str,
    errors: list[ConfigError],
) -> None:
    if not config.get("matcher_dialect"):
        config["matcher_dialect"] = glob["matcher_dialect"]
        if glob["matcher_dialect"] not in DIALECTS:
            return  # reported once, for [hekad]
    dialect = config["matcher_dialect"]
    if dialect not in DIALECTS:
        errors.append(
            ConfigError(
                f"matcher_dialect must be 'heka' or 'lua_sandbox', got "
                f"{dialect!r}",
                where,
            )
        )
        return
    expr = config.get("message_matcher") or getattr(
        cls, "default_message_matcher", ""
    )
    if not expr:
        errors.append(ConfigError("'message_matcher' is required", where))
        return
    config["message_matcher"] = expr
    from hekapy.matcher import Matcher

    try:
        Matcher(expr, dialect=dialect)
    except ValueError as exc:
        errors.append(
            ConfigError(f"bad message_matcher {expr!r}: {exc}", where)
        )


def _add_defaults(
    plugins: dict[str, PluginSpec],
    glob: dict[str, Any],
    base: Path,
    errors: list[ConfigError],
) -> None:
    for name in DEFAULT_PLUGINS:
        if name in plugins:
            continue
        cls = registry.lookup(name)
        category = registry.category_of(name) or ""
        config = dict(COMMON[category])
        config.update(getattr(cls, "config_schema", {}) or {})
        plugins[name] = PluginSpec(
            name,
            name,
            category,
            cls,
            config,
            f"built-in {name}",
            base,
            explicit=False,
        )


def _check_references(
    plugins: dict[str, PluginSpec], errors: list[ConfigError]
) -> None:
    def implicit(ref: str, category: str) -> PluginSpec | None:
        """A type named directly, used with its defaults."""
        if registry.category_of(ref) != category:
            return None
        try:
            cls = registry.lookup(ref)
        except ConfigError:
            return None
        config = dict(COMMON[category])
        config.update(getattr(cls, "config_schema", {}) or {})
        spec = plugins[ref] = PluginSpec(
            ref,
            ref,
            category,
            cls,
            config,
            f"built-in {ref}",
            Path("."),
            explicit=False,
        )
        return spec

    def want(spec: PluginSpec, key: str, category: str) -> None:
        ref = spec.config.get(key)
        if not ref:
            return
        target = plugins.get(ref) or implicit(ref, category)
        if target is None or target.category != category:
            errors.append(
                ConfigError(
                    f"{key} {ref!r} does not name "
                    f"{_article(category.lower())}",
                    spec.where,
                )
            )

    for spec in list(plugins.values()):
        if spec.category == "Input":
            want(spec, "decoder", "Decoder")
            want(spec, "splitter", "Splitter")
        elif spec.category == "Output":
            want(spec, "encoder", "Encoder")
        elif spec.type == "MultiDecoder":
            for sub in spec.config.get("subs") or []:
                if not isinstance(sub, str):
                    errors.append(
                        ConfigError(
                            f"subs entries must be strings, got {sub!r}",
                            spec.where,
                        )
                    )
                    continue
                target = plugins.get(sub) or implicit(sub, "Decoder")
                if target is None or target.category != "Decoder":
                    errors.append(
                        ConfigError(
                            f"subs entry {sub!r} does not name a decoder",
                            spec.where,
                        )
                    )
    _check_sub_cycles(plugins, errors)


def _check_sub_cycles(
    plugins: dict[str, PluginSpec], errors: list[ConfigError]
) -> None:
    """A MultiDecoder that reaches itself through its subs is a mistake.
    """

    def subs(name: str) -> list[str]:
        spec = plugins.get(name)
        if spec is None or spec.type != "MultiDecoder":
            return []
        return [s for s in spec.config.get("subs") or []
                if isinstance(s, str)]

    for name, spec in plugins.items():
        if spec.type != "MultiDecoder":
            continue
        stack: list[tuple[str, tuple[str, ...]]] = [(name, (name,))]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for sub in subs(node):
                if sub == name:
                    errors.append(
                        ConfigError(
                            "subs form a cycle: "
                            + " -> ".join((*path, sub)),
                            spec.where,
                        )
                    )
                    stack = []
                    break
                if sub not in seen:
                    seen.add(sub)
                    stack.append((sub, (*path, sub)))


def load(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> Config:
    """Read and validate a configuration file or directory.

    Raises
    ------
    ConfigErrors
        Listing every mistake found.
    """
    root = Path(path).resolve()
    sections, errors = read_sections(root, env)
    return _validate(root, sections, errors)


def load_string(
    text: str,
    name: str = "<built-in>",
    directory: str | os.PathLike[str] = ".",
    env: Mapping[str, str] | None = None,
) -> Config:
    """Validate configuration given as TOML text (see :func:`load`).

    Relative paths are resolved against ``directory``.
    """
    root = Path(directory).resolve() / name
    sections: dict[str, tuple[Any, Path]] = {}
    errors: list[ConfigError] = []
    parse_into(sections, text, root, env, errors)
    return _validate(root, sections, errors, files=[])


def _validate(
    root: Path,
    sections: dict[str, tuple[Any, Path]],
    errors: list[ConfigError],
    files: list[Path] | None = None,
) -> Config:
    warnings: list[str] = []
    directory = root if root.is_dir() else root.parent
    glob_table, glob_file = sections.pop("hekad", ({}, root))
    glob = _load_globals(
        glob_table,
        f"{glob_file} [hekad]",
        directory if glob_file == root and root.is_dir() else glob_file.parent,
        errors,
        warnings,
    )
    found: dict[str, PluginSpec] = {}
    for name, (table, f) in sections.items():
        spec = _check_section(
            name, table, f"{f} [{name}]", f.parent, glob, errors, warnings
        )
        if spec is not None:
            found[name] = spec
    _add_defaults(found, glob, directory, errors)
    _check_references(found, errors)
    ordered: dict[str, PluginSpec] = {}
    for cat in LOAD_ORDER:
        specs = [s for s in found.values() if s.category == cat]
        if cat == "Decoder":
            specs.sort(key=lambda s: s.type == "MultiDecoder")
        ordered.update((s.name, s) for s in specs)
    if files is None:
        files = config_files(root)
    config = Config(glob, ordered, files, directory, warnings)
    if errors:
        raise ConfigErrors(errors, config)
    return config


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
