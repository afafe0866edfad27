# Lua 5.1 patterns as lua_sandbox's matcher reads them: the compiled twin
# of hekapy/_purepath/_luapattern.py, which describes the syntax and the
# search.  The pattern is parsed by the pure module's parse_pattern (it
# runs once per pattern); the search below runs the same state-set
# simulation in C: O(len(pattern) * len(subject)), never backtracking.

from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy

from hekapy._purepath._luapattern import (
    LuaPatternError, parse_pattern as _lp_parse)

cdef enum:
    LP_SINGLE = 0
    LP_BALANCE = 1
    LP_FRONTIER = 2
    LP_ONE = 0
    LP_STAR = 1
    LP_OPT = 2


cdef struct LPHeap:
    # Min-heap of (position, state) pairs: states that %bxy lets resume
    # further on in the subject.
    Py_ssize_t* pos
    int* state
    Py_ssize_t size, cap


cdef int lp_heap_push(LPHeap* h, Py_ssize_t pos, int state) except -1:
    cdef Py_ssize_t i, parent, n
    cdef Py_ssize_t* np
    cdef int* ns
    if h.size == h.cap:
        n = h.cap * 2 if h.cap else 16
        np = <Py_ssize_t*>realloc(h.pos, n * sizeof(Py_ssize_t))
        if np == NULL:
            raise MemoryError()
        h.pos = np
        ns = <int*>realloc(h.state, n * sizeof(int))
        if ns == NULL:
            raise MemoryError()
        h.state = ns
        h.cap = n
    i = h.size
    h.size += 1
    while i > 0:
        parent = (i - 1) // 2
        if h.pos[parent] <= pos:
            break
        h.pos[i] = h.pos[parent]
        h.state[i] = h.state[parent]
        i = parent
    h.pos[i] = pos
    h.state[i] = state
    return 0


cdef int lp_heap_pop(LPHeap* h) noexcept:
    # Remove the top entry and return its state.
    cdef int top = h.state[0]
    cdef Py_ssize_t i = 0, child, last
    h.size -= 1
    last = h.size
    while True:
        child = 2 * i + 1
        if child >= last:
            break
        if child + 1 < last and h.pos[child + 1] < h.pos[child]:
            child += 1
        if h.pos[last] <= h.pos[child]:
            break
        h.pos[i] = h.pos[child]
        h.state[i] = h.state[child]
        i = child
    h.pos[i] = h.pos[last]
    h.state[i] = h.state[last]
    return top


