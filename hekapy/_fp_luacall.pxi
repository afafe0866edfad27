# Calling a Lua filter's process_message straight from the routing loop.
#
# Routing a message to an inline sandbox filter through Python costs
# several Python calls per delivery (router, runner, plugin, host, lupa)
# for a script that often runs in a few hundred nanoseconds.  A
# DirectCall lets route_chunk call the sandbox's entry point with
# lua_pcall itself: it fills the sandbox's read_message slot with the
# record's index, calls, and looks at what came back.  The common
# outcome (status 0) never touches Python.  Anything else (an error, a
# negative status, a termination) is handed to ``on_outcome`` in the
# same shape the Python path sees, so one piece of code judges it.
#
# A call that reaches back into Python (inject_message, read_next_field,
# ...) asks ``current()`` for the record as bytes and a view; they are
# made on that first request only.
#
# The entry point is registered by the sandbox itself: Lua calls the C
# function luaopen_hekapy_direct(slot, fn) loaded from this module, which
# records the calling lua_State and keeps fn in the Lua registry under
# the slot's address.
#
# Threads.  The script runs with the GIL released, as it does through
# lupa, so other Python threads go on meanwhile.  lupa's own runtime
# lock is not taken (lupa does not export it); instead a DirectCall has
# a lock of its own, held for the whole call, and the host holds it
# (``with direct:``) whenever another thread may read the same runtime
# through lupa, for statistics.  Calls themselves come from the thread
# that routes, serialised by the router.

cdef struct LuaCallApi:
    int (*pcall)(lua_State*, int, int, int) noexcept nogil
    void (*rawset)(lua_State*, int) noexcept nogil
    void (*pushlightuserdata)(lua_State*, void*) noexcept nogil

cdef LuaCallApi LUA3
cdef bint CALL_BOUND = False

cdef enum:
    LUA_REGISTRYINDEX = -10000
    LUA_ERRMEM = 4
    # One call in 8 is timed, memory is sampled every 256 calls, as on
    # the Python path (TIME_EVERY in router/_runner.py, the sampling in
    # sandbox/_host.py).
    TIME_MASK = 7
    SAMPLE_MASK = 0xFF


def bind_lua_call(path):
    """Find the Lua API DirectCall needs; True on success."""
    global CALL_BOUND
    cdef bytes p = path.encode()
    cdef void* h = dlopen(p, RTLD_NOW | RTLD_NOLOAD)
    cdef void* found[3]
    cdef int i
    if h == NULL or not ENCODE_BOUND:
        return False
    names = ("lua_pcall", "lua_rawset", "lua_pushlightuserdata")
    for i, name in enumerate(names):
        found[i] = dlsym(h, (<str>name).encode())
        if found[i] == NULL:
            dlerror()
            return False
    LUA3.pcall = <int (*)(lua_State*, int, int, int) noexcept nogil>found[0]
    LUA3.rawset = <void (*)(lua_State*, int) noexcept nogil>found[1]
    LUA3.pushlightuserdata = \
        <void (*)(lua_State*, void*) noexcept nogil>found[2]
    CALL_BOUND = True
    return True


cdef public int luaopen_hekapy_direct(lua_State* L) noexcept nogil:
    # Called from Lua as register(slot, fn).
    cdef Py_ssize_t slot = LUA.tointeger(L, 1)
    if slot < 0 or slot >= MAX_SLOTS:
        return 0
    SLOT_STATE[slot] = L
    LUA3.pushlightuserdata(L, <void*>&SLOTS[slot])
    LUA.pushvalue(L, 2)
    LUA3.rawset(L, LUA_REGISTRYINDEX)
    return 0


cdef object _lua_value(lua_State* L, int idx):
    cdef size_t n = 0
    cdef const char* s
    cdef int t = LUA.type(L, idx)
    if t == LUA_TSTRING:
        s = LUA.tolstring(L, idx, &n)
        return PyBytes_FromStringAndSize(s, n)
    if t == LUA_TNUMBER:
        return LUA2.tonumber(L, idx)
    return None


