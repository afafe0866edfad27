"""preserve_data: the state file, its restore and its atomic write."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_sandbox_helpers import Collector, sample

from hekapy import SandboxError
from hekapy.sandbox import SandboxFilter
from hekapy.sandbox._state import write_atomically

SCRIPT = """require "circular_buffer"
require "string"
_PRESERVATION_VERSION = read_config("version") or 0
count = 0
started = "fresh"
function process_message()
    count = count + 1
    return 0
end
function timer_event(ns)
    inject_payload("txt", "", count, " ", started)
end
"""


def _run(tmp_path: Path, source: str, **cfg: object) -> SandboxFilter:
    f = SandboxFilter("state.test", {"source": source,
                                     "preserve_data": True,
                                     "state_directory": str(tmp_path),
                                     **cfg})
    f.start(Collector().context)
    return f


def test_state_survives_a_restart(tmp_path: Path) -> None:
    f = _run(tmp_path, SCRIPT)
    for _ in range(3):
        f.process_message(sample())
    f.stop()
    data = (tmp_path / "state_test.data").read_text()
    assert data.startswith("if _PRESERVATION_VERSION and "
                           "_PRESERVATION_VERSION ~= 0 then return end\n")
    assert '_G["count"] = 3\n' in data
    g = _run(tmp_path, SCRIPT)
    assert g._env[b"globals"][b"count"] == 3


def test_version_change_starts_fresh(tmp_path: Path) -> None:
    f = _run(tmp_path, SCRIPT)
    f.process_message(sample())
    f.stop()
    g = _run(tmp_path, SCRIPT, config={"version": 2})
    g.process_message(sample())
    assert g.stats["process_count"] == 1
    g.stop()
    assert "~= 2 then return end" in (tmp_path / "state_test.data"
                                      ).read_text()
    h = _run(tmp_path, SCRIPT + "\nassert(count == 0)",
             config={"version": 2})
    assert h._env[b"globals"][b"count"] == 1


VALUES = """
require "circular_buffer"
function process_message() return 0 end
function setup()
    num = 0.123456789
    big = 2^40 + 0.5
    neg = -7
    weird = {0/0, 1/0, -1/0}
    text = "line\\nbreak \\"quoted\\" \\0 end"
    flag = false
    nested = {a = {b = {c = "deep"}}, [5] = "five", [true] = "yes"}
    shared = {n = 1}
    refs = {one = shared, two = shared}
    cycle = {}
    cycle.self = cycle
    fn = function() end
    meta = setmetatable({}, {})
    cb = circular_buffer.new(2, 1, 60)
    cb:set_header(1, "Hits")
    cb:add(60e9, 1, 3)
end
"""


def test_every_kind_of_value(tmp_path: Path) -> None:
    f = _run(tmp_path, VALUES + "\nsetup()")
    f.stop()
    data = (tmp_path / "state_test.data").read_text()
    assert '_G["num"] = 0.12345679\n' in data
    assert '_G["fn"]' not in data and '_G["meta"]' not in data
    assert '_G["circular_buffer"]' not in data
    g = _run(tmp_path, VALUES)
    out = g._env[b"globals"]
    lua = g._runtime.eval
    check = lua("""function(G)
        local w = G.weird
        return G.num == 0.12345679, G.big == 2^40 + 0.5, G.neg == -7,
            w[1] ~= w[1], w[2] == 1/0, w[3] == -1/0,
            G.text == "line\\nbreak \\"quoted\\" \\0 end", G.flag == false,
            G.nested.a.b.c == "deep", G.nested[5] == "five",
            G.nested[true] == "yes", G.refs.one == G.refs.two,
            G.refs.one == G.shared, G.cycle.self == G.cycle,
            G.cb:get(60e9, 1) == 3, (G.cb:get_header(1)) == "Hits"
    end""")
    assert list(check(out)) == [True] * 16


def test_restore_runs_after_the_top_level(tmp_path: Path) -> None:
    (tmp_path / "state_test.data").write_text(
        '_G["x"] = 5\n_G["t"] = {}\n_G["t"]["k"] = "v"\n')
    f = _run(tmp_path, "x = 1 y = 2 t = {k = 'old', keep = 1}\n"
                       "function process_message() return 0 end")
    g = f._env[b"globals"]
    assert (g[b"x"], g[b"y"], g[b"t"][b"k"], g[b"t"][b"keep"]) == (
        5, 2, b"v", None)


def test_broken_state_file_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "state_test.data").write_text("_G['x'] = = 1")
    with pytest.raises(SandboxError, match="restore_global_data"):
        _run(tmp_path, "function process_message() return 0 end")


def test_hostile_state_file_is_limited(tmp_path: Path) -> None:
    (tmp_path / "state_test.data").write_text("while true do end")
    with pytest.raises(SandboxError, match="instruction_limit exceeded"):
        _run(tmp_path, "function process_message() return 0 end",
             instruction_limit=1000)


def test_default_path_under_base_dir(tmp_path: Path) -> None:
    f = SandboxFilter("a-b.c", {"source": "x = 1 function process_message"
                                          "() return 0 end",
                                "preserve_data": True})
    f.start(Collector(str(tmp_path)).context)
    f.stop()
    assert (tmp_path / "sandbox_preservation" / "a_b_c.data").exists()


def test_write_atomically_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "x.data"
    write_atomically(str(path), b"old")
    write_atomically(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["x.data"]


def test_killed_during_the_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "f.data"
    write_atomically(str(path), b"previous state")
    child = textwrap.dedent(f"""
        import os, sys, time
        from hekapy.sandbox import _state
        real_fsync = os.fsync
        def slow_fsync(fd):
            print("writing", flush=True)
            time.sleep(30)
        _state.os.fsync = slow_fsync
        _state.write_atomically({str(path)!r}, b"x" * 10_000_000)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent))
    proc = subprocess.Popen([sys.executable, "-c", child], env=env,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"writing\n"
        proc.kill()
    finally:
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert path.read_bytes() == b"previous state"


def test_saving_runs_none_of_the_scripts_code(tmp_path: Path) -> None:
    # An __eq shared by _G and a saved table would run, with no limit,
    # if saving compared them with ==.
    f = _run(tmp_path, """
    local mt = {__eq = function() while true do end end}
    setmetatable(_G, mt)
    x = setmetatable({}, mt)
    n = 1
    function process_message() return 0 end
    """, instruction_limit=1000)
    f.stop()
    assert '_G["n"] = 1\n' in (tmp_path / "state_test.data").read_text()


def test_a_state_file_cannot_swap_the_thread_environment(
    tmp_path: Path,
) -> None:
    (tmp_path / "state_test.data").write_text(
        'setfenv("0", setmetatable({}, {__index = function() '
        'error("boom") end}))\n')
    code = textwrap.dedent(f"""
        from hekapy import SandboxError
        from hekapy.sandbox import SandboxFilter
        from test_sandbox_helpers import Collector
        f = SandboxFilter("state.test", {{
            "source": "function process_message() return 0 end",
            "preserve_data": True, "state_directory": {str(tmp_path)!r}}})
        try:
            f.start(Collector().context)
        except SandboxError as e:
            print("refused:", e)
        print("alive")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).parent.parent), str(Path(__file__).parent)]))
    res = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-1000:]
    assert "setfenv cannot change the thread's environment" in res.stdout
    assert res.stdout.rstrip().endswith("alive")
