"""Pure-Python twin of the fast path's StreamReader.

The reader follows Go Heka's splitter exactly, because that decides
which records survive a corrupt stream:

1. Everything before the next 0x1E is garbage and is dropped.
2. The byte after 0x1E is the header length H; the byte right after the
   H header bytes must be 0x1F, else the header is bad.
3. The header's ``message_length`` is trusted.  A header whose protobuf
   breaks off after the length was read still frames a record.
4. After a bad or oversized header exactly one byte (the 0x1E) is
   dropped and the scan starts again from the next byte.

Unlike Go Heka, every header that names a signer or carries an HMAC is
verified, whatever its length; a record that fails is dropped and
counted.
"""

from __future__ import annotations

import hmac as _hmac
from collections.abc import Iterable, Iterator
from typing import Any

from hekapy._signing import DIGESTS, Signer

_COUNTERS = ("records", "bytes", "garbage_bytes", "bad_headers",
             "oversized", "auth_failures")


class Record:
    """One record read from a stream.

    ``message`` is the message bytes, ``signer`` the verified signer name
    (None when unsigned), ``offset`` the stream offset of its 0x1E.
    """

    __slots__ = ("message", "offset", "signer")

    def __init__(self, message: bytes, signer: str | None,
                 offset: int) -> None:
        self.message = message
        self.signer = signer
        self.offset = offset

    def __repr__(self) -> str:
        return (f"Record(offset={self.offset}, signer={self.signer!r}, "
                f"message=<{len(self.message)} bytes>)")


def parse_header(data: bytes | bytearray, start: int,
                 end: int) -> dict[str, Any]:
    """Read a framing Header; stop quietly at the first broken value.

    The result holds the keys that were read: ``length``, ``hash``,
    ``signer``, ``version``, ``hmac``; ``error`` is True when the header
    broke off.
    """
    out: dict[str, Any] = {}
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        if pos < 0:
            break
        num, wt = key >> 3, key & 7
        if wt == 0:
            value, pos = _varint(data, pos, end)
            if pos < 0:
                break
            if num == 1:
                out["length"] = value & 0xFFFFFFFF
            elif num == 3:
                out["hash"] = value
            elif num == 5:
                out["version"] = value & 0xFFFFFFFF
        elif wt == 2:
            n, pos = _varint(data, pos, end)
            if pos < 0 or pos + n > end:
                break
            if num == 4:
                out["signer"] = data[pos:pos + n]
            elif num == 6:
                out["hmac"] = data[pos:pos + n]
            pos += n
        elif wt == 1 and pos + 8 <= end:
            pos += 8
        elif wt == 5 and pos + 4 <= end:
            pos += 4
        else:
            break
    else:
        return out
    out["error"] = True
    return out


def _varint(data: bytes | bytearray, pos: int, end: int
            ) -> tuple[int, int]:
    result = shift = 0
    while pos < end and shift < 70:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
    return 0, -1


