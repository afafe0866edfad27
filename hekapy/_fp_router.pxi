# route_frames: the router's hot loop, compiled.
#
# Same contract as hekapy/_purepath/_router.py: split a chunk of a framed
# stream, index each record in the caller's reusable MessageView without
# copying it, ask evaluate(view) which plugins want it, and copy the
# message bytes out only for records that some plugin wants.  A record
# whose message does not decode goes to reject(error); the loop goes on.
# The reader's chunk bookkeeping (_segments, _next, _settle) is the same
# sequence StreamReader.iter_views uses.

from cpython.bytes cimport PyBytes_FromStringAndSize


def route_frames(StreamReader reader not None, data,
                 MessageView view not None, evaluate, deliver, reject):
    """Route the records ``data`` completes; return how many there were.
    """
    cdef list segments = reader._segments(data)
    cdef Py_ssize_t pos = 0, body, length, n = 0
    cdef int seg
    cdef bytes buf
    cdef const char* p
    for seg in range(len(segments)):
        buf = segments[seg][0]
        p = <const char*>buf
        reader._buf_base = segments[seg][2]
        if seg == 1:
            pos -= len(reader._held)
        try:
            while reader._next(buf, segments[seg][1], &pos, &body,
                               &length):
                n += 1
                try:
                    view.point(buf, <const unsigned char*>p + body, length)
                except DecodeError as exc:
                    reject(exc)
                    continue
                hits = evaluate(view)
                if hits:
                    deliver(PyBytes_FromStringAndSize(p + body, length),
                            reader._signer, hits)
        finally:
            reader._settle(segments, seg, pos)
    return n
