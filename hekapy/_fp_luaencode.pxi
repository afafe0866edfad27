# inject_message tables, encoded in C (uses the Lua API bound in
# _fp_lua.pxi).
#
# Serialising the table a script hands to inject_message through lupa
# costs a call into Lua for every key read.  c_encode_message walks the
# table with the Lua C API instead and writes the protobuf bytes Heka's
# sandbox wrote for it (see hekapy/sandbox/_pb.py, the reference).  It
# covers what scripts commonly pass; for anything else (metatables,
# numbers where text is expected, circular buffers, errors) it returns
# nothing and the Python encoder takes over, with its exact error texts.

cdef extern from *:
    """
    #include <sys/random.h>
    #include <time.h>
    #include <math.h>
    static __thread unsigned char *hekapy_enc_buf = NULL;
    static __thread size_t hekapy_enc_cap = 0;
    """
    unsigned char* hekapy_enc_buf
    size_t hekapy_enc_cap
    ssize_t getrandom(void* buf, size_t n, unsigned int flags) nogil
    long time(void* t) nogil
    bint isfinite(double x) nogil

cdef struct LuaApi2:
    int (*next)(lua_State*, int) noexcept nogil
    void (*rawget)(lua_State*, int) noexcept nogil
    void (*rawgeti)(lua_State*, int, int) noexcept nogil
    void (*settop)(lua_State*, int) noexcept nogil
    double (*tonumber)(lua_State*, int) noexcept nogil
    int (*toboolean)(lua_State*, int) noexcept nogil
    size_t (*objlen)(lua_State*, int) noexcept nogil
    int (*getmetatable)(lua_State*, int) noexcept nogil

cdef LuaApi2 LUA2
cdef bint ENCODE_BOUND = False

cdef enum:
    LUA_TNIL = 0
    LUA_TBOOLEAN = 1
    LUA_TNUMBER = 3
    LUA_TTABLE = 5


def bind_lua_encoder(path):
    """Find the extra Lua API the C table encoder needs; True on success.
    """
    global ENCODE_BOUND
    cdef bytes p = path.encode()
    cdef void* h = dlopen(p, RTLD_NOW | RTLD_NOLOAD)
    cdef void* found[8]
    cdef int i
    if h == NULL or not LUA_BOUND:
        return False
    names = ("lua_next", "lua_rawget", "lua_rawgeti", "lua_settop",
             "lua_tonumber", "lua_toboolean", "lua_objlen",
             "lua_getmetatable")
    for i, name in enumerate(names):
        found[i] = dlsym(h, (<str>name).encode())
        if found[i] == NULL:
            dlerror()
            return False
    LUA2.next = <int (*)(lua_State*, int) noexcept nogil>found[0]
    LUA2.rawget = <void (*)(lua_State*, int) noexcept nogil>found[1]
    LUA2.rawgeti = <void (*)(lua_State*, int, int) noexcept nogil>found[2]
    LUA2.settop = <void (*)(lua_State*, int) noexcept nogil>found[3]
    LUA2.tonumber = <double (*)(lua_State*, int) noexcept nogil>found[4]
    LUA2.toboolean = <int (*)(lua_State*, int) noexcept nogil>found[5]
    LUA2.objlen = <size_t (*)(lua_State*, int) noexcept nogil>found[6]
    LUA2.getmetatable = <int (*)(lua_State*, int) noexcept nogil>found[7]
    ENCODE_BOUND = True
    return True


cdef struct Out:
    unsigned char* p
    size_t n, cap
    int failed


cdef void o_reserve(Out* o, size_t more) noexcept nogil:
    cdef size_t cap
    cdef unsigned char* q
    if o.failed or o.n + more <= o.cap:
        return
    cap = o.cap * 2 if o.cap else 1024
    while cap < o.n + more:
        cap *= 2
    q = <unsigned char*>realloc(o.p, cap)
    if q == NULL:
        o.failed = 1
        return
    o.p = q
    o.cap = cap


