"""Loading hekad-style TOML: files, directories, %ENV, globals, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hekapy import ConfigError
from hekapy.daemon import config as cfg
from hekapy.daemon import registry


def write(tmp_path: Path, text: str, name: str = "hekad.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def errors_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(cfg.ConfigErrors) as info:
        cfg.load(path, env=env or {})
    return [str(e) for e in info.value.errors]


OUTPUT = """
[out]
type = "FileOutput"
message_matcher = "TRUE"
path = "out.log"
"""


# -- %ENV --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("a = '%ENV[X]'", {"X": "1"}, "a = '1'"),
        ("a = '%ENV[X]'", {}, "a = ''"),
        ("a = '%ENV[X]%ENV[Y]'", {"X": "1", "Y": "2"}, "a = '12'"),
        ("a = '50%'", {}, "a = '50%'"),
        ("a = '%ENVX'", {}, "a = '%ENVX'"),
    ],
)
def test_env_substitution(
    text: str, env: dict[str, str], expected: str
) -> None:
    out, errors = cfg.substitute_env(text, env)
    assert out == expected
    assert errors == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a = '%ENV[X'", "missing ']'"),
        ("a = '%ENV[A B]'", "bad environment variable name 'A B'"),
        ("a = '%ENV[A\tB]'", "bad environment variable name"),
        ("a = '%ENV[%ENV[X]'", "bad environment variable name"),
    ],
)
def test_env_errors(text: str, needle: str) -> None:
    _, errors = cfg.substitute_env(text, {}, "f.toml")
    assert len(errors) == 1
    assert needle in str(errors[0])
    assert "f.toml line 1" in str(errors[0])


def test_env_used_in_plugin_section(tmp_path: Path) -> None:
    p = write(tmp_path, OUTPUT.replace('"out.log"', '"%ENV[OUTDIR]/o.log"'))
    c = cfg.load(p, env={"OUTDIR": "/var/x"})
    assert c.plugins["out"].config["path"] == "/var/x/o.log"


# -- files and directories -----------------------------------------------


def test_directory_loads_in_lexical_order_whole_sections(
    tmp_path: Path,
) -> None:
    write(tmp_path, OUTPUT + 'perm = "600"\n', "10-a.toml")
    write(tmp_path, OUTPUT.replace('"out.log"', '"b.log"'), "20-b.toml")
    write(tmp_path, "not toml at all [[[", "30-c.txt")
    c = cfg.load(tmp_path, env={})
    spec = c.plugins["out"]
    assert spec.config["path"] == str(tmp_path / "b.log")
    assert spec.config["perm"] == "644"  # replaced whole, not merged
    assert [f.name for f in c.files] == ["10-a.toml", "20-b.toml"]


def test_directory_without_toml_files(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("")
    assert any("no *.toml files" in e for e in errors_of(tmp_path))


def test_missing_path(tmp_path: Path) -> None:
    assert any("no such file" in e for e in errors_of(tmp_path / "nope"))


def test_bad_toml_names_file(tmp_path: Path) -> None:
    p = write(tmp_path, "[a\nb = ")
    (err,) = errors_of(p)
    assert err.startswith("bad TOML") and str(p) in err


def test_relative_paths_resolve_against_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    p = write(sub, OUTPUT + '[hekad]\nbase_dir = "state"\n')
    c = cfg.load(p, env={})
    assert c.plugins["out"].config["path"] == str(sub / "out.log")
    assert c.globals["base_dir"] == str(sub / "state")


# -- [hekad] -------------------------------------------------------------


def test_global_defaults(tmp_path: Path) -> None:
    c = cfg.load(write(tmp_path, OUTPUT), env={})
    g = c.globals
    assert g["poolsize"] == 100
    assert g["plugin_chansize"] == 30
    assert g["max_message_loops"] == 4
    assert g["max_process_inject"] == 1
    assert g["max_timer_inject"] == 10
    assert g["max_message_size"] == 65536
    assert g["sample_denominator"] == 1000
    assert g["matcher_dialect"] == "heka"
    assert g["hostname"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("poolsize", 5),
        ("plugin_chansize", 7),
        ("max_message_loops", 2),
        ("max_process_inject", 3),
        ("max_process_duration", 5000),
        ("max_timer_inject", 4),
        ("sample_denominator", 10),
        ("hostname", "h1"),
        ("max_message_size", 2048),
        ("matcher_dialect", "lua_sandbox"),
        ("report_interval", 5),
        ("log_level", "debug"),
    ],
)
def test_global_options(tmp_path: Path, key: str, value: object) -> None:
    text = f"[hekad]\n{key} = {value!r}\n".replace("'", '"') + OUTPUT
    c = cfg.load(write(tmp_path, text), env={})
    assert c.globals[key] == value


def test_global_ignored_options_warn(tmp_path: Path) -> None:
    text = "[hekad]\nmaxprocs = 4\ncpuprof = 'x'\n" + OUTPUT
    c = cfg.load(write(tmp_path, text), env={})
    assert len(c.warnings) == 2
    assert "'maxprocs' has no effect" in c.warnings[0]


def test_max_message_loops_zero_is_one(tmp_path: Path) -> None:
    text = "[hekad]\nmax_message_loops = 0\n" + OUTPUT
    c = cfg.load(write(tmp_path, text), env={})
    assert c.globals["max_message_loops"] == 1


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("bogus = 1", "unknown global setting 'bogus'"),
        ("poolsize = 'x'", "'poolsize' must be an integer"),
        ("max_message_size = 1024", "max_message_size must be larger"),
        ("sample_denominator = 0", "sample_denominator must be positive"),
        ("matcher_dialect = 'lua'", "matcher_dialect must be"),
        ("log_level = 'loud'", "log_level must be"),
    ],
)
def test_global_errors(tmp_path: Path, line: str, needle: str) -> None:
    p = write(tmp_path, f"[hekad]\n{line}\n" + OUTPUT)
    (err,) = errors_of(p)
    assert needle in err
    assert err.endswith(f"in {p} [hekad]")


# -- plugin sections -------------------------------------------------------


def test_name_is_type_when_type_omitted(tmp_path: Path) -> None:
    p = write(tmp_path, "[CounterFilter]\nmessage_matcher = 'TRUE'\n")
    spec = cfg.load(p, env={}).plugins["CounterFilter"]
    assert spec.type == "CounterFilter"
    assert spec.category == "Filter"
    assert spec.config["ticker_interval"] == 5


def test_default_plugins_are_present(tmp_path: Path) -> None:
    c = cfg.load(write(tmp_path, OUTPUT), env={})
    for name in cfg.DEFAULT_PLUGINS:
        assert name in c.plugins and not c.plugins[name].explicit


def test_load_order(tmp_path: Path) -> None:
    text = (
        OUTPUT
        + """
