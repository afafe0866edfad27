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
        Records declaring a longer message are dropped (``oversized``);
        at most 2**32 - 1, the largest length a header can hold.
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
    cdef long long _last_offset
    cdef Py_ssize_t _need
    # The scan in progress (begin / next_record / finish).
    cdef list _segs
    cdef int _seg
    cdef Py_ssize_t _pos, _stop
    cdef bytes _cur
    cdef long long _buf_base
    cdef bint _active

    def __init__(self, max_message_size=65536, signers=(),
                 bint skip_authentication=False):
        if not 0 <= max_message_size <= 0xFFFFFFFF:
            raise ValueError(f"max_message_size must be 0 to 2**32-1, "
                             f"got {max_message_size!r}")
        self.max_message_size = max_message_size
        self.skip_authentication = skip_authentication
        self._signers = {(s.name.encode(), s.version): s for s in signers}
        self._held = bytearray()
        self._base = 0
        self._segs = []

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

    @property
    def last_signer(self):
        """Signer of the record most recently returned or shown."""
        return self._signer

    @property
    def last_offset(self):
        """Stream offset of the record most recently returned or shown."""
        return self._last_offset

    # -- the scan: begin, next_record until it returns 0, finish --------
    #
    # Held-back bytes (an incomplete record from the previous chunk) are
    # joined with just enough of the new chunk to finish any record that
    # starts inside them; the rest of the chunk is scanned in place.
    # finish() keeps every byte not consumed, so a scan stopped early (a
    # consumer that breaks out, or raises) loses nothing.

    cdef int begin(self, data) except -1:
        cdef Py_ssize_t nheld = len(self._held)
        cdef Py_ssize_t limit = 259 + self.max_message_size
        cdef bytes chunk = data if isinstance(data, bytes) else bytes(data)
        if self._active:
            raise RuntimeError("StreamReader is already scanning a chunk")
        self.c_bytes += len(chunk)
        if nheld and nheld + len(chunk) < self._need:
            # Still short of the record in progress: just keep the bytes.
            self._held += chunk
            self._segs = []
        elif nheld == 0:
            self._segs = [(chunk, len(chunk), self._base)]
        elif len(chunk) <= limit:
            self._held += chunk
            self._segs = [(bytes(self._held), len(self._held), self._base)]
        else:
            self._segs = [(bytes(self._held) + chunk[:limit], nheld,
                           self._base),
                          (chunk, len(chunk), self._base + nheld)]
        self._seg = 0
        self._pos = 0
        self._active = True
        if self._segs:
            self._load(0)
        return 0

    cdef void _load(self, int seg):
        self._seg = seg
        self._cur = self._segs[seg][0]
        self._stop = self._segs[seg][1]
        self._buf_base = self._segs[seg][2]

    cdef int next_record(self, const unsigned char** message,
                         Py_ssize_t* length) except -1:
        """1 with the next record's message, or 0 when the chunk is done.
        """
        cdef Py_ssize_t body
        if not self._segs:
            return 0
        while True:
            if self._next(self._cur, self._stop, &self._pos, &body, length):
                message[0] = <const unsigned char*><char*>self._cur + body
                return 1
            if self._seg + 1 >= len(self._segs):
                return 0
            # Into the chunk itself, where pos maps to pos - len(held).
            self._pos -= len(self._held)
            self._load(self._seg + 1)

    cdef object current_buffer(self):
        """The bytes object the last record's message points into."""
        return self._cur

    cdef void finish(self):
        """Keep what was not consumed; end the scan."""
        cdef bytes buf
        cdef Py_ssize_t pos = self._pos
        self._active = False
        if not self._segs:
            return
        buf = self._cur
        if self._seg == 0 and len(self._segs) == 2:
            self._held = bytearray(buf[pos:])
            self._held += (<bytes>self._segs[1][0])[len(buf) - self._stop:]
        elif pos < len(buf):
            self._held = bytearray(buf[pos:])
        else:
            self._held = bytearray()
            self._need = 0
        self._base = self._buf_base + pos
        self._segs = []
        self._cur = None

    def feed(self, data):
        """Add ``data`` to the stream; return the records it completed."""
        cdef list out = []
        cdef const unsigned char* m
        cdef Py_ssize_t length
        cdef Record rec
        self.begin(data)
        try:
            while self.next_record(&m, &length):
                rec = Record.__new__(Record)
                rec.message = (<char*>m)[:length]
                rec.signer = self._signer
                rec.offset = self._last_offset
                out.append(rec)
        finally:
            self.finish()
        return out

    def iter_views(self, data, MessageView view not None):
        """Add ``data``; yield ``view`` re-pointed at each record.

        No bytes are copied: the view is valid until the next step of
        the iteration.  ``last_signer`` and ``last_offset`` describe the
        record the view shows.  A record whose message does not decode
        raises DecodeError from the iteration; the records after it, like
        those after an iteration stopped early, are kept for the next
        call (``iter_views(b"", view)`` goes on with them).
        """
        cdef const unsigned char* m
        cdef Py_ssize_t length
        self.begin(data)
        try:
            while self.next_record(&m, &length):
                view.point(self._cur, m, length)
                yield view
        finally:
            self.finish()

    def count(self, data):
        """Add ``data``; return how many records it completed.

        Splitting alone: records are found and checked but not copied.
        """
        cdef const unsigned char* m
        cdef Py_ssize_t length, n = 0
        self.begin(data)
        try:
            while self.next_record(&m, &length):
                n += 1
        finally:
            self.finish()
        return n

    cdef int _next(self, bytes chunk, Py_ssize_t stop, Py_ssize_t* ppos,
                   Py_ssize_t* pbody, Py_ssize_t* plength) except -1:
        # Find the next acceptable record whose 0x1E lies in
        # [ppos[0], stop).  Returns 1 with its message at pbody/plength,
        # or 0 when there is none; ppos[0] is then the first byte not
        # consumed and _need how many bytes from there a record needs.
        cdef const unsigned char* p = <const unsigned char*><char*>chunk
        cdef Py_ssize_t size = len(chunk)
        cdef Py_ssize_t pos = ppos[0], body, end, q
        cdef uint64_t v
        cdef const unsigned char* hit
        cdef Header h
        cdef int hlen
        cdef object signer
        self._need = 0
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
                self._need = 2
                return 0
            hlen = p[pos + 1]
            body = pos + 3 + hlen
            if body > size:
                self._need = body - pos
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
                h.error = 0
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
                self._need = end - pos
                return 0
            signer = None
            if not self.skip_authentication and (
                    h.signer_off >= 0 or h.hmac_off >= 0
                    or (h.error and hlen > 13)):
                signer = self._verify(chunk, &h, body, end)
                if signer is False:
                    self.c_auth += 1
                    pos = end
                    continue
            self._signer = signer
            self.c_records += 1
            self._last_offset = self._buf_base + pos
            ppos[0] = end
            pbody[0] = body
            plength[0] = end - body
            return 1

    cdef object _verify(self, bytes chunk, Header* h, Py_ssize_t body,
                        Py_ssize_t end):
        # The verified signer name, or False when the record fails.  A
        # header that breaks off is refused, as Go Heka refuses one.
        if h.error or h.signer_off < 0 or h.hmac_off < 0:
            return False
        name = chunk[h.signer_off:h.signer_off + h.signer_len]
        signer = self._signers.get((name, h.version))
        fn = DIGESTS.get(h.hash_fn)
        if signer is None or fn is None:
            return False
        expected = _hmac.new(signer.key, chunk[body:end], fn).digest()
        digest = chunk[h.hmac_off:h.hmac_off + h.hmac_len]
        if not _hmac.compare_digest(expected, digest):
            return False
        return signer.name
