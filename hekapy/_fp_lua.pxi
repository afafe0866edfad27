# read_message for Lua sandboxes, in C.
#
# A sandbox reads message values through read_message, once or more per
# message.  Going from Lua back into Python for each read costs far more
# than the read itself, so this file gives the sandbox host a C function
# that Lua calls directly.  It reads the current message from a slot that
# the host fills (with run_with_message) just before it calls the
# script, from the MessageView's own index: no Python object is built
# and the GIL is not needed.  When a slot holds no view (a decoder that
# rewrote its message, say), the C function hands the call to the Python
# reader it was created with.
#
# The Lua C API is not linked in: its functions are looked up at run
# time in lupa's Lua 5.1 module (bind_lua), and Lua loads the entry
# point luaopen_hekapy_fastread from this module's own file through
# package.loadlib.  Without a binding, the host keeps its Python reader.

from posix.dlfcn cimport dlerror, dlopen, dlsym, RTLD_NOW

cdef extern from "<dlfcn.h>":
    int RTLD_NOLOAD

cdef extern from *:
    """
    typedef struct lua_State lua_State;
    """
    ctypedef struct lua_State

ctypedef int (*lua_CFunction)(lua_State*) noexcept nogil

cdef struct LuaApi:
    int (*gettop)(lua_State*) noexcept nogil
    int (*type)(lua_State*, int) noexcept nogil
    const char* (*tolstring)(lua_State*, int, size_t*) noexcept nogil
    Py_ssize_t (*tointeger)(lua_State*, int) noexcept nogil
    void (*pushnil)(lua_State*) noexcept nogil
    void (*pushnumber)(lua_State*, double) noexcept nogil
    void (*pushlstring)(lua_State*, const char*, size_t) noexcept nogil
    void (*pushboolean)(lua_State*, int) noexcept nogil
    void (*pushvalue)(lua_State*, int) noexcept nogil
    void (*pushcclosure)(lua_State*, lua_CFunction, int) noexcept nogil
    void (*call)(lua_State*, int, int) noexcept nogil

cdef LuaApi LUA
cdef bint LUA_BOUND = False

cdef enum:
    LUA_TSTRING = 4
    LUA_GLOBALSINDEX = -10002
    MAX_SLOTS = 4096

# What one sandbox is reading: a copy of the view's index pointers.
cdef struct Current:
    int active
    const unsigned char* buf
    Py_ssize_t size
    Py_ssize_t str_off[10]
    Py_ssize_t str_len[10]
    long long ts
    int sev, pidv, has
    FieldSpan* fields
    int nfields

cdef Current SLOTS[MAX_SLOTS]
# The lua_State each slot's sandbox registered its entry point in
# (_fp_luacall.pxi); cleared when the slot is released.
cdef lua_State* SLOT_STATE[MAX_SLOTS]
cdef list _free_slots = list(range(MAX_SLOTS - 1, -1, -1))


def bind_lua(path):
    """Find the Lua C API in the already loaded lupa module at ``path``.

    Returns True when read_message can run in C from now on.
    """
    global LUA_BOUND
    cdef bytes p = path.encode()
    cdef void* h = dlopen(p, RTLD_NOW | RTLD_NOLOAD)
    if h == NULL:
        return False
    names = ("lua_gettop", "lua_type", "lua_tolstring", "lua_tointeger",
             "lua_pushnil", "lua_pushnumber", "lua_pushlstring",
             "lua_pushboolean", "lua_pushvalue", "lua_pushcclosure",
             "lua_call")
    cdef void* found[11]
    cdef int i
    for i, name in enumerate(names):
        found[i] = dlsym(h, (<str>name).encode())
        if found[i] == NULL:
            dlerror()
            return False
    LUA.gettop = <int (*)(lua_State*) noexcept nogil>found[0]
    LUA.type = <int (*)(lua_State*, int) noexcept nogil>found[1]
    LUA.tolstring = \
        <const char* (*)(lua_State*, int, size_t*) noexcept nogil>found[2]
    LUA.tointeger = <Py_ssize_t (*)(lua_State*, int) noexcept nogil>found[3]
    LUA.pushnil = <void (*)(lua_State*) noexcept nogil>found[4]
    LUA.pushnumber = <void (*)(lua_State*, double) noexcept nogil>found[5]
    LUA.pushlstring = \
        <void (*)(lua_State*, const char*, size_t) noexcept nogil>found[6]
    LUA.pushboolean = <void (*)(lua_State*, int) noexcept nogil>found[7]
    LUA.pushvalue = <void (*)(lua_State*, int) noexcept nogil>found[8]
    LUA.pushcclosure = \
        <void (*)(lua_State*, lua_CFunction, int) noexcept nogil>found[9]
    LUA.call = <void (*)(lua_State*, int, int) noexcept nogil>found[10]
    LUA_BOUND = True
    return True


