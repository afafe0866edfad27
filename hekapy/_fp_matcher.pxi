# Matcher program evaluator: the compiled twin of
# hekapy/_purepath/_matcher.py, which documents the semantics; the
# program tables are described in hekapy/matcher/_compiler.py.  The
# tables are copied into C arrays once; per message, each operand is
# read at most once and each test run at most once, and every matcher's
# code is walked in one loop of forward jumps.

from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memset

from hekapy._purepath._matcher import regex_match as _regex_match

cdef enum:
    M_EQ = 0
    M_NE = 1
    M_GT = 2
    M_GE = 3
    M_LT = 4
    M_LE = 5
    M_RE = 6
    M_NRE = 7

cdef enum:
    S_UUID = 1
    S_TIMESTAMP = 2
    S_SEVERITY = 5
    S_PID = 8
    S_FIELD = 10
    S_ABSENT = 16
    S_UUID_TEXT = 32

cdef enum:
    K_STR = 0
    K_INT = 1
    K_DBL = 2
    K_BOOL = 3
    K_BOOLNUM = 4
    K_NIL = 5
    K_REGEX = 6
    K_PREFIX = 7
    K_SUFFIX = 8
    K_CONTAINS = 9
    K_EQUALS = 10
    K_LUA = 11

cdef enum:
    T_MISSING = 0
    T_ABSENT = 1
    T_BYTES = 2
    T_INT = 3
    T_DOUBLE = 4
    T_BOOL = 5

cdef enum:
    M_ACCEPT = -1
    M_REJECT = -2


cdef struct MOperand:
    int source
    const unsigned char* name
    Py_ssize_t name_len
    int fi, ai


cdef struct MTest:
    int operand, op, kind
    const unsigned char* data
    Py_ssize_t data_len
    long long ival
    double dval
    void* obj           # regex callable or LuaPattern, kept alive
    bint raw_match      # obj is google-re2's inner Match(a, s, i, j)


cdef struct MCode:
    int test, on_true, on_false


cdef struct MValue:
    int tag
    const unsigned char* p
    Py_ssize_t n
    long long i
    double d


cdef struct MScratch:
    # Per-message state: test results (-1 not run yet), operand values.
    signed char* results
    MValue* values
    unsigned char* loaded
    unsigned char uuid_text[36]


cdef const char* HEX = b"0123456789abcdef"


cdef inline int m_cmp_bytes(const unsigned char* a, Py_ssize_t an,
                            const unsigned char* b,
                            Py_ssize_t bn) noexcept:
    cdef int c = memcmp(a, b, an if an < bn else bn)
    if c:
        return c
    return (an > bn) - (an < bn)


cdef inline bint m_order(int op, int c) noexcept:
    # The result of ``op`` given a three-way comparison result ``c``.
    if op == M_EQ:
        return c == 0
    if op == M_NE:
        return c != 0
    if op == M_GT:
        return c > 0
    if op == M_GE:
        return c >= 0
    if op == M_LT:
        return c < 0
    return c <= 0


cdef inline bint m_cmp_int(int op, long long a, long long b) noexcept:
    return m_order(op, (a > b) - (a < b))


cdef inline bint m_cmp_double(int op, double a, double b) noexcept:
    # Written out so that NaN compares false except for !=.
    if op == M_EQ:
        return a == b
    if op == M_NE:
        return a != b
    if op == M_GT:
        return a > b
    if op == M_GE:
        return a >= b
    if op == M_LT:
        return a < b
    return a <= b


cdef bint m_contains(const unsigned char* s, Py_ssize_t n,
                     const unsigned char* d, Py_ssize_t dn) noexcept:
    cdef const unsigned char* hit
    cdef Py_ssize_t i = 0
    if dn == 0:
        return True
    while i + dn <= n:
        hit = <const unsigned char*>memchr(s + i, d[0], n - dn + 1 - i)
        if hit == NULL:
            return False
        if memcmp(hit, d, dn) == 0:
            return True
        i = hit - s + 1
    return False