cdef void o_bytes(Out* o, const void* s, size_t n) noexcept nogil:
    o_reserve(o, n)
    if not o.failed:
        memcpy(o.p + o.n, s, n)
        o.n += n


cdef void o_varint(Out* o, uint64_t v) noexcept nogil:
    cdef unsigned char tmp[10]
    cdef int k = 0
    while v >= 0x80:
        tmp[k] = <unsigned char>((v & 0x7F) | 0x80)
        v >>= 7
        k += 1
    tmp[k] = <unsigned char>v
    o_bytes(o, tmp, k + 1)


cdef void o_len(Out* o, int num, const char* s, size_t n) noexcept nogil:
    o_varint(o, (num << 3) | 2)
    o_varint(o, n)
    o_bytes(o, s, n)


cdef int as_uint64(double d, uint64_t* out) noexcept nogil:
    # Python's int(d) & (2**64 - 1), for the values a C cast gets right.
    if not isfinite(d):
        out[0] = 0
        return 1
    if d <= -9.2e18 or d >= 9.2e18:
        return 0
    out[0] = <uint64_t><long long>d
    return 1


cdef int get_field(lua_State* L, int t, const char* key, size_t n
                   ) noexcept nogil:
    # Push t[key] (raw) and return its type.
    LUA.pushlstring(L, key, n)
    LUA2.rawget(L, t if t > 0 else t - 1)
    return LUA.type(L, -1)


cdef int put_text(lua_State* L, Out* o, int t, int num, const char* key,
                  size_t n) noexcept nogil:
    # A text header: strings only here (numbers go to Python).
    cdef int ty = get_field(L, t, key, n)
    cdef size_t len_ = 0
    cdef const char* s = NULL
    if ty == LUA_TSTRING:
        s = LUA.tolstring(L, -1, &len_)
        o_len(o, num, s, len_)
    LUA2.settop(L, -2)
    return 0 if ty == LUA_TNUMBER else 1


cdef int put_number(lua_State* L, Out* o, int t, int num, const char* key,
                    size_t n) noexcept nogil:
    cdef int ty = get_field(L, t, key, n)
    cdef uint64_t v
    cdef int ok = 1
    if ty == LUA_TNUMBER:
        ok = as_uint64(LUA2.tonumber(L, -1), &v)
        if ok:
            o_varint(o, (num << 3))
            o_varint(o, v)
    elif ty == LUA_TSTRING:
        ok = 0
    LUA2.settop(L, -2)
    return ok


cdef int put_values(lua_State* L, Out* o, int v, int kind, int vt
                    ) noexcept nogil:
    # The values at stack index v (one scalar, or an array table of
    # scalars of Lua type kind) as field values of type vt.
    cdef size_t count = 1, i, slen
    cdef int ty
    cdef const char* s = NULL
    cdef uint64_t u
    cdef double d
    cdef Out body
    cdef bint is_array = LUA.type(L, v) == LUA_TTABLE
    if is_array:
        count = LUA2.objlen(L, v)
    body.p = NULL
    body.n = body.cap = 0
    body.failed = 0
    for i in range(count):
        if is_array:
            LUA2.rawgeti(L, v, <int>i + 1)
        else:
            LUA.pushvalue(L, v)
        ty = LUA.type(L, -1)
        if ty != kind:
            LUA2.settop(L, -2)
            free(body.p)
            return 0
        if kind == LUA_TSTRING:
            s = LUA.tolstring(L, -1, &slen)
            o_len(o, 5 if vt == 1 else 4, s, slen)
        elif kind == LUA_TBOOLEAN:
            o_bytes(&body, b"\x01" if LUA2.toboolean(L, -1) else b"\x00",
                    1)
        elif vt == 2:
            if not as_uint64(LUA2.tonumber(L, -1), &u):
                LUA2.settop(L, -2)
                free(body.p)
                return 0
            o_varint(&body, u)
        else:
            d = LUA2.tonumber(L, -1)
            o_bytes(&body, &d, 8)
        LUA2.settop(L, -2)
    if kind != LUA_TSTRING:
        if count == 1:
            o_varint(o, ((vt + 4) << 3) | (1 if vt == 3 else 0))
            o_bytes(o, body.p, body.n)
        else:
            o_varint(o, ((vt + 4) << 3) | 2)
            o_varint(o, body.n)
            o_bytes(o, body.p, body.n)
    free(body.p)
    return 0 if body.failed else 1


