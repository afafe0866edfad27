# AccessLogCodec: nginx/apache "combined" access log lines to Heka
# messages, in C.
#
# It produces what sandboxes/decoders/access_log.lua produces for a line
# (the same headers and fields, in the same order; only the random Uuid
# differs), without a Lua call, and it can turn a whole block of lines
# into a framed stream in one call (frame_lines), which is how the daemon
# feeds the router a log file.  The pure twin is
# hekapy/_purepath/_accesslog.py; docs/decoders.md describes the
# message.
#
# A line is: addr ident user [time] "request" status bytes, then either
# the end (common log format) or "referer" "agent" and any text.  Tokens
# are runs of non-blank bytes separated by one or more spaces; a quoted
# part may hold backslash escapes.  Numbers of more than 18 digits are
# not taken as numbers (the field is left out), and a time outside the
# years 1677 to 2262 does not fit a Timestamp (the original's is kept).

cdef enum:
    # getrandom hands out up to 256 bytes whole, signals or not.
    RANDOM_POOL = 256

cdef inline bint _blank(unsigned char c) noexcept nogil:
    return c == 32 or 9 <= c <= 13


cdef struct Piece:
    const unsigned char* p
    Py_ssize_t n


cdef struct Parsed:
    Piece addr, ident, user, time, request, status, sent
    Piece referer, agent, extra
    bint has_agent


cdef inline bint _token(const unsigned char* s, Py_ssize_t n,
                        Py_ssize_t* pos, Piece* out) noexcept nogil:
    cdef Py_ssize_t i = pos[0]
    while i < n and not _blank(s[i]):
        i += 1
    if i == pos[0]:
        return False
    out.p = s + pos[0]
    out.n = i - pos[0]
    pos[0] = i
    return True


cdef inline bint _spaces(const unsigned char* s, Py_ssize_t n,
                         Py_ssize_t* pos) noexcept nogil:
    cdef Py_ssize_t i = pos[0]
    while i < n and s[i] == 32:
        i += 1
    if i == pos[0]:
        return False
    pos[0] = i
    return True


cdef inline bint _quoted(const unsigned char* s, Py_ssize_t n,
                         Py_ssize_t* pos, Piece* out) noexcept nogil:
    cdef Py_ssize_t i = pos[0]
    if i >= n or s[i] != 34:
        return False
    i += 1
    out.p = s + i
    while True:
        if i >= n:
            return False
        if s[i] == 92:
            if i + 1 >= n:
                return False
            i += 2
        elif s[i] == 34:
            break
        else:
            i += 1
    out.n = (s + i) - out.p
    pos[0] = i + 1
    return True


cdef bint _parse_line(const unsigned char* s, Py_ssize_t n,
                      Parsed* r) noexcept nogil:
    cdef Py_ssize_t pos = 0, save, i
    if not (_token(s, n, &pos, &r.addr) and _spaces(s, n, &pos)
            and _token(s, n, &pos, &r.ident) and _spaces(s, n, &pos)
            and _token(s, n, &pos, &r.user) and _spaces(s, n, &pos)):
        return False
    if pos >= n or s[pos] != 91:
        return False
    i = pos + 1
    while i < n and s[i] != 93:
        i += 1
    if i >= n or i == pos + 1:
        return False
    r.time.p = s + pos + 1
    r.time.n = i - pos - 1
    pos = i + 1
    if not (_spaces(s, n, &pos) and _quoted(s, n, &pos, &r.request)
            and _spaces(s, n, &pos) and _token(s, n, &pos, &r.status)
            and _spaces(s, n, &pos) and _token(s, n, &pos, &r.sent)):
        return False
    save = pos
    if (_spaces(s, n, &pos) and _quoted(s, n, &pos, &r.referer)
            and _spaces(s, n, &pos) and _quoted(s, n, &pos, &r.agent)):
        r.has_agent = True
        r.extra.p = s + pos
        r.extra.n = n - pos
        return True
    r.has_agent = False
    pos = save
    while pos < n and _blank(s[pos]):
        pos += 1
    return pos == n


