# StreamReader: Heka stream framing, compiled.
#
# Same algorithm and counters as hekapy/_purepath/_framing.py, which
# explains the rules.  Bytes are scanned straight from the caller's chunk
# when nothing is held back, so only an incomplete tail is ever copied.

import hmac as _hmac

from hekapy._signing import DIGESTS


cdef class Record:
    """One record read from a stream.

    ``message`` is the message bytes, ``signer`` the verified signer name
    (None when unsigned), ``offset`` the stream offset of its 0x1E.
    """

    cdef readonly bytes message
    cdef readonly object signer
    cdef readonly long long offset

    def __init__(self, bytes message, signer, long long offset):
        self.message = message
        self.signer = signer
        self.offset = offset

    def __repr__(self):
        return (f"Record(offset={self.offset}, signer={self.signer!r}, "
                f"message=<{len(self.message)} bytes>)")


cdef struct Header:
    int has_length
    int error
    uint64_t length
    uint64_t hash_fn
    uint64_t version
    Py_ssize_t signer_off, signer_len
    Py_ssize_t hmac_off, hmac_len


cdef void parse_header(const unsigned char* p, Py_ssize_t pos,
                       Py_ssize_t end, Header* h) noexcept nogil:
    # Read the fields a framing header may hold; stop quietly at the
    # first broken value and say so in h.error.
    cdef uint64_t key, value
    cdef int wt
    h.has_length = 0
    h.error = 0
    h.hash_fn = 0
    h.version = 0
    h.signer_off = -1
    h.hmac_off = -1
    while pos < end:
        if read_varint(p, &pos, end, &key):
            h.error = 1
            return
        wt = key & 7
        if wt == 0:
            if read_varint(p, &pos, end, &value):
                h.error = 1
                return
            if key >> 3 == 1:
                h.length = value & <uint64_t>0xFFFFFFFFU
                h.has_length = 1
            elif key >> 3 == 3:
                h.hash_fn = value
            elif key >> 3 == 5:
                h.version = value & <uint64_t>0xFFFFFFFFU
        elif wt == 2:
            if read_varint(p, &pos, end, &value) or \
                    value > <uint64_t>(end - pos):
                h.error = 1
                return
            if key >> 3 == 4:
                h.signer_off = pos
                h.signer_len = <Py_ssize_t>value
            elif key >> 3 == 6:
                h.hmac_off = pos
                h.hmac_len = <Py_ssize_t>value
            pos += <Py_ssize_t>value
        elif wt == 1 and pos + 8 <= end:
            pos += 8
        elif wt == 5 and pos + 4 <= end:
            pos += 4
        else:
            h.error = 1
            return


