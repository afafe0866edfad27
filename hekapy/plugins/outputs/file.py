"""FileOutput: encoded messages appended to a file."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any, BinaryIO

from hekapy._errors import ConfigError
from hekapy._pack import Pack
from hekapy.plugins.outputs._base import EncodingOutput


def _mode(text: str, key: str) -> int:
    try:
        return int(text, 8)
    except ValueError as exc:
        raise ConfigError(
            f"{key} must be an octal string, got {text!r}"
        ) from exc


class FileOutput(EncodingOutput):
    """Appends each encoded message to ``path``.

    Writes are buffered and flushed after ``flush_count`` messages
    and/or ``flush_interval`` milliseconds (``flush_operator`` "AND" or
    "OR"), and always on stop.  With ``rotation_interval`` (hours: 1, 4,
    12 or 24) the path is a ``strftime`` pattern and a new file starts at
    each interval boundary (UTC).
    """

    config_schema = {
        "path": "",
        "perm": "644",
        "folder_perm": "700",
        "flush_interval": 1000,
        "flush_count": 1,
        "flush_operator": "AND",
        "rotation_interval": 0,
        "encoder": "",
        "use_framing": None,
    }
    path_options = ("path",)

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        if not cfg["path"]:
            raise ConfigError("'path' is required")
        self._perm = _mode(cfg["perm"], "perm")
        self._folder_perm = _mode(cfg["folder_perm"], "folder_perm")
        if cfg["flush_operator"] not in ("AND", "OR"):
            raise ConfigError(
                f"flush_operator must be 'AND' or 'OR', got "
                f"{cfg['flush_operator']!r}"
            )
        if cfg["rotation_interval"] not in (0, 1, 4, 12, 24):
            raise ConfigError(
                f"rotation_interval must be 0, 1, 4, 12 or 24, got "
                f"{cfg['rotation_interval']!r}"
            )
        self._file: BinaryIO | None = None
        self.current_path = ""
        self._next_rotation = 0.0
        self._pending = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.written = 0
        self._sink: Any = None

    def _open(self, now: float) -> None:
        hours = self.config["rotation_interval"]
        path = self.config["path"]
        if hours:
            span = hours * 3600
            start = now - now % span
            self._next_rotation = start + span
            path = time.strftime(path, time.gmtime(start))
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, mode=self._folder_perm, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self._perm)
        self._file = os.fdopen(fd, "ab")
        self.current_path = path

    def start(self, context: Any) -> None:
        super().start(context)
        self._open(time.time())
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"{self.name}-flush", daemon=True
        )
        self._flusher.start()

    def _flush_loop(self) -> None:
        interval = max(self.config["flush_interval"], 10) / 1000
        while not self._stop.wait(interval):
            with self._lock:
                if self._pending and self._file is not None:
                    self._flush()

    def _flush(self) -> None:
        assert self._file is not None
        self._file.flush()
        self._pending = 0
        self._last_flush = time.monotonic()

    def direct_target(self) -> Any:
        """A FrameSink for the router's compiled loop, or None.

        Only when the records written are the messages' own bytes,
        framed: the default ProtobufEncoder with framing on.  The
        router then appends records to the sink and hands the block to
        :meth:`write_frames` after each chunk it routes.
        """
        from hekapy._impl import impl
        from hekapy.plugins.encoders import ProtobufEncoder

        sink_type = getattr(impl, "FrameSink", None)
        if sink_type is None or not self.framing:
            return None
        if type(self._ensure_encoder()) is not ProtobufEncoder:
            return None
        limit = self.max_message_size
        self._sink = sink_type(-1 if limit is None else limit)
        return self._sink

    def process_message(self, pack: Pack) -> None:
        self._drain_sink()
        data = self.encode(pack)
        if data is None:
            return
        self._write(data, 1)

    def write_frames(self, data: bytes, count: int) -> None:
        """Write ``count`` framed records at once (see direct_target)."""
        self._write(data, count)

    def _drain_sink(self) -> None:
        # Records still in the sink are older than the one being
        # written: they go first.
        sink = self._sink
        if sink is not None and sink.pending:
            self._write(*sink.take())

    def _write(self, data: bytes, count: int) -> None:
        with self._lock:
            now = time.time()
            if self._next_rotation and now >= self._next_rotation:
                self._close()
                self._open(now)
            assert self._file is not None
            self._file.write(data)
            self.written += count
            self._pending += count
            cfg = self.config
            by_count = self._pending >= cfg["flush_count"]
            by_time = (time.monotonic() - self._last_flush) * 1000 >= cfg[
                "flush_interval"
            ]
            if cfg["flush_operator"] == "AND":
                due = by_count and by_time
            else:
                due = by_count or by_time
            if due or cfg["flush_interval"] == 0:
                self._flush()

    def _close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
        self._pending = 0

    def stop(self) -> None:
        self._drain_sink()
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(5)
        with self._lock:
            self._close()
