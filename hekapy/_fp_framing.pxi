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

    def feed(self, data):
        """Add ``data`` to the stream; return the records it completed."""
        cdef list out = []
        cdef const unsigned char[::1] view
        cdef Py_ssize_t used
        cdef bytes chunk
        self.c_bytes += len(data)
        if len(self._held):
            self._held += data
            chunk = bytes(self._held)
        elif isinstance(data, bytes):
            chunk = data
        else:
            chunk = bytes(data)
        used = self._scan(chunk, out)
        if used < len(chunk):
            self._held = bytearray(chunk[used:])
        else:
            self._held = bytearray()
        self._base += used
        return out

    cdef Py_ssize_t _scan(self, bytes chunk, list out) except -1:
        cdef const unsigned char* p = <const unsigned char*><char*>chunk
        cdef Py_ssize_t size = len(chunk), pos = 0, body, end
        cdef const unsigned char* hit
        cdef Header h
        cdef int hlen
        cdef bytes message
        cdef object signer
        while True:
            hit = <const unsigned char*>memchr(p + pos, 0x1E, size - pos)
            if hit == NULL:
                self.c_garbage += size - pos
                return size
            self.c_garbage += (hit - p) - pos
            pos = hit - p
            if pos + 2 > size:
                return pos
            hlen = p[pos + 1]
            body = pos + 3 + hlen
            if body > size:
                return pos
            if p[body - 1] != 0x1F:
                self.c_bad += 1
                self.c_garbage += 1
                pos += 1
                continue
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
                return pos
            message = (<char*>p)[body:end]
            signer = None
            if not self.skip_authentication and \
                    (h.signer_off >= 0 or h.hmac_off >= 0):
                signer = self._verify(chunk, &h, message)
                if signer is False:
                    self.c_auth += 1
                    pos = end
                    continue
            self.c_records += 1
            out.append(Record(message, signer, self._base + pos))
            pos = end

    cdef object _verify(self, bytes chunk, Header* h, bytes message):
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
        expected = _hmac.new(signer.key, message, fn).digest()
        digest = chunk[h.hmac_off:h.hmac_off + h.hmac_len]
        if not _hmac.compare_digest(expected, digest):
            return False
        return name
