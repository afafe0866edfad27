# Protobuf wire primitives on raw pointers.  Every reader is bounded by
# an end offset and reports failure through its return value, so callers
# raise the error only on the failure path.

cdef enum:
    WIRE_OK = 0
    WIRE_TRUNCATED = -1
    WIRE_TOO_LONG = -2


cdef inline int read_varint(const unsigned char* p, Py_ssize_t* pos,
                            Py_ssize_t end, uint64_t* out) noexcept nogil:
    cdef Py_ssize_t i = pos[0]
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef unsigned char b
    while True:
        if i >= end:
            return WIRE_TRUNCATED
        b = p[i]
        i += 1
        if shift < 64:
            result |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = result
            pos[0] = i
            return WIRE_OK
        shift += 7
        if shift >= 70:
            return WIRE_TOO_LONG


cdef inline int skip_varint(const unsigned char* p, Py_ssize_t* pos,
                            Py_ssize_t end) noexcept nogil:
    cdef uint64_t ignored
    return read_varint(p, pos, end, &ignored)


cdef inline double read_double_le(const unsigned char* p) noexcept nogil:
    cdef double d
    memcpy(&d, p, 8)
    return d


cdef str _varint_error(int rc):
    return "truncated varint" if rc == WIRE_TRUNCATED \
        else "varint longer than 10 bytes"
