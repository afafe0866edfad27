"""Choose the compiled fast path or its pure-Python twin.

Both modules export the same names.  ``HEKAPY_NO_EXTENSIONS=1`` forces
the twin; a missing or broken extension falls back to it with one
warning.  ``EXTENSION_LOADED`` says which one is in use.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import TYPE_CHECKING


def _choose() -> tuple[ModuleType, bool]:
    from hekapy import _purepath

    if os.environ.get("HEKAPY_NO_EXTENSIONS", "") not in ("", "0"):
        return _purepath, False
    try:
        from hekapy import _fastpath  # type: ignore[attr-defined]
    except ImportError as exc:
        warnings.warn(
            f"hekapy's compiled fast path is not available ({exc}); "
            "using the pure-Python twin, which is much slower",
            RuntimeWarning, stacklevel=3)
        return _purepath, False
    return _fastpath, True


impl, EXTENSION_LOADED = _choose()

if TYPE_CHECKING:
    # The twin is the source of types for both implementations.
    from hekapy._purepath import MessageView as MessageView
    from hekapy._purepath import Record as Record
    from hekapy._purepath import StreamReader as StreamReader
else:
    MessageView = impl.MessageView
    Record = impl.Record
    StreamReader = impl.StreamReader
