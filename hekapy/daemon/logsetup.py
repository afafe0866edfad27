"""The daemon's log format: one line per record, with its level.

``2026-01-31 12:00:00.123 WARNING hekapy.tcp_in: text``.  Only the
daemon calls :func:`configure`; the library never touches logging
configuration.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


class _OneLine(logging.Formatter):
    """Keeps every record on one line (tracebacks folded with ' | ')."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace("\r", "").replace("\n", " | ")


def configure(level: str = "info", stream: TextIO | None = None) -> None:
    """Send hekapy's log records to ``stream`` (stderr) at ``level``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_OneLine(FORMAT, DATEFMT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