cdef int _digits(Piece x, long long* out) noexcept nogil:
    # 1 and the value for 1 to 18 decimal digits, else 0.
    cdef long long v = 0
    cdef Py_ssize_t i
    if x.n < 1 or x.n > 18:
        return 0
    for i in range(x.n):
        if not 48 <= x.p[i] <= 57:
            return 0
        v = v * 10 + (x.p[i] - 48)
    if x.n > 15:
        # Beyond 2**53 the Lua decoder holds a double: round the same.
        v = <long long>(<double>v)
    out[0] = v
    return 1


cdef inline long long _floordiv(long long a, long long b) noexcept nogil:
    # Rounding down, as Lua's math.floor does (C division truncates).
    cdef long long q = a // b
    if a % b != 0 and (a < 0) != (b < 0):
        q -= 1
    return q


cdef int _two(const unsigned char* p) noexcept nogil:
    if 48 <= p[0] <= 57 and 48 <= p[1] <= 57:
        return (p[0] - 48) * 10 + p[1] - 48
    return -1


cdef int _month(const unsigned char* p) noexcept nogil:
    cdef const char* names = b"JanFebMarAprMayJunJulAugSepOctNovDec"
    cdef int i
    for i in range(12):
        if memcmp(p, names + 3 * i, 3) == 0:
            return i + 1
    return 0


