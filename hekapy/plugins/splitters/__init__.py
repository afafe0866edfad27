"""Built-in splitters: cut a byte stream into records.

Every splitter is sans-IO: :meth:`feed` takes the next chunk of one
stream and returns the records it completed, :meth:`finish` the records
left when the stream ends.  An input makes one splitter per stream.

A record that grows past ``max_record_size`` (``max_message_size`` plus
Heka's framing allowance) is never held whole: its bytes are dropped up
to the next delimiter and counted in ``counters["oversized"]``; with
``keep_truncated`` the first ``max_record_size`` bytes are delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError
from hekapy._impl import StreamReader
from hekapy._signing import Signer
from hekapy.plugins._api import Splitter

DEFAULT_MAX_MESSAGE_SIZE = 65536
FRAMING_ALLOWANCE = 3 + 255


class SignedRecord(bytes):
    """Record bytes carrying the verified name of their signer."""

    signer: str | None = None


class _Base(Splitter):
    """Counters, size limits and the incomplete-final rule."""

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        self.max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        self.counters = {"records": 0, "oversized": 0, "truncated": 0}
        self._buf = bytearray()
        self._skipping = False

    @property
    def max_record_size(self) -> int:
        return self.max_message_size + FRAMING_ALLOWANCE

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of a record."""
        return len(self._buf)

    def finish(self) -> list[bytes]:
        rest = bytes(self._buf)
        self._buf.clear()
        self._skipping = False
        if rest and self.config.get("deliver_incomplete_final"):
            self.counters["records"] += 1
            return [rest]
        return []

    def _emit(self, rec: bytes, out: list[bytes]) -> None:
        if self._skipping:
            self._skipping = False
            return
        if not rec:
            return
        if len(rec) > self.max_record_size:
            self.counters["oversized"] += 1
            if self.config.get("keep_truncated"):
                self.counters["truncated"] += 1
                out.append(rec[: self.max_record_size])
            return
        self.counters["records"] += 1
        out.append(rec)

    def _overflow(self, out: list[bytes]) -> None:
        """The buffer holds no delimiter and is past the limit."""
        if not self._skipping:
            self.counters["oversized"] += 1
            if self.config.get("keep_truncated"):
                self.counters["truncated"] += 1
                out.append(bytes(self._buf[: self.max_record_size]))
        self._skipping = True
        self._buf.clear()