def lua_bound():
    """True when bind_lua succeeded."""
    return LUA_BOUND


def acquire_slot():
    """A free slot number for one sandbox (release it when done)."""
    if not _free_slots:
        raise RuntimeError(f"more than {MAX_SLOTS} sandboxes at once")
    cdef int slot = _free_slots.pop()
    SLOTS[slot].active = 0
    return slot


def release_slot(int slot):
    SLOTS[slot].active = 0
    SLOT_STATE[slot] = NULL
    _free_slots.append(slot)


def clear_slot(int slot):
    """Empty the slot: reads go to the Python reader until the next call.

    For a script that rewrote its message, whose values the view no
    longer shows.
    """
    if 0 <= slot < MAX_SLOTS:
        SLOTS[slot].active = 0


cdef int _fill(int slot, MessageView view) except -1:
    cdef Current* c = &SLOTS[slot]
    cdef int i
    view._fields_or_raise()
    c.buf = view.buf
    c.size = view.size
    for i in range(10):
        c.str_off[i] = view.str_off[i]
        c.str_len[i] = view.str_len[i]
    c.ts = view.ts
    c.sev = view.sev
    c.pidv = view.pidv
    c.has = view.has
    c.fields = view.fields
    c.nfields = view.nfields
    c.active = 1
    return 0


def run_with_message(int slot, MessageView view, fn):
    """Call ``fn()`` with ``view`` as slot ``slot``'s current message.

    Raises DecodeError (before calling) when a field of the message is
    broken.  The slot is emptied again whatever ``fn`` does.
    """
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot {slot} out of range")
    _fill(slot, view)
    try:
        return fn()
    finally:
        SLOTS[slot].active = 0


cdef int _find(Current* c, const char* name, size_t n,
               int fi) noexcept nogil:
    cdef int i
    for i in range(c.nfields):
        if c.fields[i].name_len == <Py_ssize_t>n and \
                memcmp(c.buf + c.fields[i].name_off, name, n) == 0:
            if fi == 0:
                return i
            fi -= 1
    return -1


cdef Py_ssize_t _nth_value(Current* c, int i, int ai,
                           Py_ssize_t* region_end) noexcept nogil:
    # Offset of value ai of field i, or -1 (see field_advance).
    cdef FieldSpan* f = &c.fields[i]
    cdef int t = f.value_type, k = 0
    cdef Py_ssize_t pos, rend
    if ai < 0 or ai >= f.count[t]:
        return -1
    pos = f.first_off[t]
    rend = pos + f.first_len[t]
    while k < ai and pos >= 0:
        pos = field_advance(c.buf, f, t, pos, &rend)
        k += 1
    region_end[0] = rend
    return pos


cdef void _push_field(lua_State* L, Current* c, const char* name,
                      size_t n, int fi, int ai) noexcept nogil:
    cdef int i = _find(c, name, n, fi)
    cdef int t
    cdef Py_ssize_t pos, rend = 0
    cdef uint64_t v = 0
    cdef double d
    if i < 0:
        LUA.pushnil(L)
        return
    t = c.fields[i].value_type
    pos = _nth_value(c, i, ai, &rend)
    if pos < 0:
        LUA.pushnil(L)
    elif t <= 1:
        if t == 1 and rend == pos:
            LUA.pushnil(L)
        else:
            LUA.pushlstring(L, <const char*>c.buf + pos, rend - pos)
    elif t == 3:
        memcpy(&d, c.buf + pos, 8)
        LUA.pushnumber(L, d)
    else:
        read_varint(c.buf, &pos, rend, &v)
        if t == 2:
            LUA.pushnumber(L, <double><long long>v)
        else:
            LUA.pushboolean(L, v != 0)


