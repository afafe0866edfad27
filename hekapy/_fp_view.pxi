# MessageView: a lazy index of one protobuf-encoded Heka message.
#
# Indexing walks the top level once and records where each header value
# and each Field sub-message is.  The first look at any field indexes
# every Field sub-message: where its name, representation and first
# value of each type are, and how many values of each type it holds.  A
# matcher that tests headers only never pays for the fields.  Values
# become Python objects only when asked for.
# Every check here is mirrored in hekapy/_purepath/_view.py, and both
# raise DecodeError with the same text and offset for the same bytes.

cdef enum:
    HAS_TS = 1
    HAS_SEV = 2
    HAS_PID = 4

cdef struct FieldSpan:
    Py_ssize_t start, end
    Py_ssize_t name_off, name_len
    Py_ssize_t repr_off, repr_len
    int value_type
    Py_ssize_t count[5]
    Py_ssize_t first_off[5]
    Py_ssize_t first_len[5]

from operator import index as _index

# Expected wire type of each Message field number (-1: unknown number).
cdef int MSG_WIRE[11]
MSG_WIRE[:] = [-1, 2, 0, 2, 2, 0, 2, 2, 0, 2, 2]


cdef class MessageView:
    """Lazy, read-only index of one protobuf-encoded Heka message.

    Raises
    ------
    hekapy.DecodeError
        When the bytes do not form a message; ``offset`` says where.
    """

    cdef object _owner
    cdef const unsigned char* buf
    cdef Py_ssize_t size
    cdef Py_ssize_t str_off[10]
    cdef Py_ssize_t str_len[10]
    cdef long long ts
    cdef int sev, pidv, has   # pidv: the Pid header (pid is the property)
    cdef FieldSpan* fields
    cdef int nfields, cap
    cdef int fstate      # fields: 0 not indexed, 1 indexed, -1 broken
    cdef int cur_field, cur_ai   # cursor of the last value read
    cdef Py_ssize_t cur_pos, cur_end
    cdef str err
    cdef Py_ssize_t err_pos

    def __cinit__(self):
        self.fields = NULL
        self.nfields = 0
        self.cap = 0

    def __dealloc__(self):
        free(self.fields)

    def __init__(self, data):
        self.reset(data)

    def reset(self, data):
        """Index ``data`` in place of the current message."""
        if not isinstance(data, bytes):
            data = bytes(data)
        self.point(data, <const unsigned char*><char*>data, len(data))

    cdef int point(self, object owner, const unsigned char* p,
                   Py_ssize_t n) except -1:
        """Index ``n`` bytes at ``p``, kept alive by ``owner``."""
        self._owner = owner
        self.buf = p
        self.size = n
        if self._index() < 0:
            raise DecodeError(self.err, self.err_pos)
        return 0

    cdef int _fail(self, str what, Py_ssize_t pos) noexcept:
        self.err = what
        self.err_pos = pos
        return -1

    cdef int _index(self) noexcept:
        cdef const unsigned char* p = self.buf
        cdef Py_ssize_t pos = 0, end = self.size, tag_pos, vend
        cdef uint64_t key, v
        cdef uint64_t num
        cdef int wt, rc, i
        for i in range(10):
            self.str_off[i] = -1
            self.str_len[i] = 0
        self.has = 0
        self.nfields = 0
        self.fstate = 0
        self.cur_field = -1
        while pos < end:
            tag_pos = pos
            rc = read_varint(p, &pos, end, &key)
            if rc:
                return self._fail(_varint_error(rc), tag_pos)
            num = key >> 3
            wt = key & 7
            if num == 0 or num > 10:
                if num == 0:
                    return self._fail("invalid field number 0", tag_pos)
                if skip_value(p, &pos, end, wt) < 0:
                    return self._fail(_skip_error(wt), tag_pos)
                continue
            if wt != MSG_WIRE[num]:
                return self._fail(
                    f"wrong wire type {wt} for field {num}", tag_pos)
            if wt == 0:
                rc = read_varint(p, &pos, end, &v)
                if rc:
                    return self._fail(_varint_error(rc), tag_pos)
                if num == 2:
                    self.ts = <long long>v
                    self.has |= HAS_TS
                elif num == 5:
                    self.sev = <int32_t><uint32_t>v
                    self.has |= HAS_SEV
                else:
                    self.pidv = <int32_t><uint32_t>v
                    self.has |= HAS_PID
                continue
            if read_length(p, &pos, end, &vend) < 0:
                return self._fail("length runs past the end", tag_pos)
            if num == 10:
                if self._add_field(pos, vend) < 0:
                    return -1
            else:
                self.str_off[num] = pos
                self.str_len[num] = vend - pos
            pos = vend
        return 0

    cdef int _add_field(self, Py_ssize_t start, Py_ssize_t end) noexcept:
        cdef FieldSpan* f
        cdef Py_ssize_t n
        if self.nfields == self.cap:
            n = self.cap * 2 if self.cap else 16
            f = <FieldSpan*>realloc(self.fields, n * sizeof(FieldSpan))
            if f == NULL:
                return self._fail("out of memory indexing fields", start)
            self.fields = f
            self.cap = n
        self.fields[self.nfields].start = start
        self.fields[self.nfields].end = end
        self.nfields += 1
        return 0

    cdef int ensure_fields(self) noexcept:
        """Index every Field sub-message once; -1 if one is broken."""
        cdef int i
        if self.fstate == 0:
            self.fstate = 1
            for i in range(self.nfields):
                if self._index_field(i) < 0:
                    self.fstate = -1
                    break
        return 0 if self.fstate == 1 else -1

    cdef int _fields_or_raise(self) except -1:
        if self.fstate != 1 and self.ensure_fields() < 0:
            raise DecodeError(self.err, self.err_pos)
        return 0

    cdef int _index_field(self, int index) noexcept:
        cdef const unsigned char* p = self.buf
        cdef FieldSpan* f = &self.fields[index]
        cdef Py_ssize_t start = f.start, end = f.end
        cdef Py_ssize_t pos = start, tag_pos, vend
        cdef uint64_t key, v
        cdef uint64_t num
        cdef int wt, rc, t
        f.name_off = start
        f.name_len = 0
        f.repr_off = start
        f.repr_len = 0
        f.value_type = 0
        for t in range(5):
            f.count[t] = 0
            f.first_off[t] = -1
            f.first_len[t] = 0
        while pos < end:
            tag_pos = pos
            rc = read_varint(p, &pos, end, &key)
            if rc:
                return self._fail(_varint_error(rc), tag_pos)
            num = key >> 3
            wt = key & 7
            if num == 2 and wt == 0:
                rc = read_varint(p, &pos, end, &v)
                if rc:
                    return self._fail(_varint_error(rc), tag_pos)
                if v > 4:
                    return self._fail(f"unknown value_type {v}", tag_pos)
                f.value_type = <int>v
            elif 1 <= num <= 5 and num != 2 and wt == 2:
                if read_length(p, &pos, end, &vend) < 0:
                    return self._fail("length runs past the end", tag_pos)
                if num == 1:
                    f.name_off = pos
                    f.name_len = vend - pos
                elif num == 3:
                    f.repr_off = pos
                    f.repr_len = vend - pos
                else:
                    t = <int>num - 4
                    if f.count[t] == 0:
                        f.first_off[t] = pos
                        f.first_len[t] = vend - pos
                    f.count[t] += 1
                pos = vend
            elif 6 <= num <= 8:
                if self._index_numbers(f, <int>num, wt, &pos, end,
                                       tag_pos) < 0:
                    return -1
            elif num <= 5:
                return self._fail(
                    f"bad tag {num} wire type {wt} in field", tag_pos)
            elif skip_value(p, &pos, end, wt) < 0:
                return self._fail(_skip_error(wt), tag_pos)
        return 0

    cdef int _index_numbers(self, FieldSpan* f, int num, int wt,
                            Py_ssize_t* ppos, Py_ssize_t end,
                            Py_ssize_t tag_pos) noexcept:
        cdef const unsigned char* p = self.buf
        cdef Py_ssize_t pos = ppos[0], vend, first, n = 0
        cdef int t = num - 4, rc
        if wt == 2:
            if read_length(p, &pos, end, &vend) < 0:
                return self._fail("length runs past the end", tag_pos)
            first = pos
            if num == 7:
                if (vend - pos) % 8:
                    return self._fail(
                        "packed doubles not a multiple of 8 bytes",
                        tag_pos)
                n = (vend - pos) // 8
            else:
                while pos < vend:
                    rc = skip_varint(p, &pos, vend)
                    if rc:
                        return self._fail(
                            "packed varints end inside a value", tag_pos)
                    n += 1
            pos = vend
        elif num == 7 and wt == 1:
            if pos + 8 > end:
                return self._fail("truncated double", tag_pos)
            first = pos
            n = 1
            pos += 8
        elif num != 7 and wt == 0:
            first = pos
            rc = skip_varint(p, &pos, end)
            if rc:
                return self._fail(_varint_error(rc), tag_pos)
            n = 1
        else:
            return self._fail(f"bad wire type {wt} for field value",
                              tag_pos)
        if n and f.count[t] == 0:
            f.first_off[t] = first
            f.first_len[t] = pos - first
        f.count[t] += n
        ppos[0] = pos
        return 0

    # -- C-level access, used by the matcher and the router ------------

    cdef int find(self, const unsigned char* name, Py_ssize_t n,
                  int fi) noexcept:
        cdef int i
        cdef FieldSpan* f
        if fi < 0 or (self.fstate != 1 and self.ensure_fields() < 0):
            return -1
        for i in range(self.nfields):
            f = &self.fields[i]
            if f.name_len == n and \
                    memcmp(self.buf + f.name_off, name, n) == 0:
                if fi == 0:
                    return i
                fi -= 1
        return -1

    cdef Py_ssize_t _nth(self, int i, int ai, Py_ssize_t* region_end
                         ) noexcept:
        # Offset of value ai of field i (of its own type), or -1.  A
        # cursor remembers the last value found, so reading the values
        # of a field in order costs one step each.
        cdef FieldSpan* f = &self.fields[i]
        cdef int t = f.value_type, k
        cdef Py_ssize_t pos, rend
        if ai < 0 or ai >= f.count[t]:
            return -1
        if self.cur_field == i and self.cur_ai <= ai:
            k = self.cur_ai
            pos = self.cur_pos
            rend = self.cur_end
        else:
            k = 0
            pos = f.first_off[t]
            rend = pos + f.first_len[t]
        while k < ai and pos >= 0:
            pos = field_advance(self.buf, f, t, pos, &rend)
            k += 1
        if pos < 0:
            return -1
        self.cur_field = i
        self.cur_ai = ai
        self.cur_pos = pos
        self.cur_end = rend
        region_end[0] = rend
        return pos

    cdef int value_bytes(self, int i, int ai, const unsigned char** out,
                         Py_ssize_t* n) noexcept:
        cdef Py_ssize_t pos, rend = 0
        if self.fields[i].value_type > 1:
            return 0
        pos = self._nth(i, ai, &rend)
        if pos < 0:
            return 0
        out[0] = self.buf + pos
        n[0] = rend - pos
        return 1

    cdef int value_int(self, int i, int ai, long long* out) noexcept:
        cdef int t = self.fields[i].value_type
        cdef Py_ssize_t pos, rend = 0
        cdef uint64_t v = 0
        if t != 2 and t != 4:
            return 0
        pos = self._nth(i, ai, &rend)
        if pos < 0:
            return 0
        read_varint(self.buf, &pos, rend, &v)
        out[0] = <long long>v if t == 2 else (1 if v else 0)
        return 1

    cdef int value_double(self, int i, int ai, double* out) noexcept:
        cdef Py_ssize_t pos, rend = 0
        if self.fields[i].value_type != 3:
            return 0
        pos = self._nth(i, ai, &rend)
        if pos < 0:
            return 0
        out[0] = read_double_le(self.buf + pos)
        return 1

    cdef object header_bytes(self, int num):
        if self.str_off[num] < 0:
            return None
        return (<char*>self.buf)[self.str_off[num]:
                                 self.str_off[num] + self.str_len[num]]

    cdef MessageView clone_for(self, bytes data):
        """A new view of ``data``, a copy of this view's bytes, reusing
        the index already built instead of indexing again."""
        cdef MessageView v = MessageView.__new__(MessageView)
        cdef int i
        v._owner = data
        v.buf = <const unsigned char*><char*>data
        v.size = self.size
        for i in range(10):
            v.str_off[i] = self.str_off[i]
            v.str_len[i] = self.str_len[i]
        v.ts = self.ts
        v.sev = self.sev
        v.pidv = self.pidv
        v.has = self.has
        v.fstate = self.fstate
        v.cur_field = -1
        v.err = self.err
        v.err_pos = self.err_pos
        if self.nfields:
            v.fields = <FieldSpan*>malloc(self.nfields * sizeof(FieldSpan))
            if v.fields == NULL:
                raise MemoryError()
            memcpy(v.fields, self.fields, self.nfields * sizeof(FieldSpan))
            v.cap = self.nfields
        v.nfields = self.nfields
        return v

    def clone(self, bytes data not None):
        """A view of ``data``, which must hold exactly this view's bytes,
        sharing the work of indexing them.

        Raises
        ------
        ValueError
            When ``data`` is not the same length as the viewed bytes.
        """
        if len(data) != self.size:
            raise ValueError(f"clone needs {self.size} bytes, got "
                             f"{len(data)}")
        return self.clone_for(data)

    # -- Python API ----------------------------------------------------

    @property
    def raw(self):
        if isinstance(self._owner, bytes) and \
                len(self._owner) == self.size:
            return self._owner
        return (<char*>self.buf)[:self.size]

    @property
    def uuid(self):
        return self.header_bytes(1)

    @property
    def type(self):
        return self.header_bytes(3)

    @property
    def logger(self):
        return self.header_bytes(4)

    @property
    def payload(self):
        return self.header_bytes(6)

    @property
    def env_version(self):
        return self.header_bytes(7)

    @property
    def hostname(self):
        return self.header_bytes(9)

    @property
    def timestamp(self):
        return self.ts if self.has & HAS_TS else None

    @property
    def severity(self):
        return self.sev if self.has & HAS_SEV else None

    @property
    def pid(self):
        return self.pidv if self.has & HAS_PID else None

    def field_count(self):
        self._fields_or_raise()
        return self.nfields

    cdef FieldSpan* _field(self, object index) except NULL:
        cdef int i = _arg(index)
        self._fields_or_raise()
        if i < 0 or i >= self.nfields:
            raise IndexError(f"field index {index!r} out of range")
        return &self.fields[i]

    def field_name(self, i):
        cdef FieldSpan* f = self._field(i)
        return (<char*>self.buf)[f.name_off:f.name_off + f.name_len]

    def field_type(self, i):
        return self._field(i).value_type

    def field_representation(self, i):
        cdef FieldSpan* f = self._field(i)
        return (<char*>self.buf)[f.repr_off:f.repr_off + f.repr_len]

    def field_len(self, i):
        cdef FieldSpan* f = self._field(i)
        return f.count[f.value_type]

    def field_value(self, i, ai=0):
        cdef FieldSpan* f = self._field(i)
        return self._value(<int>(f - self.fields), _arg(ai))

    cdef object _value(self, int i, int ai):
        cdef const unsigned char* s
        cdef Py_ssize_t n
        cdef long long iv
        cdef double dv
        cdef int t = self.fields[i].value_type
        if t <= 1:
            if self.value_bytes(i, ai, &s, &n):
                return (<char*>s)[:n]
            return None
        if t == 3:
            if self.value_double(i, ai, &dv):
                return dv
            return None
        if self.value_int(i, ai, &iv):
            return iv if t == 2 else iv != 0
        return None

    def find_field(self, name, fi=0):
        """Index of the fi-th field called ``name`` (str or bytes), or -1.
        """
        cdef bytes b = _name_bytes(name)
        cdef int f = _arg(fi)
        self._fields_or_raise()
        return self.find(<const unsigned char*><char*>b, len(b), f)

    def read_field(self, name, fi=0, ai=0):
        """Value ai of the fi-th field called ``name``, or None."""
        cdef bytes b = _name_bytes(name)
        cdef int f = _arg(fi), a = _arg(ai)
        cdef int i
        self._fields_or_raise()
        i = self.find(<const unsigned char*><char*>b, len(b), f)
        if i < 0:
            return None
        return self._value(i, a)


