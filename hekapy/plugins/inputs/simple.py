"""StdinInput and FilePollingInput."""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError
from hekapy.plugins._api import Input


class _Stoppable(Input):
    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()


class StdinInput(_Stoppable):
    """Reads standard input to its end (splitter TokenSplitter)."""

    config_schema = {"splitter": "TokenSplitter"}

    fd: int | None = None

    def run(self, host: Any) -> None:
        fd = self.fd if self.fd is not None else sys.stdin.fileno()
        stream = host.stream("stdin")
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            stream.feed(data)
        stream.close()


class FilePollingInput(_Stoppable):
    """Reads a whole file every ``ticker_interval`` seconds.

    Each read is one stream; with the default NullSplitter the file's
    content is one record.  Under ``--run-once`` the file is read once.
    """

    config_schema = {
        "file_path": "",
        "ticker_interval": 0,
        "splitter": "NullSplitter",
    }
    path_options = ("file_path",)

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        if not self.config["file_path"]:
            raise ConfigError("'file_path' is required")
        if self.config["ticker_interval"] <= 0:
            raise ConfigError(
                f"ticker_interval must be positive, got "
                f"{self.config['ticker_interval']!r}"
            )
        self.reads = 0
        self.failures = 0

    def run(self, host: Any) -> None:
        while True:
            try:
                with open(self.config["file_path"], "rb") as f:
                    data = f.read()
            except OSError as exc:
                self.failures += 1
                if self.context is not None:
                    self.context.logger.error(
                        "cannot read %s: %s", self.config["file_path"], exc
                    )
            else:
                self.reads += 1
                stream = host.stream(self.config["file_path"])
                stream.feed(data)
                stream.close()
            if host.run_once or self._stop.wait(
                self.config["ticker_interval"]
            ):
                return
