# Plugins the compiled routing loop serves without calling Python.
#
# route_chunk hands a record to a DirectTarget with ``run(rec)``; the
# record is a Routed: a pointer into the reader's buffer, plus the bytes
# and a view made only if someone asks for them.  Two kinds exist: the
# DirectCall of an inline Lua filter (_fp_luacall.pxi) and the
# FrameSink below, which appends framed records to a buffer its output
# writes in one go after the chunk.  The runner that owns a target reads
# its counters into the report.

from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_get_thread_ident,
    PyThread_release_lock,
    PyThread_type_lock,
)


cdef int frame_append(Out* o, const unsigned char* msg,
                      Py_ssize_t n) noexcept nogil:
    # One unsigned Heka record (header, then the message) onto o.  When
    # memory runs out o is left as it was and 0 returned.
    cdef unsigned char head[16]
    cdef int k = 3
    cdef uint64_t v = <uint64_t>n
    cdef size_t start = o.n
    head[0] = 0x1E
    head[2] = 0x08
    while v >= 0x80:
        head[k] = <unsigned char>((v & 0x7F) | 0x80)
        v >>= 7
        k += 1
    head[k] = <unsigned char>v
    k += 1
    head[1] = <unsigned char>(k - 2)
    head[k] = 0x1F
    o_reserve(o, k + 1 + n)
    if o.failed:
        o.failed = 0
        o.n = start
        return 0
    o_bytes(o, head, k + 1)
    o_bytes(o, msg, n)
    return 1


cdef inline long long _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef class Routed:
    """The record being routed, as bytes and a view made on request."""

    cdef const unsigned char* m
    cdef Py_ssize_t length
    cdef MessageView src
    cdef object raw, view

    cdef void point(self, MessageView src, const unsigned char* m,
                    Py_ssize_t length):
        self.src = src
        self.m = m
        self.length = length
        self.raw = None
        self.view = None

    cdef object materialize(self):
        if self.raw is None:
            self.raw = PyBytes_FromStringAndSize(<const char*>self.m,
                                                 self.length)
            self.view = self.src.clone_for(self.raw)
        return self.raw


cdef class DirectTarget:
    """Something route_chunk delivers to itself (see the subclasses).

    ``active`` is cleared when the plugin stops; ``calls`` counts the
    records delivered, ``process_ns``/``timed`` the sampled call times.
    """

    cdef public bint active
    cdef public Py_ssize_t calls
    cdef public long long process_ns
    cdef public Py_ssize_t timed
    cdef public object on_outcome

    cdef int run(self, Routed rec) except -1:
        return 0


cdef class FrameSink(DirectTarget):
    """Collects delivered records as a Heka framed stream, unsigned.

    ``take()`` returns the bytes collected and their record count and
    empties the sink.  A record longer than ``max_size`` (when not
    negative) is not framed here: ``on_outcome(raw, view)`` gets it
    instead, so the output's own path can judge it.
    """

    cdef Out buf
    cdef public Py_ssize_t pending
    cdef public Py_ssize_t max_size

    def __cinit__(self, Py_ssize_t max_size=-1):
        self.active = True
        self.max_size = max_size

    def __dealloc__(self):
        free(self.buf.p)

    cdef int run(self, Routed rec) except -1:
        if self.max_size >= 0 and rec.length > self.max_size:
            rec.materialize()
            self.on_outcome(rec.raw, rec.view)
            return 0
        if not frame_append(&self.buf, rec.m, rec.length):
            raise MemoryError()
        self.calls += 1
        self.pending += 1
        return 0

    def take(self):
        """(bytes, count) collected since the last take."""
        cdef bytes data = PyBytes_FromStringAndSize(
            <const char*>self.buf.p, self.buf.n) if self.buf.n else b""
        cdef Py_ssize_t n = self.pending
        self.buf.n = 0
        self.pending = 0
        if self.buf.cap > (8 << 20):
            free(self.buf.p)
            self.buf.p = NULL
            self.buf.cap = 0
        return data, n

    def close(self):
        self.active = False