cdef int _clf_time(Piece t, long long* out) noexcept nogil:
    # "dd/Mon/yyyy:HH:MM:SS +zzzz" as UTC nanoseconds; 0 if it is not.
    cdef const unsigned char* p = t.p
    cdef Py_ssize_t n = t.n, i = 0, j
    cdef int d, m, y, hh, mm, ss, oh, om, k
    cdef long long era, yoe, mp, doy, doe, days, secs
    cdef double ns
    cdef bint neg
    if n < 1 or not 48 <= p[0] <= 57:
        return 0
    d = p[0] - 48
    i = 1
    if i < n and 48 <= p[i] <= 57:
        d = d * 10 + p[i] - 48
        i += 1
    if i + 21 > n or p[i] != 47:
        return 0
    i += 1
    for k in range(3):
        if not ((65 <= p[i + k] <= 90) or (97 <= p[i + k] <= 122)):
            return 0
    m = _month(p + i)
    i += 3
    if p[i] != 47:
        return 0
    i += 1
    y = 0
    for k in range(4):
        if not 48 <= p[i + k] <= 57:
            return 0
        y = y * 10 + p[i + k] - 48
    i += 4
    if p[i] != 58 or p[i + 3] != 58 or p[i + 6] != 58:
        return 0
    hh = _two(p + i + 1)
    mm = _two(p + i + 4)
    ss = _two(p + i + 7)
    if hh < 0 or mm < 0 or ss < 0:
        return 0
    i += 9
    j = i
    while i < n and p[i] == 32:
        i += 1
    if i == j or i + 5 != n or (p[i] != 43 and p[i] != 45):
        return 0
    neg = p[i] == 45
    oh = _two(p + i + 1)
    om = _two(p + i + 3)
    if oh < 0 or om < 0:
        return 0
    if m == 0 or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 \
            or om > 59:
        return 0
    if m <= 2:
        y -= 1
    era = _floordiv(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    secs = days * 86400 + hh * 3600 + mm * 60 + ss
    secs -= (-1 if neg else 1) * (oh * 3600 + om * 60)
    ns = <double>secs * 1e9
    if ns < -9.223372036854775808e18 or ns >= 9.223372036854775808e18:
        return 0
    out[0] = <long long>ns
    return 1


cdef Py_ssize_t _unescape(Piece x, unsigned char* dst) noexcept nogil:
    # \" and \\ lose their backslash; dst holds at least x.n bytes.
    cdef Py_ssize_t i = 0, k = 0
    while i < x.n:
        if x.p[i] == 92 and i + 1 < x.n and \
                (x.p[i + 1] == 34 or x.p[i + 1] == 92):
            dst[k] = x.p[i + 1]
            i += 2
        else:
            dst[k] = x.p[i]
            i += 1
        k += 1
    return k


cdef int _split_request(const unsigned char* r, Py_ssize_t n,
                        Piece* method, Piece* path,
                        Piece* proto) noexcept nogil:
    # 3 for METHOD PATH PROTO, 2 for METHOD PATH, 0 otherwise.
    cdef Py_ssize_t a = 0, b, t, s, u, i
    while a < n and not _blank(r[a]):
        a += 1
    if a == 0:
        return 0
    b = a
    while b < n and r[b] == 32:
        b += 1
    if b == a:
        return 0
    method.p = r
    method.n = a
    # The protocol is the last token, after spaces: [A-Z]+/ and more.
    t = n
    while t > 0 and not _blank(r[t - 1]):
        t -= 1
    s = t
    while s > 0 and r[s - 1] == 32:
        s -= 1
    u = t
    while u < n and 65 <= r[u] <= 90:
        u += 1
    if t < n and s < t and u > t and u + 1 < n and r[u] == 47 \
            and t >= b:
        if t > b:
            path.p = r + b
            path.n = s - b
            proto.p = r + t
            proto.n = n - t
            return 3
        if b - a >= 2:
            path.p = r + b
            path.n = 0
            proto.p = r + t
            proto.n = n - t
            return 3
    if b >= n:
        return 0
    for i in range(b, n):
        if _blank(r[i]):
            return 0
    path.p = r + b
    path.n = n - b
    return 2


cdef inline int _vlen(uint64_t v) noexcept nogil:
    cdef int k = 1
    while v >= 0x80:
        v >>= 7
        k += 1
    return k


cdef void _string_field(Out* o, const char* name, Py_ssize_t nlen,
                        const unsigned char* v, Py_ssize_t vlen
                        ) noexcept nogil:
    cdef Py_ssize_t size = 1 + _vlen(nlen) + nlen + 1 + _vlen(vlen) + vlen
    o_varint(o, 0x52)
    o_varint(o, size)
    o_len(o, 1, name, nlen)
    o_len(o, 4, <const char*>v, vlen)


cdef void _int_field(Out* o, const char* name, Py_ssize_t nlen,
                     long long v) noexcept nogil:
    cdef uint64_t u = <uint64_t>v
    cdef Py_ssize_t size = 1 + _vlen(nlen) + nlen + 2 + 1 + _vlen(u)
    o_varint(o, 0x52)
    o_varint(o, size)
    o_len(o, 1, name, nlen)
    o_bytes(o, b"\x10\x02\x30", 3)
    o_varint(o, u)


cdef inline void _piece_field(Out* o, const char* name, Piece v
                              ) noexcept nogil:
    _string_field(o, name, strlen(name), v.p, v.n)


cdef struct Origin:
    # Headers of the message a line came in.
    int has_ts, has_pid
    long long ts
    long long pid
    const char* logger
    Py_ssize_t logger_n
    const char* hostname
    Py_ssize_t hostname_n


cdef class AccessLogCodec:
    """Access log lines to Heka messages (see the file's comment).

    Parameters
    ----------
    msg_type:
        The Type of the messages made.
    payload_keep:
        Keep the line (without its line end) as the Payload.
    """

    cdef bytes _type
    cdef bint _keep
    cdef Out _msg
    cdef unsigned char* _scratch
    cdef Py_ssize_t _scratch_cap
    cdef unsigned char _pool[RANDOM_POOL]
    cdef int _pool_left

    def __cinit__(self, msg_type, payload_keep=False):
        self._type = bytes(msg_type)
        self._keep = bool(payload_keep)
        self._pool_left = 0

    def __dealloc__(self):
        free(self._msg.p)
        free(self._scratch)

    cdef int _uuid(self, Out* o) except -1:
        cdef unsigned char* u
        if self._pool_left < 16:
            if getrandom(self._pool, RANDOM_POOL, 0) != RANDOM_POOL:
                raise OSError("getrandom failed")
            self._pool_left = RANDOM_POOL
        u = self._pool + RANDOM_POOL - self._pool_left
        self._pool_left -= 16
        u[6] = (u[6] & 0x0F) | 0x40
        u[8] = (u[8] & 0x3F) | 0x80
        o_len(o, 1, <const char*>u, 16)
        return 0

    cdef int _room(self, Py_ssize_t n) except -1:
        cdef unsigned char* q
        if n <= self._scratch_cap:
            return 0
        q = <unsigned char*>realloc(self._scratch, 2 * n)
        if q == NULL:
            raise MemoryError()
        self._scratch = q
        self._scratch_cap = 2 * n
        return 0

    cdef int _encode(self, const unsigned char* s, Py_ssize_t n,
                     Origin* h, Out* o) except -1:
        # The message for one line into o; 0 when it is not a line.
        cdef Parsed r
        cdef long long code = 0, sent = 0, ts = 0
        cdef bint has_code, has_sent = True
        cdef int parts, sev = 6
        cdef Piece method, path, proto, req
        cdef unsigned char* buf
        cdef Py_ssize_t k, a, z
        while n > 0 and (s[n - 1] == 10 or s[n - 1] == 13):
            n -= 1
        if not _parse_line(s, n, &r):
            return 0
        self._room(n)
        buf = self._scratch
        has_code = _digits(r.status, &code) == 1
        if not (r.sent.n == 1 and r.sent.p[0] == 45):
            has_sent = _digits(r.sent, &sent) == 1
        if has_code and 500 <= code < 600:
            sev = 3
        elif has_code and 400 <= code < 500:
            sev = 4
        self._uuid(o)
        if _clf_time(r.time, &ts):
            o_varint(o, 0x10)
            o_varint(o, <uint64_t>ts)
        elif h.has_ts:
            o_varint(o, 0x10)
            o_varint(o, <uint64_t>h.ts)
        else:
            o_varint(o, 0x10)
            o_varint(o, <uint64_t>time(NULL) * 1000000000ULL)
        o_len(o, 3, <const char*>self._type, len(self._type))
        if h.logger != NULL:
            o_len(o, 4, h.logger, h.logger_n)
        o_varint(o, 0x28)
        o_varint(o, <uint64_t>sev)
        if self._keep:
            o_len(o, 6, <const char*>s, n)
        if h.has_pid:
            # int32 as hekapy writes it (_wire.int32_varint): 5 bytes
            # at most.
            o_varint(o, 0x40)
            o_varint(o, <uint32_t>h.pid)
        if h.hostname != NULL:
            o_len(o, 9, h.hostname, h.hostname_n)
        _piece_field(o, "remote_addr", r.addr)
        _piece_field(o, "remote_user", r.user)
        req.p = buf
        req.n = _unescape(r.request, buf)
        parts = _split_request(req.p, req.n, &method, &path, &proto)
        if parts:
            _piece_field(o, "method", method)
            _piece_field(o, "path", path)
            if parts == 3:
                _piece_field(o, "protocol", proto)
        else:
            _piece_field(o, "request", req)
        if has_code:
            _int_field(o, "status", 6, code)
        if has_sent:
            _int_field(o, "body_bytes_sent", 15, sent)
        if r.has_agent:
            req.p = buf
            req.n = _unescape(r.referer, buf)
            _piece_field(o, "http_referer", req)
            req.n = _unescape(r.agent, buf)
            _piece_field(o, "http_user_agent", req)
            a = 0
            z = r.extra.n
            while a < z and _blank(r.extra.p[a]):
                a += 1
            while z > a and _blank(r.extra.p[z - 1]):
                z -= 1
            if z > a:
                req.p = r.extra.p + a
                req.n = z - a
                _piece_field(o, "extra", req)
        if o.failed:
            raise MemoryError()
        return 1

    def decode(self, line, timestamp=None, logger=None, hostname=None,
               pid=None):
        """Protobuf bytes of the message for ``line``, or None.

        The other arguments are the headers of the message the line
        came in (None: absent); Timestamp falls back to ``timestamp``
        when the line's time does not read, Logger, Pid and Hostname
        are kept.
        """
        cdef const unsigned char[::1] s = line
        cdef Origin h
        cdef bytes lg = None if logger is None else bytes(logger)
        cdef bytes hn = None if hostname is None else bytes(hostname)
        h.has_ts = timestamp is not None
        h.ts = timestamp if timestamp is not None else 0
        h.has_pid = pid is not None
        h.pid = pid if pid is not None else 0
        h.logger = NULL if lg is None else <const char*>lg
        h.logger_n = 0 if lg is None else len(lg)
        h.hostname = NULL if hn is None else <const char*>hn
        h.hostname_n = 0 if hn is None else len(hn)
        self._msg.n = 0
        self._msg.failed = 0
        if s.shape[0] == 0:
            return None
        if not self._encode(&s[0], s.shape[0], &h, &self._msg):
            return None
        return PyBytes_FromStringAndSize(<const char*>self._msg.p,
                                         self._msg.n)

    def frame_lines(self, block, Py_ssize_t start, Py_ssize_t max_record,
                    bint keep_truncated, Py_ssize_t max_message,
                    timestamp, logger, hostname):
        """Decode the lines of ``block`` from ``start`` into one framed
        stream, up to the first line that needs the caller.

        ``block`` holds whole records, each ending with a newline.  A
        record longer than ``max_record`` is dropped, or cut to that
        length with ``keep_truncated``.  Returns ``(framed, decoded,
        oversized, truncated, pos, rec)``: ``rec`` is None when the
        block is done, else the record that did not decode or whose
        message is longer than ``max_message``, which the caller
        handles by itself before calling again from ``pos``.
        """
        cdef const unsigned char[::1] s = block
        cdef Origin h
        cdef bytes lg = bytes(logger)
        cdef bytes hn = bytes(hostname)
        cdef Py_ssize_t n = s.shape[0], pos = start, end, rec_len
        cdef Py_ssize_t decoded = 0, oversized = 0, truncated = 0
        cdef const unsigned char* p
        cdef const unsigned char* nl
        cdef object rec = None
        cdef Out out
        cdef int ok
        h.has_ts = 1
        h.ts = timestamp
        h.has_pid = 0
        h.pid = 0
        h.logger = <const char*>lg
        h.logger_n = len(lg)
        h.hostname = <const char*>hn
        h.hostname_n = len(hn)
        out.p = NULL
        out.n = out.cap = 0
        out.failed = 0
        if start < 0 or start > n:
            raise ValueError(f"start {start} is outside the block")
        if start == n:
            return b"", 0, 0, 0, n, None
        p = &s[0]
        try:
            while pos < n:
                nl = <const unsigned char*>memchr(p + pos, 10, n - pos)
                end = n if nl == NULL else (nl - p) + 1
                rec_len = end - pos
                if rec_len > max_record:
                    oversized += 1
                    if not keep_truncated:
                        pos = end
                        continue
                    truncated += 1
                    rec_len = max_record
                self._msg.n = 0
                self._msg.failed = 0
                ok = self._encode(p + pos, rec_len, &h, &self._msg)
                if not ok or <Py_ssize_t>self._msg.n > max_message:
                    rec = PyBytes_FromStringAndSize(
                        <const char*>p + pos, rec_len)
                    pos = end
                    break
                if not frame_append(&out, self._msg.p, self._msg.n):
                    raise MemoryError()
                decoded += 1
                pos = end
            if out.failed:
                raise MemoryError()
            framed = PyBytes_FromStringAndSize(<const char*>out.p, out.n) \
                if out.n else b""
        finally:
            free(out.p)
        return framed, decoded, oversized, truncated, pos, rec