class StreamReader:
    """Sans-IO reader of Heka framed streams.

    Parameters
    ----------
    max_message_size:
        Records declaring a longer message are dropped (``oversized``).
    signers:
        :class:`hekapy.Signer` objects that signed records may name.
    skip_authentication:
        Accept every record unchecked and without a signer.

    ``feed(data)`` returns the records that chunk completed, in order.
    ``counters`` counts records, bytes fed and what was thrown away.
    """

    def __init__(self, max_message_size: int = 65536,
                 signers: Iterable[Signer] = (),
                 skip_authentication: bool = False) -> None:
        if not 0 <= max_message_size <= 0xFFFFFFFF:
            raise ValueError(f"max_message_size must be 0 to 2**32-1, "
                             f"got {max_message_size!r}")
        self.max_message_size = max_message_size
        self.skip_authentication = skip_authentication
        self._signers = {(s.name.encode(), s.version): s for s in signers}
        self._buf = bytearray()
        self._base = 0
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.last_signer: str | None = None
        self.last_offset = 0
        self._active = False

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a record."""
        return len(self._buf)

    @property
    def buffered_offset(self) -> int:
        """Stream offset of the first byte held back."""
        return self._base

    def feed(self, data: bytes) -> list[Record]:
        """Add ``data`` to the stream; return the records it completed."""
        return list(self._records(data))

    def iter_views(self, data: bytes, view: Any) -> Iterator[Any]:
        """Add ``data``; yield ``view`` re-pointed at each record.

        ``last_signer`` and ``last_offset`` describe the record shown.  A
        record whose message does not decode raises DecodeError from the
        iteration; the records after it, like those after an iteration
        stopped early, are kept for the next call.
        """
        for rec in self._records(data):
            view.reset(rec.message)
            yield view

    def count(self, data: bytes) -> int:
        """Add ``data``; return how many records it completed."""
        return sum(1 for _ in self._records(data))

    def _records(self, data: bytes) -> Iterator[Record]:
        # Consumed bytes leave the buffer when the iteration ends, however
        # it ends, so nothing after the last record handed out is lost.
        # A chunk fed while another is being scanned (from a consumer of
        # this very iteration) is refused, as the compiled reader does.
        if self._active:
            raise RuntimeError("StreamReader is already scanning a chunk")
        self._active = True
        self.counters["bytes"] += len(data)
        buf = self._buf
        buf += data
        pos = 0
        try:
            while True:
                rec, pos = self._next(buf, pos)
                if rec is None:
                    return
                self.last_signer = rec.signer
                self.last_offset = rec.offset
                yield rec
        finally:
            del buf[:pos]
            self._base += pos
            self._active = False

    def _next(self, buf: bytearray, pos: int) -> tuple[Record | None, int]:
        # The next acceptable record from pos, and the position after it;
        # (None, first byte to keep) when the buffer holds no more.
        counters = self.counters
        size = len(buf)
        while True:
            sep = buf.find(b"\x1e", pos)
            if sep < 0:
                counters["garbage_bytes"] += size - pos
                return None, size
            counters["garbage_bytes"] += sep - pos
            pos = sep
            if pos + 2 > size:
                return None, pos
            hlen = buf[pos + 1]
            body = pos + 3 + hlen
            if body > size:
                return None, pos
            if buf[body - 1] != 0x1F:
                counters["bad_headers"] += 1
                counters["garbage_bytes"] += 1
                pos += 1
                continue
            header = parse_header(buf, pos + 2, body - 1)
            length = header.get("length")
            if length is None:
                counters["bad_headers"] += 1
                counters["garbage_bytes"] += 1
                pos += 1
                continue
            if length > self.max_message_size:
                counters["oversized"] += 1
                counters["garbage_bytes"] += 1
                pos += 1
                continue
            end = body + length
            if end > size:
                return None, pos
            message = bytes(buf[body:end])
            ok, signer = self._authenticate(header, message, hlen)
            if ok:
                counters["records"] += 1
                return Record(message, signer, self._base + pos), end
            counters["auth_failures"] += 1
            pos = end

    def _authenticate(self, header: dict[str, Any], message: bytes,
                      hlen: int) -> tuple[bool, str | None]:
        if self.skip_authentication:
            return True, None
        name = header.get("signer")
        digest = header.get("hmac")
        broken = header.get("error", False)
        if name is None and digest is None and not (broken and hlen > 13):
            return True, None
        # A header that breaks off is refused, as Go Heka refuses one.
        if broken or name is None or digest is None:
            return False, None
        signer = self._signers.get((bytes(name), header.get("version", 0)))
        fn = DIGESTS.get(header.get("hash", 0))
        if signer is None or fn is None:
            return False, None
        expected = _hmac.new(signer.key, message, fn).digest()
        if not _hmac.compare_digest(expected, digest):
            return False, None
        return True, signer.name
