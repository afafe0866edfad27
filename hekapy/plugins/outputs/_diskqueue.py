"""A disk queue of framed records with a persistent read cursor.

Records are appended to ``<dir>/<id>.log``; a file rolls to ``<id+1>``
once it reaches ``max_file_size``.  The reader's position is kept in
``<dir>/checkpoint.txt`` as ``"<file id> <offset>"``, replaced
atomically; files wholly behind the cursor are deleted.  An output that
commits the cursor only after the peer has taken the records loses
nothing when the peer or the process goes away; it may send a record
twice.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hekapy._impl import StreamReader

Cursor = tuple[int, int]


class DiskQueue:
    """Append framed records; read them back from a committed cursor."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_file_size: int = 512 * 1024 * 1024,
        max_message_size: int = 65536,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_file_size = max_file_size
        self.max_message_size = max_message_size
        self.lock = threading.Condition()
        ids = self._ids()
        self.write_id = ids[-1] if ids else 0
        path = self._path(self.write_id)
        self._out = open(path, "ab")
        self.write_offset = self._out.tell()
        self.cursor = self._load_cursor(ids)
        self.corrupt_bytes = 0

    def _ids(self) -> list[int]:
        return sorted(
            int(p.stem) for p in self.dir.glob("*.log") if p.stem.isdigit()
        )

    def _path(self, fid: int) -> Path:
        return self.dir / f"{fid}.log"

    def _load_cursor(self, ids: list[int]) -> Cursor:
        try:
            text = (self.dir / "checkpoint.txt").read_text()
            fid, off = (int(x) for x in text.split())
            return fid, off
        except (OSError, ValueError):
            return (ids[0] if ids else 0), 0

    def append(self, record: bytes) -> None:
        """Add one framed record at the end of the queue."""
        with self.lock:
            self._out.write(record)
            self._out.flush()
            self.write_offset += len(record)
            if self.write_offset >= self.max_file_size:
                self._out.close()
                self.write_id += 1
                self._out = open(self._path(self.write_id), "ab")
                self.write_offset = 0
            self.lock.notify_all()

    def size(self) -> int:
        """Bytes between the committed cursor and the end."""
        fid, off = self.cursor
        total = 0
        for i in range(fid, self.write_id + 1):
            try:
                total += self._path(i).stat().st_size
            except OSError:
                pass
        return max(total - off, 0)

    def empty_at(self, cursor: Cursor) -> bool:
        """Whether nothing is queued after ``cursor``."""
        return cursor == (self.write_id, self.write_offset)

    def read(
        self,
        cursor: Cursor,
        limit: int = 256 * 1024,
    ) -> tuple[list[bytes], Cursor]:
        """Framed records after ``cursor`` (up to about ``limit`` bytes)
        and the cursor after the last one."""
        fid, off = cursor
        with self.lock:
            if fid < self.write_id and off >= self._file_size(fid):
                nxt = fid + 1
                while nxt < self.write_id and not self._path(nxt).exists():
                    nxt += 1
                return [], (nxt, 0)
        try:
            with open(self._path(fid), "rb") as f:
                f.seek(off)
                data = f.read(limit)
                while data and len(data) < self.max_message_size + 300:
                    more = f.read(self.max_message_size + 300)
                    if not more:
                        break
                    data += more
        except FileNotFoundError:
            return [], (fid + 1, 0) if fid < self.write_id else (fid, off)
        reader = StreamReader(self.max_message_size)
        out: list[bytes] = []
        end = 0
        for rec in reader.feed(data):
            hlen = data[rec.offset + 1]
            stop = rec.offset + 3 + hlen + len(rec.message)
            out.append(data[rec.offset : stop])
            end = stop
        if not out and data and reader.buffered == 0:
            self.corrupt_bytes += len(data)
            end = len(data)
        elif not out and reader.buffered:
            start = reader.buffered_offset
            self.corrupt_bytes += start
            end = start
        return out, (fid, off + end)

    def _file_size(self, fid: int) -> int:
        try:
            return self._path(fid).stat().st_size
        except OSError:
            return 0

    def commit(self, cursor: Cursor) -> None:
        """Remember ``cursor`` and delete files wholly before it."""
        self.cursor = cursor
        tmp = self.dir / "checkpoint.txt.tmp"
        tmp.write_text(f"{cursor[0]} {cursor[1]}")
        os.replace(tmp, self.dir / "checkpoint.txt")
        for fid in self._ids():
            if fid < cursor[0]:
                try:
                    self._path(fid).unlink()
                except OSError:
                    pass

    def close(self) -> None:
        with self.lock:
            self._out.close()