cdef object _view_of(object msg):
    # Slow path of MatchProgram._view: anything but bytes or our view.
    if isinstance(msg, (bytearray, memoryview)):
        return MessageView(bytes(msg))
    if isinstance(msg, str):
        raise TypeError("cannot match a str; expected protobuf bytes, a "
                        "MessageView, a Pack or a Message")
    view = getattr(msg, "view", None)
    if view is not None:
        return view if isinstance(view, MessageView) \
            else MessageView(view.raw)
    if hasattr(msg, "encode"):
        return MessageView(msg.encode())
    if hasattr(msg, "raw"):
        return MessageView(msg.raw)
    raise TypeError(f"cannot match a {type(msg).__name__}; expected "
                    "bytes, a MessageView, a Pack or a Message")


cdef tuple _regex_matcher(object rx):
    # The fastest way into RE2 that google-re2 offers is its inner
    # Match (half the cost of search); fall back to the public search.
    match = _regex_match(rx)
    if match is not None:
        return match, True
    return rx.search, False


cdef class MatchProgram:
    """Compiled matchers over one set of shared operands and tests.

    Parameters
    ----------
    operands, tests, code, entries:
        The tables made by ``hekapy.matcher._compiler.compile_program``.

    Raises
    ------
    ValueError
        When the tables are inconsistent (a jump backwards or out of
        range, a test or operand index out of range).
    """

    cdef MOperand* ops
    cdef MTest* tests
    cdef MCode* code
    cdef int* entry
    cdef int nops, ntests, ncode, nentries
    cdef MScratch own
    cdef list _keep
    cdef MessageView _view
    cdef bint _busy, _scratch_busy
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        self.ops = NULL
        self.tests = NULL
        self.code = NULL
        self.entry = NULL
        self.own.results = NULL
        self.own.values = NULL
        self.own.loaded = NULL
        self.nops = self.ntests = self.ncode = self.nentries = 0

    def __dealloc__(self):
        free(self.ops)
        free(self.tests)
        free(self.code)
        free(self.entry)
        _free_scratch(&self.own)

    def __init__(self, operands, tests, code, entries):
        self._keep = []
        self._view = MessageView(b"")
        self._busy = self._scratch_busy = False
        self._alloc(len(operands), len(tests), len(code), len(entries))
        self._load_operands(operands)
        self._load_tests(tests)
        self._load_code(code, entries)

    cdef _alloc(self, int nops, int ntests, int ncode, int nentries):
        self.nops, self.ntests = nops, ntests
        self.ncode, self.nentries = ncode, nentries
        self.ops = <MOperand*>malloc((nops + 1) * sizeof(MOperand))
        self.tests = <MTest*>malloc((ntests + 1) * sizeof(MTest))
        self.code = <MCode*>malloc((ncode + 1) * sizeof(MCode))
        self.entry = <int*>malloc((nentries + 1) * sizeof(int))
        if self.ops == NULL or self.tests == NULL or self.code == NULL \
                or self.entry == NULL:
            raise MemoryError()
        _alloc_scratch(&self.own, ntests, nops)

    cdef _load_operands(self, operands):
        cdef int k
        cdef bytes name
        for k, row in enumerate(operands):
            source, name_obj, fi, ai = row
            name = bytes(name_obj)
            self._keep.append(name)
            self.ops[k].source = source
            self.ops[k].name = <const unsigned char*><char*>name
            self.ops[k].name_len = len(name)
            self.ops[k].fi = fi
            self.ops[k].ai = ai

    cdef _load_tests(self, tests):
        cdef int k
        cdef MTest* t
        cdef bytes data
        for k, row in enumerate(tests):
            o, op, kind, data_obj, ival, dval, rx = row
            if not 0 <= o < self.nops or not M_EQ <= op <= M_NRE \
                    or not K_STR <= kind <= K_LUA:
                raise ValueError(f"bad matcher test row {row!r}")
            data = bytes(data_obj)
            t = &self.tests[k]
            t.operand, t.op, t.kind = o, op, kind
            t.data = <const unsigned char*><char*>data
            t.data_len = len(data)
            t.ival = ival
            t.dval = dval
            t.obj = NULL
            t.raw_match = False
            self._keep.append(data)
            if kind == K_LUA:
                obj = LuaPattern(data)
            elif kind == K_REGEX:
                if rx is None:
                    raise ValueError(f"regex test without a regex {row!r}")
                obj, t.raw_match = _regex_matcher(rx)
            else:
                continue
            self._keep.append(obj)
            t.obj = <void*>obj

    cdef _load_code(self, code, entries):
        cdef int pc, k
        if not entries:
            raise ValueError("a matcher program needs at least one entry")
        for k, e in enumerate(entries):
            if not (e in (M_ACCEPT, M_REJECT) or 0 <= e < self.ncode):
                raise ValueError(f"bad matcher entry {e}")
            self.entry[k] = e
        for pc, row in enumerate(code):
            t, on_true, on_false = row
            if not 0 <= t < self.ntests:
                raise ValueError(f"bad test index {t} at {pc}")
            for target in (on_true, on_false):
                if not (target in (M_ACCEPT, M_REJECT)
                        or pc < target < self.ncode):
                    raise ValueError(f"bad jump {target} at {pc}")
            self.code[pc].test = t
            self.code[pc].on_true = on_true
            self.code[pc].on_false = on_false

    # -- Python API ----------------------------------------------------

    def matches(self, msg):
        """Whether the first matcher matches ``msg``.

        ``msg`` is raw protobuf bytes, a MessageView, a Pack or a
        Message.
        """
        cdef MessageView view = self._acquire(msg)
        cdef MScratch* s = NULL
        cdef bint hit
        try:
            s = self._enter()
            _reset_scratch(s, self.ntests, self.nops)
            hit = self._run_s(view, self.entry[0], s)
        finally:
            self._leave(s)
            self._release(view)
        return hit

    def count_matching(self, list messages not None, bint every=False):
        """How many raw messages in ``messages`` match, in one C loop.

        One view is re-pointed at each message, as the routing loop does,
        so this measures what routing costs per message: indexing plus
        evaluation, without a Python call per message.  With ``every``
        all matchers are evaluated and hits are summed over them.
        """
        cdef MessageView view = MessageView(b"")
        cdef MScratch* s = NULL
        cdef Py_ssize_t n = 0
        cdef int k
        cdef bytes raw
        try:
            s = self._enter()
            for raw in messages:
                view.point(raw, <const unsigned char*><char*>raw, len(raw))
                _reset_scratch(s, self.ntests, self.nops)
                if every:
                    for k in range(self.nentries):
                        n += self._run_s(view, self.entry[k], s)
                else:
                    n += self._run_s(view, self.entry[0], s)
        finally:
            self._leave(s)
        return n

    def match_list(self, msg):
        """Indices (ascending) of the matchers that match ``msg``."""
        cdef MessageView view = self._acquire(msg)
        cdef MScratch* s = NULL
        cdef list out = []
        cdef int k
        try:
            s = self._enter()
            _reset_scratch(s, self.ntests, self.nops)
            for k in range(self.nentries):
                if self._run_s(view, self.entry[k], s):
                    out.append(k)
        finally:
            self._leave(s)
            self._release(view)
        return out

    def match_mask(self, msg):
        """Bit k set when matcher k matches ``msg``."""
        cdef MessageView view = self._acquire(msg)
        cdef unsigned long long low = 0
        cdef object high = 0
        cdef MScratch* s = NULL
        cdef int k
        try:
            s = self._enter()
            _reset_scratch(s, self.ntests, self.nops)
            for k in range(self.nentries):
                if self._run_s(view, self.entry[k], s):
                    if k < 64:
                        low |= (<unsigned long long>1) << k
                    else:
                        high |= 1 << k
        finally:
            self._leave(s)
            self._release(view)
        return high | low if high else low

    # -- evaluation ----------------------------------------------------

    cdef MessageView _acquire(self, object msg):
        # Our own reusable view for bytes, unless a call is already
        # using it (another thread inside a regex call, say).
        cdef MessageView view
        if type(msg) is bytes:
            if self._busy:
                return MessageView(msg)
            self._busy = True
            view = self._view
            try:
                view.point(msg, <const unsigned char*><char*>msg,
                           len(<bytes>msg))
            except BaseException:
                self._busy = False
                raise
            return view
        if isinstance(msg, MessageView):
            return msg
        return _view_of(msg)

    cdef inline void _release(self, MessageView view) noexcept:
        if view is self._view:
            self._busy = False

    cdef MScratch* _enter(self) except NULL:
        # The program's own scratch, or a fresh one when a call is
        # already using it (another thread inside a regex call: RE2 runs
        # without the GIL).
        cdef MScratch* s
        if not self._scratch_busy:
            self._scratch_busy = True
            return &self.own
        s = <MScratch*>malloc(sizeof(MScratch))
        if s == NULL:
            raise MemoryError()
        s.results = NULL
        s.values = NULL
        s.loaded = NULL
        try:
            _alloc_scratch(s, self.ntests, self.nops)
        except MemoryError:
            _free_scratch(s)
            free(s)
            raise
        return s

    cdef void _leave(self, MScratch* s) noexcept:
        if s == &self.own:
            self._scratch_busy = False
        elif s != NULL:
            _free_scratch(s)
            free(s)

    # The router's compiled loop calls these two with the program's own
    # scratch; they are not re-entrant.
    cdef inline void _reset(self) noexcept:
        _reset_scratch(&self.own, self.ntests, self.nops)

    cdef bint _run(self, MessageView view, int pc) except -1:
        return self._run_s(view, pc, &self.own)

    cdef bint _run_s(self, MessageView view, int pc,
                     MScratch* s) except -1:
        cdef MCode* c
        cdef int r
        while pc >= 0:
            c = &self.code[pc]
            r = s.results[c.test]
            if r < 0:
                r = self._test(view, c.test, s)
                s.results[c.test] = r
            pc = c.on_true if r else c.on_false
        return pc == M_ACCEPT

    cdef int _test(self, MessageView view, int k,
                   MScratch* s) except -1:
        cdef MTest* t = &self.tests[k]
        cdef MValue* v = &s.values[t.operand]
        cdef int op = t.op, kind = t.kind
        if not s.loaded[t.operand]:
            self._read(view, t.operand, v, s)
            s.loaded[t.operand] = 1
        if kind == K_NIL:
            return (v.tag <= T_ABSENT) == (op == M_EQ)
        if v.tag == T_MISSING:
            return False
        if v.tag == T_ABSENT:
            return op == M_NE or op == M_LT or op == M_LE or op == M_NRE
        if v.tag == T_BYTES:
            if kind == K_STR:
                return m_order(op, m_cmp_bytes(v.p, v.n, t.data,
                                               t.data_len))
            if kind >= K_REGEX:
                return self._search(t, v) == (op == M_RE)
            return False
        if v.tag == T_BOOL:
            if kind == K_BOOL or kind == K_BOOLNUM:
                return (v.i == t.ival) == (op == M_EQ)
            return False
        if v.tag == T_INT:
            if kind == K_INT or kind == K_BOOLNUM:
                return m_cmp_int(op, v.i, t.ival)
            if kind == K_DBL:
                return m_cmp_double(op, <double>v.i, t.dval)
            return False
        if kind == K_INT or kind == K_DBL or kind == K_BOOLNUM:
            return m_cmp_double(op, v.d, t.dval)
        return False

    cdef int _search(self, MTest* t, MValue* v) except -1:
        cdef Py_ssize_t dn = t.data_len
        if t.kind == K_CONTAINS:
            return m_contains(v.p, v.n, t.data, dn)
        if t.kind == K_PREFIX:
            return v.n >= dn and memcmp(v.p, t.data, dn) == 0
        if t.kind == K_SUFFIX:
            return v.n >= dn and memcmp(v.p + v.n - dn, t.data, dn) == 0
        if t.kind == K_EQUALS:
            return v.n == dn and memcmp(v.p, t.data, dn) == 0
        if t.kind == K_LUA:
            return (<LuaPattern>t.obj).search_c(v.p, v.n)
        return self._regex(t, v)

    cdef int _regex(self, MTest* t, MValue* v) except -1:
        cdef bytes text = (<const char*>v.p)[:v.n]
        if t.raw_match:
            return (<object>t.obj)(text, 0, v.n)[0][0] >= 0
        return (<object>t.obj)(text) is not None

    cdef int _read(self, MessageView view, int k, MValue* v,
                   MScratch* s) except -1:
        cdef MOperand* o = &self.ops[k]
        cdef int src = o.source & 15
        cdef Py_ssize_t off
        if src == S_FIELD:
            return self._read_field(view, o, v)
        if src == S_TIMESTAMP or src == S_SEVERITY or src == S_PID:
            v.tag = T_INT
            if src == S_TIMESTAMP and view.has & HAS_TS:
                v.i = view.ts
            elif src == S_SEVERITY and view.has & HAS_SEV:
                v.i = view.sev
            elif src == S_PID and view.has & HAS_PID:
                v.i = view.pidv
            elif o.source & S_ABSENT:
                v.tag = T_ABSENT
            else:
                v.i = 7 if src == S_SEVERITY else 0
            return 0
        off = view.str_off[src]
        v.tag = T_BYTES
        if off < 0:
            v.p = view.buf
            v.n = 0
            if o.source & S_ABSENT:
                v.tag = T_ABSENT
            return 0
        v.p = view.buf + off
        v.n = view.str_len[src]
        if o.source & S_UUID_TEXT:
            _uuid_text(v, s.uuid_text)
        return 0

    cdef int _read_field(self, MessageView view, MOperand* o,
                         MValue* v) except -1:
        # The view indexes its fields on the first look; a broken field
        # raises DecodeError then, as the pure twin does.
        cdef int i, vt
        view._fields_or_raise()
        i = view.find(o.name, o.name_len, o.fi)
        v.tag = T_MISSING
        if i < 0:
            return 0
        vt = view.fields[i].value_type
        if vt <= 1:
            if view.value_bytes(i, o.ai, &v.p, &v.n):
                v.tag = T_BYTES
        elif vt == 3:
            if view.value_double(i, o.ai, &v.d):
                v.tag = T_DOUBLE
        elif view.value_int(i, o.ai, &v.i):
            v.tag = T_INT if vt == 2 else T_BOOL
        return 0


