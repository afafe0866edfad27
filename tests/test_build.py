"""The compiled fast path is in use wherever it should be."""

from __future__ import annotations

import os
import subprocess
import sys

import hekapy


def test_extension_loaded_unless_disabled() -> None:
    disabled = os.environ.get("HEKAPY_NO_EXTENSIONS", "") not in ("", "0")
    assert hekapy.EXTENSION_LOADED is not disabled


def test_environment_switch_forces_the_twin() -> None:
    code = ("import hekapy, hekapy._impl as i; "
            "print(hekapy.EXTENSION_LOADED, i.impl.__name__)")
    env = dict(os.environ, HEKAPY_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "hekapy._purepath"]


def test_public_names_are_documented() -> None:
    for name in hekapy.__all__:
        obj = getattr(hekapy, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"