cdef bytes _name_bytes(object name):
    if isinstance(name, bytes):
        return <bytes>name
    if isinstance(name, str):
        return (<str>name).encode("utf-8", "surrogateescape")
    return bytes(name)


cdef int _arg(object x) except? -2:
    # An index argument as a C int: negatives become -1 and values past
    # the C range INT_MAX, both of which are simply out of range.
    cdef object v = _index(x)
    if v < 0:
        return -1
    if v > 0x7FFFFFFF:
        return 0x7FFFFFFF
    return <int>v


cdef Py_ssize_t field_advance(const unsigned char* p, FieldSpan* f, int t,
                              Py_ssize_t pos,
                              Py_ssize_t* region_end) noexcept nogil:
    # From the value of type t at pos (inside a region ending at
    # region_end) of the indexed field f, the offset of the next one, or
    # -1.  Strings and bytes take a region each; numbers may be packed
    # in one.  Used by MessageView and by the C read_message.
    cdef Py_ssize_t vend = 0
    cdef uint64_t key = 0
    cdef int wt
    if t == 3:
        pos += 8
    elif t == 2 or t == 4:
        skip_varint(p, &pos, region_end[0])
    else:
        pos = region_end[0]
    if pos < region_end[0]:
        return pos
    pos = region_end[0]
    while pos < f.end:
        read_varint(p, &pos, f.end, &key)
        wt = key & 7
        if <int>(key >> 3) != t + 4:
            skip_value(p, &pos, f.end, wt)
            continue
        if wt == 2:
            read_length(p, &pos, f.end, &vend)
            if vend == pos and t >= 2:
                continue
            region_end[0] = vend
        elif wt == 1:
            region_end[0] = pos + 8
        else:
            vend = pos
            skip_varint(p, &vend, f.end)
            region_end[0] = vend
        return pos
    return -1


cdef inline int read_length(const unsigned char* p, Py_ssize_t* pos,
                            Py_ssize_t end, Py_ssize_t* vend) noexcept nogil:
    cdef uint64_t n
    if read_varint(p, pos, end, &n):
        return -1
    if n > <uint64_t>(end - pos[0]):
        return -1
    vend[0] = pos[0] + <Py_ssize_t>n
    return 0


cdef inline int skip_value(const unsigned char* p, Py_ssize_t* pos,
                           Py_ssize_t end, int wt) noexcept nogil:
    cdef Py_ssize_t vend
    if wt == 0:
        return -1 if skip_varint(p, pos, end) else 0
    if wt == 1 or wt == 5:
        if pos[0] + (8 if wt == 1 else 4) > end:
            return -1
        pos[0] += 8 if wt == 1 else 4
        return 0
    if wt == 2:
        if read_length(p, pos, end, &vend) < 0:
            return -1
        pos[0] = vend
        return 0
    return -1


cdef str _skip_error(int wt):
    if wt in (0, 1, 2, 5):
        return f"truncated value of wire type {wt}"
    return f"unsupported wire type {wt}"