cdef int put_field(lua_State* L, Out* o, const char* name, size_t nlen,
                   int value, bint object_form) noexcept nogil:
    # One field from (name, value at stack index value); 0 to give up.
    cdef Out f
    cdef int ty, kind, vt = -1, vtype, top = LUA.gettop(L)
    cdef int v = value
    cdef size_t rlen = 0
    cdef const char* rep = NULL
    cdef double dvt
    ty = LUA.type(L, value)
    if ty == LUA_TTABLE:
        if LUA2.getmetatable(L, value):
            LUA2.settop(L, top)
            return 0
        if object_form or get_field(L, value, "value", 5) != LUA_TNIL:
            if not object_form:
                LUA2.settop(L, top)
            vtype = get_field(L, value, "value_type", 10)
            if vtype == LUA_TNUMBER:
                dvt = LUA2.tonumber(L, -1)
                if not 0 <= dvt <= 4 or dvt != <int>dvt:
                    LUA2.settop(L, top)
                    return 0
                vt = <int>dvt
            elif vtype != LUA_TNIL:
                LUA2.settop(L, top)
                return 0
            ty = get_field(L, value, "representation", 14)
            if ty == LUA_TSTRING:
                rep = LUA.tolstring(L, -1, &rlen)
            elif ty != LUA_TNIL:
                LUA2.settop(L, top)
                return 0
            get_field(L, value, "value", 5)
            v = LUA.gettop(L)
        else:
            LUA2.settop(L, top)
            v = value
    ty = LUA.type(L, v)
    kind = ty
    if ty == LUA_TTABLE:
        if LUA2.getmetatable(L, v) or LUA2.objlen(L, v) == 0:
            LUA2.settop(L, top)
            return 0
        LUA2.rawgeti(L, v, 1)
        kind = LUA.type(L, -1)
        LUA2.settop(L, -2)
    f.p = NULL
    f.n = f.cap = 0
    f.failed = 0
    o_len(&f, 1, name, nlen)
    if kind == LUA_TSTRING:
        if vt == -1:
            vt = 0
        if vt != 0 and vt != 1:
            vt = -2
        elif vt == 1:
            o_bytes(&f, b"\x10\x01", 2)
    elif kind == LUA_TNUMBER:
        if vt == -1:
            vt = 3
        if vt != 2 and vt != 3:
            vt = -2
        else:
            o_varint(&f, 0x10)
            o_varint(&f, vt)
    elif kind == LUA_TBOOLEAN:
        if vt != -1 and vt != 4:
            vt = -2
        vt = 4 if vt != -2 else vt
        if vt == 4:
            o_bytes(&f, b"\x10\x04", 2)
    else:
        vt = -2
    if vt == -2:
        free(f.p)
        LUA2.settop(L, top)
        return 0
    if rep != NULL:
        o_len(&f, 3, rep, rlen)
    if not put_values(L, &f, v, kind, vt) or f.failed:
        free(f.p)
        LUA2.settop(L, top)
        return 0
    o_varint(o, (10 << 3) | 2)
    o_varint(o, f.n)
    o_bytes(o, f.p, f.n)
    free(f.p)
    LUA2.settop(L, top)
    return 1