[in]
type = "StdinInput"
[multi]
type = "MultiDecoder"
subs = ["ProtobufDecoder"]
[f]
type = "CounterFilter"
message_matcher = "TRUE"
[enc]
type = "RstEncoder"
"""
    )
    c = cfg.load(write(tmp_path, text), env={})
    cats = [s.category for s in c.plugins.values()]
    assert cats == sorted(cats, key=cfg.LOAD_ORDER.index)
    decoders = [s.type for s in c.of("Decoder")]
    assert decoders[-1] == "MultiDecoder"


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        (
            "[x]\ntype = 'NoSuchOutput'\nmessage_matcher='TRUE'",
            "no registered plugin type 'NoSuchOutput'",
        ),
        (
            "[x]\ntype = 'KafkaOutput'\nmessage_matcher='TRUE'",
            "'KafkaOutput' exists in Heka but is not implemented",
        ),
        ("[x]\ntype = 'Whatever'", "unrecognized plugin category"),
        ("[x]\ntype = 3", "'type' must be a string"),
        (
            "[CounterFilter]\nticker_interval = 1",
            "'message_matcher' is required",
        ),
        (
            "[CounterFilter]\nmessage_matcher = 'TRUE'\nbogus = 1",
            "unknown config setting 'bogus'",
        ),
        (
            "[CounterFilter]\nmessage_matcher = 'TRUE'\nticker_interval = 'x'",
            "'ticker_interval' must be an integer",
        ),
        (
            "[CounterFilter]\nmessage_matcher = 'TRUE'\nmatcher_dialect = 'x'",
            "matcher_dialect must be",
        ),
        (
            "[i]\ntype = 'StdinInput'\ndecoder = 'nope'",
            "decoder 'nope' does not name a decoder",
        ),
        (
            "[i]\ntype = 'StdinInput'\nsplitter = 'ProtobufDecoder'",
            "splitter 'ProtobufDecoder' does not name a splitter",
        ),
        (
            "[o]\ntype = 'LogOutput'\nmessage_matcher = 'TRUE'\nencoder = 'x'",
            "encoder 'x' does not name an encoder",
        ),
        (
            "[m]\ntype = 'MultiDecoder'\nsubs = ['ProtobufDecoder', 'zz']",
            "subs entry 'zz' does not name a decoder",
        ),
        ("[t]\ntype = 'TcpInput'\naddress = 5", "'address' must be a string"),
        (
            "[t]\ntype = 'TokenSplitter'\ncount = true",
            "'count' must be an integer",
        ),
    ],
)
def test_section_errors_name_section_and_key(
    tmp_path: Path, section: str, needle: str
) -> None:
    p = write(tmp_path, section + "\n")
    (err,) = errors_of(p)
    assert needle in err
    name = section.split("]")[0][1:]
    assert err.endswith(f"in {p} [{name}]")


def test_bad_matcher_is_reported(tmp_path: Path) -> None:
    if not hasattr(pytest.importorskip("hekapy.matcher"), "Matcher"):
        pytest.skip("hekapy.matcher.Matcher is not available")
    p = write(tmp_path, "[CounterFilter]\nmessage_matcher = 'Type =='\n")
    (err,) = errors_of(p)
    assert "bad message_matcher 'Type =='" in err
    assert "column" in err


def test_ten_mistakes_are_all_named(tmp_path: Path) -> None:
    text = """