cdef void _uuid_text(MValue* v, unsigned char* out) noexcept:
    # The Uuid as Heka prints it: 36 lower-case characters with dashes.
    cdef int i, j = 0
    cdef unsigned char b
    if v.n != 16:
        v.n = 0
        return
    for i in range(16):
        if i == 4 or i == 6 or i == 8 or i == 10:
            out[j] = 45  # '-'
            j += 1
        b = v.p[i]
        out[j] = HEX[b >> 4]
        out[j + 1] = HEX[b & 15]
        j += 2
    v.p = out
    v.n = 36


cdef int _alloc_scratch(MScratch* s, int ntests, int nops) except -1:
    s.results = <signed char*>malloc(ntests + 1)
    s.values = <MValue*>malloc((nops + 1) * sizeof(MValue))
    s.loaded = <unsigned char*>malloc(nops + 1)
    if s.results == NULL or s.values == NULL or s.loaded == NULL:
        raise MemoryError()
    return 0


cdef void _free_scratch(MScratch* s) noexcept:
    free(s.results)
    free(s.values)
    free(s.loaded)
    s.results = NULL
    s.values = NULL
    s.loaded = NULL


cdef inline void _reset_scratch(MScratch* s, int ntests,
                                int nops) noexcept:
    memset(s.results, -1, ntests)
    memset(s.loaded, 0, nops)
