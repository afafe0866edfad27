# route_chunk: the router's hot loop, compiled.
#
# Same contract as hekapy/_purepath/_router.py: split a chunk of a framed
# stream, index each record in the caller's reusable MessageView without
# copying it, ask the matchers which plugins want it, and copy the
# message bytes out only for records that some plugin wants.  A record
# whose message does not decode goes to reject(error); the loop goes on.
# When ``matchers`` is a compiled MatchProgram (a MatcherSet) it is run
# at C level and a list is made only for records that match.  The
# reader's chunk bookkeeping (_segments, _next, _settle) is the sequence
# StreamReader.iter_views uses.

from cpython.bytes cimport PyBytes_FromStringAndSize


cdef list _program_hits(MatchProgram prog, MessageView view):
    cdef list out = None
    cdef int k
    prog._reset()
    for k in range(prog.nentries):
        if prog._run(view, prog.entry[k]):
            if out is None:
                out = []
            out.append(k)
    return out


def route_chunk(StreamReader reader not None, data,
                MessageView view not None, matchers, deliver, reject):
    """Route the records ``data`` completes; return how many there were.
    """
    cdef Py_ssize_t length, n = 0
    cdef const unsigned char* m
    cdef MatchProgram prog = None
    cdef object evaluate = None
    if isinstance(matchers, MatchProgram):
        prog = <MatchProgram>matchers
    elif matchers is not None:
        evaluate = matchers.match_list
    reader.begin(data)
    try:
        while reader.next_record(&m, &length):
            n += 1
            if prog is None and evaluate is None:
                continue
            try:
                view.point(reader.current_buffer(), m, length)
                if prog is not None:
                    hits = _program_hits(prog, view)
                else:
                    hits = evaluate(view)
            except DecodeError as exc:
                # A broken message (its fields are read lazily, so the
                # matcher may be the first to find out) is rejected alone.
                reject(exc)
                continue
            if hits:
                # The copy handed on keeps the index built for matching.
                raw = PyBytes_FromStringAndSize(<const char*>m, length)
                deliver(raw, reader._signer, hits, view.clone_for(raw))
    finally:
        reader.finish()
    return n