cdef class LuaPattern:
    """A parsed Lua pattern; :meth:`search` finds it anywhere.

    Raises
    ------
    LuaPatternError
        When the pattern is malformed.
    """

    cdef readonly bytes pattern
    cdef bint anchored, end_anchored
    cdef int nitems, first
    cdef unsigned char* kinds
    cdef unsigned char* quants
    cdef unsigned char* tables      # nitems * 256 membership bytes
    cdef int* cur
    cdef int* nxt
    cdef Py_ssize_t* mark_cur
    cdef Py_ssize_t* mark_nxt
    cdef Py_ssize_t** bal           # per item: %b ends, built lazily

    def __cinit__(self, *args, **kwargs):
        self.kinds = self.quants = self.tables = NULL
        self.cur = self.nxt = NULL
        self.mark_cur = self.mark_nxt = NULL
        self.bal = NULL

    def __dealloc__(self):
        free(self.kinds)
        free(self.quants)
        free(self.tables)
        free(self.cur)
        free(self.nxt)
        free(self.mark_cur)
        free(self.mark_nxt)
        free(self.bal)

    def __init__(self, pattern):
        cdef int k, m
        cdef bytes table
        self.pattern = bytes(pattern)
        self.anchored, self.end_anchored, items = _lp_parse(self.pattern)
        m = self.nitems = len(items)
        self.kinds = <unsigned char*>malloc(m + 1)
        self.quants = <unsigned char*>malloc(m + 1)
        self.tables = <unsigned char*>malloc(256 * (m + 1))
        self.cur = <int*>malloc((m + 1) * sizeof(int))
        self.nxt = <int*>malloc((m + 1) * sizeof(int))
        self.mark_cur = <Py_ssize_t*>malloc((m + 1) * sizeof(Py_ssize_t))
        self.mark_nxt = <Py_ssize_t*>malloc((m + 1) * sizeof(Py_ssize_t))
        self.bal = <Py_ssize_t**>malloc((m + 1) * sizeof(Py_ssize_t*))
        if self.kinds == NULL or self.quants == NULL or \
                self.tables == NULL or self.cur == NULL or \
                self.nxt == NULL or self.mark_cur == NULL or \
                self.mark_nxt == NULL or self.bal == NULL:
            raise MemoryError()
        for k in range(m):
            kind, data, quant = items[k]
            self.kinds[k] = kind
            self.quants[k] = quant
            self.bal[k] = NULL
            if kind == LP_BALANCE:
                table = bytes(data) + bytes(254)
            else:
                table = data
            memcpy(self.tables + 256 * k, <char*>table, 256)
        self.first = -1
        if m and self.kinds[0] == LP_SINGLE and self.quants[0] == LP_ONE \
                and items[0][1].count(1) == 1:
            self.first = items[0][1].index(1)

    def search(self, s):
        """Whether the pattern matches somewhere in ``s`` (bytes)."""
        cdef bytes b = s if isinstance(s, bytes) else bytes(s)
        return self.search_c(<const unsigned char*><char*>b, len(b))

    cdef bint search_c(self, const unsigned char* s,
                       Py_ssize_t n) except -1:
        cdef LPHeap heap
        cdef bint found
        cdef int k
        heap.pos = NULL
        heap.state = NULL
        heap.size = heap.cap = 0
        try:
            found = self._run(s, n, &heap)
        finally:
            free(heap.pos)
            free(heap.state)
            for k in range(self.nitems):
                free(self.bal[k])
                self.bal[k] = NULL
        return found

    cdef bint _run(self, const unsigned char* s, Py_ssize_t n,
                   LPHeap* heap) except -1:
        cdef int m = self.nitems, k, ncur = 0, nnxt, top, target
        cdef Py_ssize_t si = 0, end
        cdef const unsigned char* hit
        cdef unsigned char* table
        cdef unsigned char prev, here
        for k in range(m + 1):
            self.mark_cur[k] = -1
            self.mark_nxt[k] = -1
        while si <= n:
            if not self.anchored or si == 0:
                if ncur == 0 and heap.size == 0 and self.first >= 0 \
                        and not self.anchored:
                    if si >= n:
                        return False
                    hit = <const unsigned char*>memchr(
                        s + si, self.first, n - si)
                    if hit == NULL:
                        return False
                    si = hit - s
                self._add(0, si, &ncur)
            while heap.size and heap.pos[0] == si:
                self._add(lp_heap_pop(heap), si, &ncur)
            nnxt = 0
            top = 0
            while top < ncur:
                k = self.cur[top]
                top += 1
                if k == m:
                    if not self.end_anchored or si == n:
                        return True
                    continue
                table = self.tables + 256 * k
                if self.kinds[k] == LP_SINGLE:
                    if si < n and table[s[si]]:
                        target = k if self.quants[k] == LP_STAR else k + 1
                        if self.mark_nxt[target] != si + 2:
                            self.mark_nxt[target] = si + 2
                            self.nxt[nnxt] = target
                            nnxt += 1
                    if self.quants[k] == LP_ONE:
                        continue
                elif self.kinds[k] == LP_FRONTIER:
                    prev = s[si - 1] if si > 0 else 0
                    here = s[si] if si < n else 0
                    if table[prev] or not table[here]:
                        continue
                else:
                    end = self._balance_end(s, n, si, k)
                    if end > 0:
                        lp_heap_push(heap, end, k + 1)
                    continue
                self._add(k + 1, si, &ncur)
            self.cur, self.nxt = self.nxt, self.cur
            self.mark_cur, self.mark_nxt = self.mark_nxt, self.mark_cur
            ncur = nnxt
            if ncur == 0 and heap.size == 0 and self.anchored:
                return False
            si += 1
        return False

    cdef inline void _add(self, int k, Py_ssize_t si, int* ncur) noexcept:
        # mark_cur holds si + 1 for states already in the set at si.
        if self.mark_cur[k] != si + 1:
            self.mark_cur[k] = si + 1
            self.cur[ncur[0]] = k
            ncur[0] += 1

    cdef Py_ssize_t _balance_end(self, const unsigned char* s,
                                 Py_ssize_t n, Py_ssize_t si,
                                 int k) except -2:
        cdef unsigned char x = self.tables[256 * k]
        cdef unsigned char y = self.tables[256 * k + 1]
        cdef const unsigned char* hit
        cdef Py_ssize_t* ends
        cdef Py_ssize_t* stack
        cdef Py_ssize_t j, depth = 0
        if si >= n or s[si] != x:
            return -1
        if x == y:
            if si + 1 >= n:
                return -1
            hit = <const unsigned char*>memchr(s + si + 1, y, n - si - 1)
            return -1 if hit == NULL else hit - s + 1
        ends = self.bal[k]
        if ends == NULL:
            ends = <Py_ssize_t*>malloc(2 * n * sizeof(Py_ssize_t))
            if ends == NULL:
                raise MemoryError()
            self.bal[k] = ends
            stack = ends + n
            for j in range(n):
                ends[j] = -1
                if s[j] == x:
                    stack[depth] = j
                    depth += 1
                elif s[j] == y and depth:
                    depth -= 1
                    ends[stack[depth]] = j + 1
        return ends[si]
