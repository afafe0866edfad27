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


def _twins() -> list[ModuleType]:
    mods = [importlib.import_module("hekapy._purepath")]
    if os.environ.get("HEKAPY_NO_EXTENSIONS", "") in ("", "0"):
        mods.append(importlib.import_module("hekapy._fastpath"))
    return mods


@pytest.fixture(params=_twins(), ids=lambda m: m.__name__.split(".")[-1])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """Each implementation of the fast path in turn."""
    return request.param  # type: ignore[no-any-return]
