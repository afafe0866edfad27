"""LogOutput: encoded messages to standard output, one per line."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from hekapy._pack import Pack
from hekapy.plugins.outputs._base import EncodingOutput


class LogOutput(EncodingOutput):
    """Writes each encoded message to standard output.

    The encoder defaults to PayloadEncoder; a newline is added when the
    encoded bytes do not end with one.  ``stream`` may be replaced by an
    embedding program (any binary file object).
    """

    default_encoder = "PayloadEncoder"

    stream: BinaryIO | Any = None

    def process_message(self, pack: Pack) -> None:
        data = self.encode(pack)
        if data is None:
            return
        if not data.endswith(b"\n"):
            data += b"\n"
        out = self.stream if self.stream is not None else sys.stdout.buffer
        out.write(data)
        out.flush()
