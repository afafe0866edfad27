"""--check loads sandbox scripts; stats outlive a stopped sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hekapy import Message, Pack
from hekapy.plugins import PluginContext
from hekapy.sandbox import SandboxFilter


def test_check_reports_missing_and_broken_scripts(tmp_path: Path) -> None:
    (tmp_path / "broken.lua").write_text("function process_message()\n")
    (tmp_path / "good.lua").write_text(
        "function process_message() return 0 end\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f"[hekad]\nshare_dir = '{tmp_path}'\n"
        "[missing]\ntype = 'SandboxFilter'\nfilename = 'nope.lua'\n"
        "message_matcher = 'TRUE'\n"
        "[broken]\ntype = 'SandboxFilter'\nfilename = 'broken.lua'\n"
        "message_matcher = 'TRUE'\n"
        "[good]\ntype = 'SandboxFilter'\nfilename = 'good.lua'\n"
        "message_matcher = 'TRUE'\n")
    res = subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", "-config", str(cfg),
         "--check"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "cannot read sandbox script" in res.stderr
    assert "'end' expected" in res.stderr
    assert "[missing]" in res.stderr and "[broken]" in res.stderr
    assert "[good]" not in res.stderr


def test_stats_keep_their_peaks_after_stop(tmp_path: Path) -> None:
    f = SandboxFilter("s", {"source": (
        "function process_message() add_to_payload(string.rep('x', 100)) "
        "inject_payload() return 0 end\nrequire 'string'")})
    f.start(PluginContext("s", lambda m: None, base_dir=str(tmp_path)))
    f.process_message(Pack(Message(type="t").encode()))
    before = f.stats
    f.stop()
    after = f.stats
    assert before["max_output"] >= 100
    assert after["max_output"] == before["max_output"]
    assert after["max_instructions"] == before["max_instructions"]


def test_bad_regex_reason_is_text_and_re2_stays_quiet(capfd) -> None:
    import pytest

    from hekapy import ConfigError
    from hekapy._regex import compile_re2

    with pytest.raises(ConfigError) as info:
        compile_re2("(?P<a>[", "match_regex")
    assert str(info.value) == "bad match_regex '(?P<a>[': missing ]: ["
    assert capfd.readouterr().err == ""


def test_counter_filter_takes_timer_event_on_shutdown(tmp_path: Path
                                                       ) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[c]\ntype = 'CounterFilter'\nmessage_matcher = 'TRUE'\n"
                   "timer_event_on_shutdown = true\n")
    res = subprocess.run(
        [sys.executable, "-m", "hekapy.daemon", "-config", str(cfg),
         "--check"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