cdef class StreamReader:
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

    cdef readonly long long max_message_size
    cdef readonly bint skip_authentication
    cdef dict _signers
    cdef bytearray _held
    cdef long long _base
    cdef long long c_records, c_bytes, c_garbage, c_bad, c_oversized
    cdef long long c_auth
    cdef object _signer
    cdef Py_ssize_t _start
    cdef long long _buf_base

    def __init__(self, long long max_message_size=65536, signers=(),
                 bint skip_authentication=False):
        if max_message_size < 0:
            raise ValueError("max_message_size must not be negative")
        self.max_message_size = max_message_size
        self.skip_authentication = skip_authentication
        self._signers = {s.key_id: s for s in signers}
        self._held = bytearray()
        self._base = 0

    @property
    def counters(self):
        return {"records": self.c_records, "bytes": self.c_bytes,
                "garbage_bytes": self.c_garbage,
                "bad_headers": self.c_bad, "oversized": self.c_oversized,
                "auth_failures": self.c_auth}

    @property
    def buffered(self):
        """Bytes held back waiting for the rest of a record."""
        return len(self._held)

    @property
    def buffered_offset(self):
        """Stream offset of the first byte held back."""
        return self._base

    # Held-back bytes (an incomplete record from the previous chunk) are
    # joined with just enough of the new chunk to finish any record that
    # starts inside them; the rest of the chunk is scanned in place.

    cdef list _segments(self, data):
        # [(buffer, stop, stream offset of buffer[0]), ...]; a record is
        # looked for only where its 0x1E lies before stop.
        cdef Py_ssize_t nheld = len(self._held)
        cdef Py_ssize_t limit = 259 + self.max_message_size
        cdef bytes chunk = data if isinstance(data, bytes) else bytes(data)
        self.c_bytes += len(chunk)
        if nheld == 0:
            return [(chunk, len(chunk), self._base)]
        if len(chunk) <= limit:
            self._held += chunk
            return [(bytes(self._held), len(self._held), self._base)]
        joined = bytes(self._held) + chunk[:limit]
        return [(joined, nheld, self._base),
                (chunk, len(chunk), self._base + nheld)]

    cdef void _settle(self, list segments, int seg, Py_ssize_t pos):
        # Keep what was not consumed of segment seg from pos on.
        cdef bytes buf = segments[seg][0]
        cdef long long base = segments[seg][2]
        if seg == 0 and len(segments) == 2:
            # The joined prefix was exhausted up to pos; carry on in the
            # chunk itself, where pos maps to pos - len(held).
            return
        self._held = bytearray(buf[pos:]) if pos < len(buf) \
            else bytearray()
        self._base = base + pos

    def feed(self, data):
        """Add ``data`` to the stream; return the records it completed."""
        cdef list out = []
        cdef list segments = self._segments(data)
        cdef Py_ssize_t pos = 0, body, length
        cdef int seg
        cdef bytes buf
        cdef Record rec
        for seg in range(len(segments)):
            buf = segments[seg][0]
            self._buf_base = segments[seg][2]
            if seg == 1:
                pos -= len(self._held)
            while self._next(buf, segments[seg][1], &pos, &body, &length):
                rec = Record.__new__(Record)
                rec.message = (<char*>buf)[body:body + length]
                rec.signer = self._signer
                rec.offset = self._buf_base + self._start
                out.append(rec)
            self._settle(segments, seg, pos)
        return out

    def iter_views(self, data, MessageView view not None):
        """Add ``data``; yield ``view`` re-pointed at each record.

        No bytes are copied: the view is valid until the next step of
        the iteration.  ``last_signer`` and ``last_offset`` describe the
        record the view shows.  Stopping the iteration early drops the
        rest of ``data``.
        """
        cdef list segments = self._segments(data)
        cdef Py_ssize_t pos = 0, body, length
        cdef int seg
        cdef bytes buf
        for seg in range(len(segments)):
            buf = segments[seg][0]
            self._buf_base = segments[seg][2]
            if seg == 1:
                pos -= len(self._held)
            try:
                while self._next(buf, segments[seg][1], &pos, &body,
                                 &length):
                    view.point(buf, <const unsigned char*><char*>buf + body,
                               length)
                    yield view
            finally:
                self._settle(segments, seg, pos)

    def count(self, data):
        """Add ``data``; return how many records it completed.

        Splitting alone: records are found and checked but not copied.
        """
        cdef list segments = self._segments(data)
        cdef Py_ssize_t pos = 0, body, length, n = 0
        cdef int seg
        cdef bytes buf
        for seg in range(len(segments)):
            buf = segments[seg][0]
            self._buf_base = segments[seg][2]
            if seg == 1:
                pos -= len(self._held)
            while self._next(buf, segments[seg][1], &pos, &body, &length):
                n += 1
            self._settle(segments, seg, pos)
        return n

    @property
    def last_signer(self):
        """Signer of the record most recently returned or shown."""
        return self._signer

    @property
    def last_offset(self):
        """Stream offset of the record most recently returned or shown."""
        return self._buf_base + self._start

    cdef int _next(self, bytes chunk, Py_ssize_t stop, Py_ssize_t* ppos,
                   Py_ssize_t* pbody, Py_ssize_t* plength) except -1:
        # Find the next acceptable record whose 0x1E lies in
        # [ppos[0], stop).  Returns 1 with its message at pbody/plength,
        # or 0 when there is none; ppos[0] is then the first byte not
        # consumed.
        cdef const unsigned char* p = <const unsigned char*><char*>chunk
        cdef Py_ssize_t size = len(chunk)
        cdef Py_ssize_t pos = ppos[0], body, end, q
        cdef uint64_t v
        cdef const unsigned char* hit
        cdef Header h
        cdef int hlen
        while True:
            if pos >= stop:
                ppos[0] = pos
                return 0
            hit = <const unsigned char*>memchr(p + pos, 0x1E, stop - pos)
            if hit == NULL:
                self.c_garbage += stop - pos
                ppos[0] = stop
                return 0
            self.c_garbage += (hit - p) - pos
            pos = hit - p
            ppos[0] = pos
            if pos + 2 > size:
                return 0
            hlen = p[pos + 1]
            body = pos + 3 + hlen
            if body > size:
                return 0
            if p[body - 1] != 0x1F:
                self.c_bad += 1
                self.c_garbage += 1
                pos += 1
                continue
            # Most headers hold the length alone: read it directly.
            q = pos + 3
            if hlen and p[pos + 2] == 0x08 and \
                    read_varint(p, &q, body - 1, &v) == 0 and q == body - 1:
                h.has_length = 1
                h.length = v & <uint64_t>0xFFFFFFFFU
                h.signer_off = -1
                h.hmac_off = -1
            else:
                parse_header(p, pos + 2, body - 1, &h)
            if not h.has_length:
                self.c_bad += 1
                self.c_garbage += 1
                pos += 1
                continue
            if <long long>h.length > self.max_message_size:
                self.c_oversized += 1
                self.c_garbage += 1
                pos += 1
                continue
            end = body + <Py_ssize_t>h.length
            if end > size:
                return 0
            self._signer = None
            if not self.skip_authentication and \
                    (h.signer_off >= 0 or h.hmac_off >= 0):
                self._signer = self._verify(chunk, &h, body, end)
                if self._signer is False:
                    self._signer = None
                    self.c_auth += 1
                    pos = end
                    continue
            self.c_records += 1
            self._start = pos
            ppos[0] = end
            pbody[0] = body
            plength[0] = end - body
            return 1

    cdef object _verify(self, bytes chunk, Header* h, Py_ssize_t body,
                        Py_ssize_t end):
        # The verified signer name, or False when the record fails.
        cdef str name
        if h.signer_off < 0 or h.hmac_off < 0:
            return False
        name = chunk[h.signer_off:h.signer_off + h.signer_len].decode(
            "utf-8", "replace")
        signer = self._signers.get(f"{name}_{h.version}")
        fn = DIGESTS.get(h.hash_fn)
        if signer is None or fn is None:
            return False
        expected = _hmac.new(signer.key, chunk[body:end], fn).digest()
        digest = chunk[h.hmac_off:h.hmac_off + h.hmac_len]
        if not _hmac.compare_digest(expected, digest):
            return False
        return name