class TokenSplitter(_Base):
    """Records end after ``count`` occurrences of a one-byte delimiter.

    The delimiter stays at the end of the record, as in Heka.
    """

    config_schema = {"delimiter": "\n", "count": 1}

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        delim = self.config["delimiter"]
        data = delim.encode("utf-8") if isinstance(delim, str) else delim
        if len(data) != 1:
            raise ConfigError(f"delimiter must be one byte, got {delim!r}")
        if self.config["count"] < 1:
            raise ConfigError(
                f"count must be at least 1, got {self.config['count']!r}"
            )
        self._delim = data
        self._count = int(self.config["count"])
        self._scan = 0
        self._found = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buf
        buf += data
        pos = 0
        scan, found = self._scan, self._found
        while True:
            i = buf.find(self._delim, scan)
            if i < 0:
                scan = len(buf)
                break
            scan = i + 1
            found += 1
            if found < self._count:
                continue
            found = 0
            self._emit(bytes(buf[pos:scan]), out)
            pos = scan
        del buf[:pos]
        self._scan, self._found = scan - pos, found
        if len(buf) > self.max_record_size:
            self._overflow(out)
            self._scan = self._found = 0
        return out

    @property
    def splits_lines(self) -> bool:
        """True when every newline ends a record (the default)."""
        return self._delim == b"\n" and self._count == 1

    def take_block(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """:meth:`feed` for a line splitter, its records left joined.

        Returns ``(block, extra)``: ``block`` holds the records ``data``
        completes, each still ending with its newline, as one bytes
        object, records over the size limit included (the caller drops
        or cuts those and counts them with :meth:`count_block`);
        ``extra`` holds a record cut from an unfinished line that grew
        past the limit (``keep_truncated``), which comes after them.
        Only when :attr:`splits_lines`.
        """
        buf = self._buf
        buf += data
        start = 0
        if self._skipping:
            i = buf.find(b"\n")
            if i < 0:
                if len(buf) > self.max_record_size:
                    buf.clear()
                return b"", []
            start = i + 1
            self._skipping = False
        end = buf.rfind(b"\n") + 1
        block = bytes(buf[start:end]) if end > start else b""
        del buf[: max(start, end)]
        extra: list[bytes] = []
        if len(buf) > self.max_record_size:
            self._overflow(extra)
        self._scan, self._found = len(buf), 0
        return block, extra

    def count_block(self, records: int, oversized: int,
                    truncated: int) -> None:
        """Count what became of a block's records (see take_block).

        ``records`` counts the records handed on, cut ones included.
        """
        self.counters["records"] += records - truncated
        self.counters["oversized"] += oversized
        self.counters["truncated"] += truncated


class RegexSplitter(_Base):
    """Records end where a regular expression (RE2) matches.

    With a capture group the captured text is kept: at the end of the
    record before it (``delimiter_eol = true``) or at the start of the
    next one; without one the delimiter text is dropped.
    """

    config_schema = {"delimiter": "\n", "delimiter_eol": True}

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        from hekapy._regex import compile_re2

        pattern = self.config["delimiter"]
        self._re = compile_re2(pattern.encode("utf-8"), "delimiter regex")
        if self._re.groups > 1:
            raise ConfigError(
                f"delimiter may hold at most one capture group, got "
                f"{pattern!r}"
            )
        self._eol = bool(self.config["delimiter_eol"])
        self._carry = b""

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buf
        buf += data
        pos = 0
        text = bytes(buf)
        while True:
            m = self._re.search(text, pos)
            if m is None or m.end() == m.start():
                break
            kept = m.group(1) if self._re.groups else b""
            body = text[pos : m.start()]
            if self._eol:
                rec = self._carry + body + kept
                self._carry = b""
            else:
                rec = self._carry + body
                self._carry = kept
            pos = m.end()
            self._emit(rec, out)
        del buf[:pos]
        if len(buf) > self.max_record_size:
            self._overflow(out)
        return out

    def finish(self) -> list[bytes]:
        if self._carry:
            self._buf[:0] = self._carry
            self._carry = b""
        return super().finish()


class NullSplitter(_Base):
    """Every chunk read is one record (datagrams, whole files)."""

    config_schema = {"min_buffer_size": 65536}

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if len(data) > self.max_record_size:
            self.counters["oversized"] += 1
            if not self.config.get("keep_truncated"):
                return []
            self.counters["truncated"] += 1
            data = data[: self.max_record_size]
        self.counters["records"] += 1
        return [bytes(data)]


class HekaFramingSplitter(_Base):
    """Heka stream framing through :class:`hekapy.StreamReader`.

    Signers are sub-tables ``[name.signer.<signer>_<version>]`` holding
    ``hmac_key``.  Records are the message bytes, as
    :class:`SignedRecord` whose ``signer`` is the verified signer name.
    """

    config_schema = {
        "signer": {},
        "use_message_bytes": True,
        "skip_authentication": False,
    }

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        self.signers = self._signers(self.config["signer"])
        self._reader: Any = None

    @staticmethod
    def _signers(table: Mapping[str, Any]) -> list[Signer]:
        out = []
        for key, sub in table.items():
            sname, sep, ver = key.rpartition("_")
            if not sep or not sname or not ver.isdigit():
                raise ConfigError(
                    f"signer section must be named <signer>_<version>, "
                    f"got {key!r}"
                )
            if not isinstance(sub, dict) or not isinstance(
                sub.get("hmac_key"), str
            ):
                raise ConfigError(f"signer {key!r} needs a string hmac_key")
            extra = set(sub) - {"hmac_key", "hmac_hash"}
            if extra:
                raise ConfigError(
                    f"unknown config setting {sorted(extra)[0]!r} in "
                    f"signer {key!r}"
                )
            out.append(
                Signer(
                    sname,
                    sub["hmac_key"],
                    int(ver),
                    sub.get("hmac_hash", "md5"),
                )
            )
        return out

    @property
    def reader(self) -> Any:
        """The :class:`hekapy.StreamReader` behind this splitter."""
        if self._reader is None:
            self._reader = StreamReader(
                self.max_message_size,
                self.signers,
                bool(self.config["skip_authentication"]),
            )
        return self._reader

    @property
    def buffered(self) -> int:
        return int(self.reader.buffered)

    @property
    def counters_all(self) -> dict[str, int]:
        """The reader's counters merged with the splitter's own."""
        out = dict(self.reader.counters)
        out["records"] = self.counters["records"]
        return out

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for rec in self.reader.feed(data):
            item = SignedRecord(rec.message)
            item.signer = rec.signer
            out.append(item)
        self.counters["records"] += len(out)
        return out

    def finish(self) -> list[bytes]:
        return []
