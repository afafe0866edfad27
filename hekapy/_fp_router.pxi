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
#
# ``direct``, when given, holds one entry per matcher: a DirectTarget
# (_fp_direct.pxi) the loop serves itself, or None.  Every matcher is
# evaluated first; then the active targets run in matcher order and the
# other hits go to ``deliver`` in matcher order (with a fifth argument,
# False, for a run of hits that a direct target follows: injected
# messages wait until the record is done).  The bytes copy is
# made only when deliver or a target's Python callback needs it.  When
# ``pending`` (the router's queue of injected messages) is not empty
# after the last target, deliver is called even with no hits left, so
# that what was injected is routed before the next record.

from cpython.bytes cimport PyBytes_FromStringAndSize


cdef int _program_hit_array(MatchProgram prog, MessageView view,
                            int* out) except -1:
    cdef int k, n = 0
    prog._reset()
    for k in range(prog.nentries):
        if prog._run(view, prog.entry[k]):
            out[n] = k
            n += 1
    return n


cdef int _dispatch(Routed rec, tuple direct, int* hits, int nh,
                   object pending, object deliver, object signer) except -1:
    # Hits are served in matcher order: a run of Python hits goes to
    # deliver (asked not to route injected messages yet) before the next
    # direct target, so plugins inject in the order the Python path
    # would have them inject.
    cdef int i, k
    cdef object d
    cdef list rest = None
    for i in range(nh):
        k = hits[i]
        d = direct[k]
        if d is not None and (<DirectTarget>d).active:
            if rest is not None:
                rec.materialize()
                deliver(rec.raw, signer, rest, rec.view, False)
                rest = None
            (<DirectTarget>d).run(rec)
        else:
            if rest is None:
                rest = []
            rest.append(k)
    if rest is not None or pending:
        rec.materialize()
        deliver(rec.raw, signer, rest if rest is not None else [],
                rec.view)
    return 0


def route_chunk(StreamReader reader not None, data,
                MessageView view not None, matchers, deliver, reject,
                direct=None, pending=None):
    """Route the records ``data`` completes; return how many there were.

    ``deliver(raw, signer, hits, view[, flush])`` gets the wanted
    records, ``reject(error)`` the broken ones; ``direct`` and
    ``pending`` are described at the top of this file.
    """
    cdef Py_ssize_t length, n = 0
    cdef const unsigned char* m
    cdef MatchProgram prog = None
    cdef object evaluate = None
    cdef tuple dtab = None
    cdef int* hitbuf = NULL
    cdef int nh
    cdef Routed rec = None
    if isinstance(matchers, MatchProgram):
        prog = <MatchProgram>matchers
        dtab = tuple(direct) if direct is not None \
            else (None,) * prog.nentries
        if len(dtab) != prog.nentries:
            raise ValueError("direct must have one entry per matcher")
        hitbuf = <int*>malloc((prog.nentries + 1) * sizeof(int))
        if hitbuf == NULL:
            raise MemoryError()
        rec = Routed.__new__(Routed)
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
                    nh = _program_hit_array(prog, view, hitbuf)
                else:
                    hits = evaluate(view)
            except DecodeError as exc:
                # A broken message (its fields are read lazily, so the
                # matcher may be the first to find out) is rejected alone.
                reject(exc)
                continue
            if prog is not None:
                if nh:
                    rec.point(view, m, length)
                    _dispatch(rec, dtab, hitbuf, nh, pending, deliver,
                              reader._signer)
            elif hits:
                # The copy handed on keeps the index built for matching.
                raw = PyBytes_FromStringAndSize(<const char*>m, length)
                deliver(raw, reader._signer, hits, view.clone_for(raw))
    finally:
        reader.finish()
        free(hitbuf)
    return n
