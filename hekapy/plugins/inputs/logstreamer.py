"""LogstreamerInput: rotation-aware tailing of sets of log files.

Files under ``log_directory`` whose path (relative to it) fully matches
``file_match`` are grouped into *logstreams*: the values of the
``differentiator`` entries (capture-group names or literal text) name
the stream a file belongs to.  Inside a stream the files are ordered
oldest first by ``priority``: capture-group names compared as numbers
(month names count as months), a leading ``^`` reversing the order, as
for logrotate's ``.1``, ``.2`` suffixes where higher is older; a file
lacking the group sorts as 0.

Each stream is read from its oldest file to its newest and the newest is
tailed.  A file is known by its device and inode, so renaming (rotation)
does not make it read twice.  The position is kept in a journal,
``<journal_directory>/<plugin>.<stream>.json``, holding the file, the
offset of the end of the last complete record and a hash of the bytes
before it; on restart reading resumes there when the hash still
matches, also when the file was renamed meanwhile, so lines are neither
lost nor repeated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hekapy._errors import ConfigError
from hekapy.plugins._api import Input
from hekapy.plugins.outputs._base import parse_duration

HASH_SPAN = 500
CHUNK = 256 * 1024
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        )
    )
}


def _rank(value: str | None) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, 0)
    if value.isdigit():
        return (0, int(value))
    month = _MONTHS.get(value[:3].lower())
    if month is not None:
        return (0, month)
    return (1, value)


def _neg(key: tuple[int, Any]) -> tuple[int, Any]:
    kind, value = key
    if kind == 0:
        return (0, -value)
    return (1, "".join(chr(0x10FFFF - ord(c)) for c in value))


def _tail_hash(f: BinaryIO, offset: int) -> str:
    start = max(0, offset - HASH_SPAN)
    f.seek(start)
    return hashlib.sha1(f.read(offset - start)).hexdigest()


@dataclass
class _LogFile:
    path: str
    ident: tuple[int, int]
    key: tuple[Any, ...]


@dataclass
class _Stream:
    name: str
    files: list[_LogFile] = field(default_factory=list)
    current: _LogFile | None = None
    handle: BinaryIO | None = None
    offset: int = 0
    split: Any = None
    done_ids: set[tuple[int, int]] = field(default_factory=set)


class LogstreamerInput(Input):
    """Tails log streams with seek journals (see the module doc)."""

    config_schema = {
        "log_directory": "",
        "file_match": "",
        "priority": [],
        "differentiator": [],
        "journal_directory": "",
        "rescan_interval": "1m",
        "oldest_duration": "720h",
        "initial_tail": False,
        "poll_interval": "250ms",
        "splitter": "TokenSplitter",
    }
    path_options = ("log_directory", "journal_directory")

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        if not cfg["log_directory"]:
            raise ConfigError("'log_directory' is required")
        if not cfg["file_match"]:
            raise ConfigError("'file_match' is required")
        try:
            self._re = re.compile(cfg["file_match"])
        except re.error as exc:
            raise ConfigError(
                f"bad file_match {cfg['file_match']!r}: {exc}"
            ) from exc
        groups = set(self._re.groupindex)
        for p in cfg["priority"]:
            if p.lstrip("^") not in groups:
                raise ConfigError(
                    f"priority {p!r} is not a named group of file_match"
                )
        self._rescan = parse_duration(
            cfg["rescan_interval"], "rescan_interval"
        )
        self._oldest = parse_duration(
            cfg["oldest_duration"], "oldest_duration"
        )
        self._poll = parse_duration(cfg["poll_interval"], "poll_interval")
        self._stop = threading.Event()
        self.streams: dict[str, _Stream] = {}
        self.lines_skipped_on_truncation = 0

    # -- discovery ---------------------------------------------------

    def _stream_name(self, m: re.Match[str]) -> str:
        parts = []
        for d in self.config["differentiator"]:
            parts.append(m.group(d) or "" if d in self._re.groupindex else d)
        return "".join(parts) or self.name

    def _scan(self) -> dict[str, list[_LogFile]]:
        root = Path(self.config["log_directory"])
        now = time.time()
        found: dict[str, list[_LogFile]] = {}
        for dirpath, _, names in os.walk(root):
            for n in names:
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, root)
                m = self._re.fullmatch(rel)
                if m is None:
                    continue
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                if self._oldest and now - st.st_mtime > self._oldest:
                    continue
                key = []
                for p in self.config["priority"]:
                    k = _rank(m.group(p.lstrip("^")))
                    key.append(_neg(k) if p.startswith("^") else k)
                key.append((0, st.st_mtime))
                found.setdefault(self._stream_name(m), []).append(
                    _LogFile(full, (st.st_dev, st.st_ino), tuple(key))
                )
        for files in found.values():
            files.sort(key=lambda f: f.key)
        return found

    # -- journal -----------------------------------------------------

    def _journal_path(self, stream: str) -> Path:
        base = self.config["journal_directory"] or os.path.join(
            self.context.base_dir if self.context else ".", "logstreamer"
        )
        safe = re.sub(r"[^\w.-]", "_", f"{self.name}.{stream}")
        return Path(base) / f"{safe}.json"

    def _save(self, s: _Stream) -> None:
        if s.current is None or s.handle is None:
            return
        seek = s.offset - (s.split.pending if s.split else 0)
        pos = s.handle.tell()
        digest = _tail_hash(s.handle, seek)
        s.handle.seek(pos)
        path = self._journal_path(s.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"file": s.current.path, "seek": seek, "hash": digest})
        )
        os.replace(tmp, path)

    def _resume(self, s: _Stream) -> bool:
        """Open the journaled file at its offset; False when none fits."""
        try:
            j = json.loads(self._journal_path(s.name).read_text())
            seek, digest = int(j["seek"]), str(j["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        named = [f for f in s.files if f.path == j.get("file")]
        others = [f for f in s.files if f.path != j.get("file")]
        for f in named + others[::-1]:
            try:
                h = open(f.path, "rb")
            except OSError:
                continue
            if (
                os.fstat(h.fileno()).st_size >= seek
                and _tail_hash(h, seek) == digest
            ):
                h.seek(seek)
                self._switch(s, f, h, seek)
                return True
            h.close()
        return False

    # -- reading -----------------------------------------------------

    def _switch(
        self, s: _Stream, f: _LogFile, handle: BinaryIO, offset: int
    ) -> None:
        if s.handle is not None:
            s.handle.close()
            if s.current is not None:
                s.done_ids.add(s.current.ident)
        s.current, s.handle, s.offset = f, handle, offset
        for older in s.files:
            if older.ident == f.ident:
                break
            s.done_ids.add(older.ident)

    def _open_next(self, s: _Stream) -> bool:
        for f in s.files:
            if f.ident in s.done_ids or (
                s.current is not None and f.ident == s.current.ident
            ):
                continue
            try:
                h = open(f.path, "rb")
            except OSError:
                continue
            st = os.fstat(h.fileno())
            if (st.st_dev, st.st_ino) != f.ident:
                h.close()
                continue
            if s.split is not None and s.current is not None:
                s.split.close()
            self._switch(s, f, h, 0)
            return True
        return False

    def _read_some(self, s: _Stream) -> bool:
        """Read from the current file; True when bytes were read."""
        assert s.handle is not None and s.current is not None
        try:
            size = os.stat(s.current.path).st_size
            same = (lambda st: (st.st_dev, st.st_ino))(
                os.stat(s.current.path)
            ) == s.current.ident
        except OSError:
            size, same = 0, False
        if same and size < s.offset:
            self.lines_skipped_on_truncation += 1
            if self.context is not None:
                self.context.logger.warning(
                    "%s was truncated; reading it again from the start",
                    s.current.path,
                )
            s.split.close()
            s.handle.seek(0)
            s.offset = 0
        data = s.handle.read(CHUNK)
        if not data:
            return False
        s.offset += len(data)
        s.split.feed(data)
        return True

    def start(self, context: Any) -> None:
        super().start(context)
        if not os.path.isdir(self.config["log_directory"]):
            context.logger.warning(
                "log_directory %r does not exist", self.config["log_directory"]
            )
        for name, files in self._scan().items():
            self.streams[name] = _Stream(name, files)

    def _init_stream(self, s: _Stream, host: Any) -> None:
        s.split = host.stream(s.name)
        if self._resume(s):
            return
        if self.config["initial_tail"] and s.files:
            newest = s.files[-1]
            try:
                h = open(newest.path, "rb")
            except OSError:
                return
            end = h.seek(0, os.SEEK_END)
            self._switch(s, newest, h, end)
            return
        self._open_next(s)

    def run(self, host: Any) -> None:
        for s in self.streams.values():
            self._init_stream(s, host)
        last_scan = time.monotonic()
        last_save = time.monotonic()
        try:
            while not self._stop.is_set():
                busy = False
                for s in list(self.streams.values()):
                    if s.handle is None and not self._open_next(s):
                        continue
                    if self._read_some(s):
                        busy = True
                    elif self._open_next(s):
                        busy = True
                now = time.monotonic()
                if now - last_save >= 1.0:
                    last_save = now
                    for s in self.streams.values():
                        self._save(s)
                if busy:
                    continue
                if host.run_once:
                    break
                if now - last_scan >= self._rescan or self._rotated():
                    last_scan = now
                    self._refresh(host)
                    continue
                self._stop.wait(self._poll)
        finally:
            for s in self.streams.values():
                self._save(s)
                if s.split is not None:
                    s.split.close()
                if s.handle is not None:
                    s.handle.close()

    def _rotated(self) -> bool:
        for s in self.streams.values():
            if s.current is None:
                continue
            try:
                st = os.stat(s.current.path)
            except OSError:
                return True
            if (st.st_dev, st.st_ino) != s.current.ident:
                return True
        return False

    def _refresh(self, host: Any) -> None:
        for name, files in self._scan().items():
            s = self.streams.get(name)
            if s is None:
                s = self.streams[name] = _Stream(name, files)
                s.split = host.stream(name)
                self._open_next(s)
            else:
                s.files = files

    def stop(self) -> None:
        self._stop.set()