cdef int put_fields(lua_State* L, Out* o, int t) noexcept nogil:
    cdef int ty = get_field(L, t, "Fields", 6)
    cdef int fields = LUA.gettop(L), first, spec
    cdef size_t i, count, nlen
    cdef const char* name
    if ty == LUA_TNIL or ty != LUA_TTABLE:
        LUA2.settop(L, -2)
        return 1
    if LUA2.getmetatable(L, fields):
        return 0
    LUA2.rawgeti(L, fields, 1)
    first = LUA.type(L, -1)
    LUA2.settop(L, -2)
    if first == LUA_TTABLE:
        count = LUA2.objlen(L, fields)
        for i in range(count):
            LUA2.rawgeti(L, fields, <int>i + 1)
            spec = LUA.gettop(L)
            if LUA.type(L, spec) != LUA_TTABLE or \
                    get_field(L, spec, "name", 4) != LUA_TSTRING:
                return 0
            name = LUA.tolstring(L, -1, &nlen)
            if not put_field(L, o, name, nlen, spec, True):
                return 0
            LUA2.settop(L, spec - 1)
    else:
        LUA.pushnil(L)
        while LUA2.next(L, fields):
            if LUA.type(L, -2) != LUA_TSTRING:
                return 0
            name = LUA.tolstring(L, -2, &nlen)
            if not put_field(L, o, name, nlen, LUA.gettop(L), False):
                return 0
            LUA2.settop(L, -2)
    LUA2.settop(L, fields - 1)
    return 1


cdef int encode_message_table(lua_State* L, Out* o) noexcept nogil:
    cdef int t = 1
    cdef size_t n = 0
    cdef const char* s = NULL
    cdef unsigned char uuid[16]
    cdef uint64_t ts
    if LUA.type(L, t) != LUA_TTABLE or LUA2.getmetatable(L, t):
        return 0
    if get_field(L, t, "Uuid", 4) == LUA_TSTRING:
        s = LUA.tolstring(L, -1, &n)
    if n == 16:
        o_len(o, 1, s, 16)
    else:
        if getrandom(uuid, 16, 0) != 16:
            return 0
        uuid[6] = (uuid[6] & 0x0F) | 0x40
        uuid[8] = (uuid[8] & 0x3F) | 0x80
        o_len(o, 1, <const char*>uuid, 16)
    LUA2.settop(L, -2)
    if get_field(L, t, "Timestamp", 9) == LUA_TNUMBER:
        if not as_uint64(LUA2.tonumber(L, -1), &ts):
            return 0
    else:
        ts = <uint64_t>time(NULL) * 1000000000ULL
    LUA2.settop(L, -2)
    o_varint(o, 0x10)
    o_varint(o, ts)
    return (put_text(L, o, t, 3, "Type", 4)
            and put_text(L, o, t, 4, "Logger", 6)
            and put_number(L, o, t, 5, "Severity", 8)
            and put_text(L, o, t, 6, "Payload", 7)
            and put_text(L, o, t, 7, "EnvVersion", 10)
            and put_number(L, o, t, 8, "Pid", 3)
            and put_text(L, o, t, 9, "Hostname", 8)
            and put_fields(L, o, t))


cdef int c_encode_message(lua_State* L) noexcept nogil:
    # encode(table) -> protobuf string, or nothing to leave it to Python.
    global hekapy_enc_buf, hekapy_enc_cap
    cdef Out o
    cdef int ok
    o.p = hekapy_enc_buf
    o.cap = hekapy_enc_cap
    o.n = 0
    o.failed = 0
    ok = encode_message_table(L, &o)
    hekapy_enc_buf = o.p
    hekapy_enc_cap = o.cap
    LUA2.settop(L, 1)
    if not ok or o.failed:
        return 0
    LUA.pushlstring(L, <const char*>o.p, o.n)
    return 1


cdef public int luaopen_hekapy_fastencode(lua_State* L) noexcept nogil:
    LUA.pushcclosure(L, c_encode_message, 0)
    return 1