cdef void _push_text(lua_State* L, Current* c, int num) noexcept nogil:
    if c.str_off[num] < 0:
        LUA.pushlstring(L, "", 0)
    else:
        LUA.pushlstring(L, <const char*>c.buf + c.str_off[num],
                        c.str_len[num])


cdef const char* LOWER_HEX = "0123456789abcdef"


cdef void _push_uuid(lua_State* L, Current* c) noexcept nogil:
    cdef char out[36]
    cdef int i, o = 0
    cdef const unsigned char* u
    if c.str_off[1] < 0 or c.str_len[1] != 16:
        LUA.pushlstring(L, "", 0)
        return
    u = c.buf + c.str_off[1]
    for i in range(16):
        if i == 4 or i == 6 or i == 8 or i == 10:
            out[o] = b'-'
            o += 1
        out[o] = LOWER_HEX[u[i] >> 4]
        out[o + 1] = LOWER_HEX[u[i] & 15]
        o += 2
    LUA.pushlstring(L, out, 36)


cdef inline int _index_arg(Py_ssize_t v) noexcept nogil:
    # Indices past the C int range are simply out of range.
    if v < 0:
        return -1
    return <int>v if v < 0x7FFFFFFF else 0x7FFFFFFF


cdef inline bint _is(const char* s, size_t n, const char* word,
                     size_t m) noexcept nogil:
    return n == m and memcmp(s, word, m) == 0


cdef int c_read_message(lua_State* L) noexcept nogil:
    # Arguments (name, fi, ai), already checked by the Lua wrapper.
    cdef int slot = <int>LUA.tointeger(L, LUA_GLOBALSINDEX - 1)
    cdef Current* c = &SLOTS[slot]
    cdef size_t n = 0
    cdef const char* s = NULL
    if not c.active:
        # No view: the Python reader (second upvalue) answers.
        LUA.pushvalue(L, LUA_GLOBALSINDEX - 2)
        LUA.pushvalue(L, 1)
        LUA.pushvalue(L, 2)
        LUA.pushvalue(L, 3)
        LUA.call(L, 3, 1)
        return 1
    if LUA.type(L, 1) != LUA_TSTRING:
        LUA.pushnil(L)
        return 1
    s = LUA.tolstring(L, 1, &n)
    if n > 8 and memcmp(s, b"Fields[", 7) == 0 and s[n - 1] == b']':
        _push_field(L, c, s + 7, n - 8, _index_arg(LUA.tointeger(L, 2)),
                    _index_arg(LUA.tointeger(L, 3)))
    elif _is(s, n, "Type", 4):
        _push_text(L, c, 3)
    elif _is(s, n, "Logger", 6):
        _push_text(L, c, 4)
    elif _is(s, n, "Payload", 7):
        _push_text(L, c, 6)
    elif _is(s, n, "Hostname", 8):
        _push_text(L, c, 9)
    elif _is(s, n, "EnvVersion", 10):
        _push_text(L, c, 7)
    elif _is(s, n, "Severity", 8):
        LUA.pushnumber(L, c.sev if c.has & HAS_SEV else 7)
    elif _is(s, n, "Timestamp", 9):
        if c.has & HAS_TS:
            LUA.pushnumber(L, <double>c.ts)
        else:
            LUA.pushnil(L)
    elif _is(s, n, "Pid", 3):
        if c.has & HAS_PID:
            LUA.pushnumber(L, c.pidv)
        else:
            LUA.pushnil(L)
    elif _is(s, n, "Uuid", 4):
        _push_uuid(L, c)
    elif _is(s, n, "raw", 3) and c.size > 0:
        LUA.pushlstring(L, <const char*>c.buf, c.size)
    else:
        LUA.pushnil(L)
    return 1


cdef public int luaopen_hekapy_fastread(lua_State* L) noexcept nogil:
    # Called from Lua as loader(slot, python_reader): returns the C
    # read function bound to that slot, falling back to python_reader.
    LUA.pushvalue(L, 1)
    LUA.pushvalue(L, 2)
    LUA.pushcclosure(L, c_read_message, 2)
    return 1
