"""Shared fixtures: both fast-path twins, the real data files."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
STREAMS = DATA / "heka_streams"
LOGS = DATA / "logs"


def _twins() -> list[object]:
    pure = importlib.import_module("hekapy._purepath")
    if os.environ.get("HEKAPY_NO_EXTENSIONS", "") not in ("", "0"):
        return [pure]
    try:
        fast: object = importlib.import_module("hekapy._fastpath")
    except ImportError:
        # Not built: its cases show as skipped, and test_build.py fails.
        fast = pytest.param(None, marks=pytest.mark.skip(
            reason="hekapy._fastpath is not built"))
    return [pure, fast]


def _twin_id(mod: object) -> str:
    name = getattr(mod, "__name__", "_fastpath")
    return str(name).split(".")[-1]


@pytest.fixture(params=_twins(), ids=_twin_id)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """Each implementation of the fast path in turn."""
    return request.param  # type: ignore[no-any-return]