[hekad]
poolsize = "many"
no_such_global = 1

[a]
type = "NoSuchInput"

[b]
type = "FileOutput"
path = "x"

[c]
type = "TcpInput"
adress = "127.0.0.1:1"

[d]
type = "TokenSplitter"
count = "2"

[e]
type = "LogstreamerInput"
decoder = "missing_decoder"

[f]
type = "CounterFilter"
message_matcher = "TRUE"
ticker_interval = 1.5

[g]
type = "FileOutput"
message_matcher = "TRUE"
path = "y"
encoder = "ProtobufDecoder"

[h]
type = "MultiDecoder"
subs = ["ghost"]
"""
    p = write(tmp_path, text)
    with pytest.raises(cfg.ConfigErrors) as info:
        cfg.load(p, env={})
    lines = info.value.lines()
    assert lines[-1] == "10 errors loading configuration"
    joined = "\n".join(lines)
    for needle in (
        "'poolsize' must be an integer",
        "unknown global setting 'no_such_global'",
        "no registered plugin type 'NoSuchInput'",
        "[b]",
        "unknown config setting 'adress'",
        "'count' must be an integer",
        "decoder 'missing_decoder' does not name",
        "'ticker_interval' must be an integer",
        "encoder 'ProtobufDecoder' does not name",
        "subs entry 'ghost'",
    ):
        assert needle in joined
    assert len(info.value.errors) == 10


def test_unsupported_option_warns(tmp_path: Path) -> None:
    class Fake:
        config_schema = {"a": 1}
        unsupported_options = frozenset(("old",))

    registry._cache["FakeOutput"] = Fake
    try:
        p = write(
            tmp_path,
            "[x]\ntype = 'FakeOutput'\nmessage_matcher = 'TRUE'\nold = 1\n",
        )
        c = cfg.load(p, env={})
    finally:
        del registry._cache["FakeOutput"]
    assert "option 'old' of FakeOutput is not supported" in c.warnings[0]
    assert "old" not in c.plugins["x"].config


def test_config_error_is_heka_error() -> None:
    e = cfg.ConfigErrors([ConfigError("x", "f [s]")])
    assert isinstance(e, ConfigError)
    assert e.lines() == ["x in f [s]", "1 error loading configuration"]


def test_load_string_builtin() -> None:
    from hekapy.daemon.cli import DEFAULT_CONFIG

    c = cfg.load_string(DEFAULT_CONFIG)
    assert c.plugins["DefaultTcpInput"].config["address"] == "127.0.0.1:5565"
    assert (
        c.plugins["DefaultLogOutput"].config["encoder"] == "DefaultRstEncoder"
    )


def test_disk_buffering_only_where_supported(tmp_path: Path) -> None:
    text = (
        OUTPUT + "use_buffering = true\n[t]\ntype = 'TcpOutput'\n"
        "message_matcher = 'TRUE'\nuse_buffering = true\n"
    )
    c = cfg.load(write(tmp_path, text), env={})
    assert len(c.warnings) == 1
    assert (
        "option 'use_buffering' of FileOutput is not supported"
        in c.warnings[0]
    )


@pytest.mark.parametrize("type_name", ["ProtobufDecoder", "ProtobufEncoder",
                                       "RstEncoder"])
def test_built_ins_without_options_refuse_unknown_keys(
    tmp_path: Path, type_name: str
) -> None:
    p = write(tmp_path, f"[x]\ntype = '{type_name}'\nbogus = 3\n")
    assert errors_of(p) == [
        f"unknown config setting 'bogus' in {p} [x]"]


def test_a_third_party_plugin_without_a_schema_takes_any_key(
    tmp_path: Path,
) -> None:
    class Loose:
        pass

    registry._cache["LooseOutput"] = Loose
    try:
        p = write(
            tmp_path,
            "[x]\ntype = 'LooseOutput'\nmessage_matcher = 'TRUE'\nany = 1\n",
        )
        c = cfg.load(p, env={})
    finally:
        del registry._cache["LooseOutput"]
    assert c.plugins["x"].config["any"] == 1