cdef class DirectCall(DirectTarget):
    """Calls one sandbox's process_message entry point from C.

    ``on_outcome(r, err)`` receives what the entry point returned when
    it was not 0 (``r``, a tuple), the status and message of an error
    that escaped it (``err``), or a DecodeError raised while reading
    the record (``r``; such records are also counted in ``unread``).
    ``on_sample()`` is called every 256 calls.  ``thread`` is the
    ident of the thread that made the last call.
    """

    cdef lua_State* L
    cdef int slot
    cdef Routed rec
    cdef PyThread_type_lock lock
    cdef unsigned long holder
    cdef int depth
    cdef public object on_sample
    cdef public unsigned long thread
    cdef public Py_ssize_t unread
    # The runtime the lua_State belongs to, kept alive until close().
    cdef public object runtime

    def __cinit__(self, int slot):
        if not CALL_BOUND or not 0 <= slot < MAX_SLOTS or \
                SLOT_STATE[slot] == NULL:
            raise ValueError(f"slot {slot} has no registered entry point")
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        self.L = SLOT_STATE[slot]
        self.slot = slot
        self.active = True

    def __dealloc__(self):
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    cdef void _acquire(self):
        # Reentrant for the thread that holds it; waits without the GIL.
        cdef unsigned long me = PyThread_get_thread_ident()
        if self.depth and self.holder == me:
            self.depth += 1
            return
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
        self.holder = me
        self.depth = 1

    cdef void _release(self):
        self.depth -= 1
        if self.depth == 0:
            self.holder = 0
            PyThread_release_lock(self.lock)

    def __enter__(self):
        self._acquire()
        return self

    def __exit__(self, *exc):
        self._release()
        return False

    def close(self):
        """Never call the entry point again (its runtime is going)."""
        self.active = False
        self.L = NULL
        self.runtime = None
        if 0 <= self.slot < MAX_SLOTS:
            SLOT_STATE[self.slot] = NULL

    def current(self):
        """(bytes, view) of the record being processed, or None."""
        if self.rec is None:
            return None
        raw = self.rec.materialize()
        return raw, self.rec.view

    cdef int run(self, Routed rec) except -1:
        cdef lua_State* L = self.L
        cdef int top, status
        cdef long long t0 = 0
        cdef bint timing
        cdef object r = None, err = None
        if L == NULL:
            return 0
        self.calls += 1
        self.thread = PyThread_get_thread_ident()
        try:
            _fill(self.slot, rec.src)
        except DecodeError as exc:
            self.unread += 1
            self.on_outcome(exc, None)
            return 0
        timing = (self.calls & TIME_MASK) == 1
        if timing:
            t0 = _now_ns()
        self._acquire()
        self.rec = rec
        top = LUA.gettop(L)
        try:
            LUA3.pushlightuserdata(L, <void*>&SLOTS[self.slot])
            LUA2.rawget(L, LUA_REGISTRYINDEX)
            with nogil:
                status = LUA3.pcall(L, 0, 3, 0)
            SLOTS[self.slot].active = 0
            if status != 0:
                err = (status, _lua_value(L, -1))
            elif not (LUA.type(L, -3) == LUA_TNUMBER and
                      LUA2.tonumber(L, -3) == 0):
                r = (_lua_value(L, -3), _lua_value(L, -2),
                     _lua_value(L, -1))
        finally:
            SLOTS[self.slot].active = 0
            LUA2.settop(L, top)
            self.rec = None
            self._release()
        if timing:
            self.process_ns += _now_ns() - t0
            self.timed += 1
        if r is not None or err is not None:
            self.on_outcome(r, err)
        if not (self.calls & SAMPLE_MASK) and self.on_sample is not None:
            self.on_sample()
        return 0
