"""The embedding example runs and prints what it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_embed_router_example_runs() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed_router.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0] == "printer: web.request from web: GET /page/7"
    assert lines[1] == (
        "printer: heka.sandbox-output from totals: 10 requests, 4500 bytes"
    )
    report = json.loads("\n".join(lines[2:]))
    assert report["totals"]["processed"] == 10
    assert report["totals"]["injected"] == 1
    assert report["printer"]["processed"] == 2
    assert proc.stderr == ""
