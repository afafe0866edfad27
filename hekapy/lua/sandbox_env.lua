-- The environment of one hekapy Lua sandbox.
--
-- Run once in a fresh runtime, before the plugin's script.  It keeps
-- private references to everything the host needs (debug.sethook,
-- package.loadlib, loadstring, the Python callbacks) as upvalues, then
-- strips the global table down to what Heka 0.10 gives a sandboxed
-- filter, decoder or encoder.  The returned table holds the entry points
-- the host calls; nothing in it is reachable from the script.

local host, kind, opts = ...

local G = _G
local type, tostring, tonumber, error, pcall = type, tostring, tonumber,
    error, pcall
local select, pairs, next, setmetatable, getmetatable = select, pairs,
    next, setmetatable, getmetatable
local rawget, rawset, setfenv, unpack = rawget, rawset, setfenv, unpack
local rawequal = rawequal
local sethook = debug.sethook
local getinfo = debug.getinfo
local raw_getmetatable = debug.getmetatable
local loadstring = loadstring
local loadlib = package.loadlib
local collect = collectgarbage
local format, srep, sbyte, ssub = string.format, string.rep, string.byte,
    string.sub
local smatch = string.match
local concat = table.concat
local floor, huge = math.floor, math.huge
local os_date, os_time, os_clock, os_difftime = os.date, os.time,
    os.clock, os.difftime

local py_read = host.read
local fast_encode = host.encode
local py_call = host.call

local S = {tripped = false, reason = false, ins_max = 0, out_max = 0}
local E = {state = S}

-- memory_limit.  The allocator refuses anything past a hard ceiling a
-- little above the limit; the limit itself is checked here, before
-- every call into the host and every few instructions, so that the host
-- always has room to hand values to the script (an allocation failure
-- while the host pushes a value cannot be recovered from).
local mem_limit_kb = opts.memory_limit / 1024

local function over_memory()
    if collect("count") > mem_limit_kb then
        collect("collect")
        return collect("count") > mem_limit_kb
    end
    return false
end
if opts.memory_limit == 0 then
    over_memory = function() return false end
    mem_limit_kb = huge
end

-- Stop the current call for good: from now on every instruction raises
-- the same error, so pcall cannot swallow it, until the host's entry
-- point has returned.
local trip_hook

local function trip(what, level)
    if not S.tripped then
        S.tripped = true
        local where = ""
        local info = level and getinfo(level, "Sl")
        if info and info.currentline and info.currentline > 0 then
            where = info.short_src .. ":" .. info.currentline .. ": "
        end
        S.reason = where .. what
        sethook(trip_hook, "", 1)
    end
    error(S.reason, 0)
end

trip_hook = function()
    error(S.reason, 0)
end


---------------------------------------------------------------------------
-- Strip the globals.

local string_lib, table_lib, math_lib = string, table, math

-- Pristine copies for hekapy's own modules, taken before any script
-- code runs: a script may replace functions in the shared library
-- tables, but code that runs with the limits lifted must not call them.
local function copy(t)
    local c = {}
    for k, v in pairs(t) do
        c[k] = v
    end
    return c
end

-- lupa reads the runtime's global "debug" outside any protected call
-- each time the host calls into Lua, so a script that put a raising
-- __index on its globals could bring the whole process down.  Scripts
-- therefore never see the runtime's own globals: at the end of this
-- file they become HOST_GLOBALS, an empty table with a locked
-- metatable, and getfenv hands out the script's globals in its place.
local HOST_GLOBALS = setmetatable({}, {__metatable = false})
local raw_getfenv, raw_setfenv = getfenv, setfenv

-- A level as the real functions read it (a numeric string counts as
-- its number), shifted past the wrapper and the pcall it calls them
-- through.
local function level(f)
    if type(f) ~= "function" then
        f = tonumber(f) or f
    end
    if type(f) == "number" and f > 0 then
        f = f + 2
    end
    return f
end

local function safe_getfenv(f)
    if f == nil then
        f = 1
    end
    f = level(f)
    if f == 0 then
        return G
    end
    local ok, env = pcall(raw_getfenv, f)
    if not ok then
        error("bad argument #1 to 'getfenv' (invalid level)", 2)
    end
    if rawequal(env, HOST_GLOBALS) then
        return G
    end
    return env
end
G.getfenv = safe_getfenv

-- setfenv(0, t) would replace the runtime's own globals: refused.
local function safe_setfenv(f, env)
    f = level(f)
    if f == 0 then
        error("setfenv cannot change the thread's environment", 2)
    end
    local ok, r = pcall(raw_setfenv, f, env)
    if not ok then
        local text = tostring(r)
        if smatch(text, "invalid level") then
            error("bad argument #1 to 'setfenv' (invalid level)", 2)
        end
        -- The real function's message, without this file's location.
        error(smatch(text, "^%[string [^%]]*%]:%d+: (.*)$") or text, 2)
    end
    return r
end
G.setfenv = safe_setfenv

local BASE = copy(G)
local BASE_LIBS = {string = copy(string), table = copy(table),
                   math = copy(math)}
BASE_LIBS.string.dump = nil
for _, name in pairs({"python", "debug", "io", "package", "require",
                      "os", "load", "loadfile", "loadstring", "dofile",
                      "module", "newproxy", "print", "coroutine",
                      "collectgarbage", "gcinfo", "string", "table",
                      "math"}) do
    BASE[name] = nil
end

-- A fresh environment for one of hekapy's modules: tampering with one
-- module's environment cannot reach another.
local safe_xpcall

local function module_env()
    local env = copy(BASE)
    for name, lib in pairs(BASE_LIBS) do
        env[name] = copy(lib)
    end
    env._G = env
    env.xpcall = safe_xpcall
    return env
end
E.trusted = setmetatable({}, {__mode = "k"})

local REMOVED = {
    "collectgarbage", "coroutine", "dofile", "load", "loadfile",
    "loadstring", "newproxy", "print", "module", "gcinfo", "python",
    "debug", "io", "package", "require", "string", "table", "math", "os",
}
for _, name in pairs(REMOVED) do
    G[name] = nil
end

string_lib.dump = nil

-- xpcall runs its message handler where the error was raised; for an
-- error raised by the instruction hook that is inside the hook, where
-- no hook fires, so a looping handler would never be stopped.  This
-- version calls the handler after the protected call has unwound.
local function after_pcall(handler, ok, ...)
    if ok then
        return true, ...
    end
    return false, (handler((...)))
end

safe_xpcall = function(f, handler)
    return after_pcall(handler, pcall(f))
end
G.xpcall = safe_xpcall

local LIBS = {string = string_lib, table = table_lib, math = math_lib}

local safe_os = {clock = os_clock, difftime = os_difftime}

local function days_from_civil(y, m, d)
    y = m <= 2 and y - 1 or y
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

function safe_os.time(t)
    if t == nil then
        return os_time()
    end
    if type(t) ~= "table" then
        error("bad argument #1 to 'time' (table expected, got "
              .. type(t) .. ")", 2)
    end
    local function field(k, default)
        local v = t[k]
        if v == nil then
            if default == nil then
                error("field '" .. k .. "' missing in date table", 3)
            end
            return default
        end
        v = tonumber(v)
        if v == nil then
            error("field '" .. k .. "' missing in date table", 3)
        end
        return floor(v)
    end
    local year, month = field("year"), field("month")
    local day = field("day")
    local hour, min, sec = field("hour", 12), field("min", 0),
        field("sec", 0)
    year = year + floor((month - 1) / 12)
    month = (month - 1) % 12 + 1
    return ((days_from_civil(year, month, 1) + day - 1) * 86400
            + hour * 3600 + min * 60 + sec)
end

function safe_os.date(fmt, t)
    fmt = fmt == nil and "%c" or fmt
    if type(fmt) ~= "string" and type(fmt) ~= "number" then
        error("bad argument #1 to 'date' (string expected, got "
              .. type(fmt) .. ")", 2)
    end
    fmt = tostring(fmt)
    if sbyte(fmt, 1) ~= 33 then  -- "!" selects UTC
        fmt = "!" .. fmt
    end
    if t == nil then
        return os_date(fmt)
    end
    return os_date(fmt, t)
end
LIBS.os = safe_os

---------------------------------------------------------------------------
-- Number formatting shared by add_to_payload, circular buffers and the
-- state files: whole numbers without a fraction, otherwise up to eight
-- fractional digits with trailing zeros dropped; outside the int32 range
-- the full %0.17g form.

local function fmt_number(d)
    if d ~= d then
        return "nan"
    elseif d == huge then
        return "inf"
    elseif d == -huge then
        return "-inf"
    elseif d > 2147483647 or d < -2147483648 then
        return format("%0.17g", d)
    end
    local neg = d < 0
    local a = neg and -d or d
    local ip = floor(a)
    local scaled = (a - ip) * 1e8
    local frac = floor(scaled)
    local rest = scaled - frac
    if rest > 0.5 or (rest == 0.5 and (frac == 0 or frac % 2 == 1)) then
        frac = frac + 1
        if frac >= 1e8 then
            frac = 0
            ip = ip + 1
        end
    end
    local s
    if frac == 0 then
        s = format("%d", ip)
    else
        local digits = format("%08d", frac)
        local last = 8
        while sbyte(digits, last) == 48 do
            last = last - 1
        end
        s = format("%d", ip) .. "." .. ssub(digits, 1, last)
    end
    if neg and s ~= "0" then
        return "-" .. s
    end
    return s
end
E.fmt_number = fmt_number

---------------------------------------------------------------------------
-- Output buffer (add_to_payload, inject_payload).

local out_limit = opts.output_limit
local buf, nbuf, buf_size = {}, 0, 0

local function output_object(v)
    local mt = raw_getmetatable(v)
    local fn = type(mt) == "table" and rawget(mt, "__hekapy_output")
    if fn and not E.trusted[fn] then
        fn = nil
    end
    if fn then
        return fn(v)
    end
    return nil
end
E.output_object = output_object

local function append(what, n, ...)
    for i = 1, n do
        local v = select(i, ...)
        local t = type(v)
        local s
        if t == "string" then
            s = v
        elseif t == "number" then
            s = fmt_number(v)
        elseif t == "nil" then
            s = "nil"
        elseif t == "boolean" then
            s = v and "true" or "false"
        else
            s = t == "table" and output_object(v) or nil
            if s == nil then
                error(format("bad argument #%d to '%s' (unsupported type)",
                             i, what), 0)
            end
        end
        local size = buf_size + #s
        if out_limit > 0 and size > out_limit then
            error(what .. "() output_limit exceeded", 0)
        end
        buf_size = size
        nbuf = nbuf + 1
        buf[nbuf] = s
    end
    if buf_size > S.out_max then
        S.out_max = buf_size
    end
end

local function take_buffer()
    local s = concat(buf, "", 1, nbuf)
    buf, nbuf, buf_size = {}, 0, 0
    return s
end

function G.add_to_payload(...)
    local n = select("#", ...)
    if n == 0 then
        error("bad argument #0 to 'add_to_payload' "
              .. "(must have at least one argument)", 0)
    end
    append("add_to_payload", n, ...)
end

local function host_call(name, ...)
    if over_memory() then
        trip("not enough memory")
    end
    local ok, a, b, c, d, e = py_call(name, ...)
    if ok == true then
        return a, b, c, d, e
    end
    error(a, 0)
end
E.host_call = host_call

function G.inject_payload(ptype, pname, ...)
    if ptype == nil then
        ptype = "txt"
    elseif type(ptype) ~= "string" then
        error("bad argument #1 to 'inject_payload' (string expected, got "
              .. type(ptype) .. ")", 0)
    end
    if pname == nil then
        pname = ""
    elseif type(pname) ~= "string" then
        error("bad argument #2 to 'inject_payload' (string expected, got "
              .. type(pname) .. ")", 0)
    end
    local n = select("#", ...)
    if n > 0 then
        append("inject_payload", n, ...)
    end
    if buf_size == 0 then
        return
    end
    if ptype == "" then
        ptype = "txt"
    end
    host_call("inject_payload", ptype, pname, take_buffer())
end

---------------------------------------------------------------------------
-- Messages.

local OOM = {}
E.OOM = OOM

local function checked(v)
    if v == OOM then
        trip("not enough memory")
    end
    return v
end

-- With the compiled fast path, reads go to a C function that reads the
-- current message's view directly; only when it has no view does it
-- call back into the host, through this guarded reader.
local function guarded_read(name, fi, ai)
    if collect("count") > mem_limit_kb and over_memory() then
        trip("not enough memory")
    end
    return checked(py_read(name, fi, ai))
end
local fast_read = host.loader and host.loader(host.slot, guarded_read)

-- A read_message index argument, checked and floored.
local function index_arg(v, n, what)
    if type(v) ~= "number" then
        error("bad argument #" .. n .. " to 'read_message' (number "
              .. "expected, got " .. type(v) .. ")", 0)
    end
    v = floor(v)
    if v < 0 then
        error("bad argument #" .. n .. " to 'read_message' (" .. what
              .. " index must be >= 0)", 0)
    end
    return v
end

function G.read_message(name, fi, ai, extra)
    if fi == nil and fast_read and name ~= nil then
        return fast_read(name, 0, 0)
    end
    if collect("count") > mem_limit_kb and over_memory() then
        trip("not enough memory")
    end
    if extra ~= nil or name == nil then
        error("read_message() incorrect number of arguments", 0)
    end
    if fi == nil then
        return checked(py_read(name, 0, 0))
    end
    local t = type(name)
    if t ~= "string" and t ~= "number" then
        error("bad argument #1 to 'read_message' (string expected, got "
              .. t .. ")", 0)
    end
    fi = index_arg(fi, 2, "field")
    ai = ai == nil and 0 or index_arg(ai, 3, "array")
    if fast_read then
        return fast_read(tostring(name), fi, ai)
    end
    return checked(py_read(tostring(name), fi, ai))
end

function G.read_next_field(...)
    if select("#", ...) ~= 0 then
        error("read_next_field() takes no arguments", 0)
    end
    return host_call("read_next_field")
end

function G.read_config(...)
    if select("#", ...) ~= 1 then
        error("read_config() must have a single argument", 0)
    end
    local name = ...
    if type(name) ~= "string" and type(name) ~= "number" then
        error("bad argument #1 to 'read_config' (string expected, got "
              .. type(name) .. ")", 0)
    end
    return (host_call("read_config", tostring(name)))
end

function G.decode_message(...)
    local pb = ...
    if select("#", ...) ~= 1 or type(pb) ~= "string" then
        error("decode_message() must have one string argument", 0)
    end
    return (host_call("decode_message", pb))
end

function G.inject_message(...)
    local msg = ...
    local t = type(msg)
    if select("#", ...) ~= 1 or (t ~= "string" and t ~= "table") then
        error("inject_message() takes a single string or table argument",
              0)
    end
    if t == "table" and fast_encode then
        -- Encoded in C when the table is of a common shape.
        local pb = fast_encode(msg)
        if pb then
            host_call("inject_encoded", pb)
            return
        end
    end
    host_call("inject_message", msg)
end

if kind == "decoder" or kind == "encoder" then
    function G.write_message(...)
        local n = select("#", ...)
        if n < 2 or n > 5 then
            error("write_message() incorrect number of arguments", 0)
        end
        local name, value, rep, fi, ai = ...
        local t = type(value)
        if t ~= "string" and t ~= "number" and t ~= "boolean"
                and t ~= "nil" then
            error("write_message() only accepts numeric, string, or "
                  .. "boolean field values, or nil to delete", 0)
        end
        if type(name) ~= "string" or (rep ~= nil and type(rep) ~= "string")
                or (fi ~= nil and type(fi) ~= "number")
                or (ai ~= nil and type(ai) ~= "number") then
            error("write_message() failed", 0)
        end
        host_call("write_message", name, value, rep or "", fi or 0, ai,
                  n >= 5)
    end
end

---------------------------------------------------------------------------
-- Modules.

local loaded = {}
local MODULE_MT = {__metatable = false}

local function load_source(text, chunkname)
    if sbyte(text, 1) == 27 then
        return nil, "binary chunks are not allowed"
    end
    return loadstring(text, chunkname)
end
E.load_source = load_source

local function run_module(name, text, chunkname)
    local fn, err = load_source(text, chunkname)
    if not fn then
        error(err, 0)
    end
    setfenv(fn, G)
    local m = fn(name)
    if m == nil then
        m = rawget(G, name)
    end
    if m == nil then
        m = true
    end
    return m
end

function G.require(name)
    if type(name) ~= "string" then
        error("bad argument #1 to 'require' (string expected, got "
              .. type(name) .. ")", 2)
    end
    local m = loaded[name]
    if m ~= nil then
        return m
    end
    m = LIBS[name]
    if m ~= nil then
        G[name] = m
    else
        local source, text, chunkname = host_call("find_module", name)
        if source == "lua" then
            m = run_module(name, text, chunkname)
        elseif source == "lpeg" then
            local open, err = loadlib(text, "luaopen_lpeg")
            if not open then
                error("module 'lpeg' failed to load: " .. tostring(err), 0)
            end
            m = open()
            G.lpeg = m
        elseif source == "hekapy" then
            local fn, err = load_source(text, chunkname)
            if not fn then
                error(err, 0)
            end
            setfenv(fn, module_env())
            m = fn(name, E)
            G[name] = m
        else
            error(text, 0)
        end
        if type(m) == "table" and getmetatable(m) == nil then
            setmetatable(m, MODULE_MT)
        end
    end
    loaded[name] = m
    return m
end

---------------------------------------------------------------------------
-- Instruction limit: a count hook installed from here, not reachable by
-- the script.  Once the budget is spent the hook fires on every
-- instruction, so a script that catches the error with pcall is stopped
-- again straight away until the host's entry point has returned.

local ins_limit = opts.instruction_limit
local grain = 1000
if ins_limit > 0 and ins_limit <= 100 then
    grain = 1
elseif ins_limit > 0 and ins_limit <= 10000 then
    grain = 10
end
local ticks_max = ins_limit > 0 and math_lib.ceil(ins_limit / grain)
    or huge
local ticks = 0

local function hook()
    ticks = ticks + 1
    if ticks >= ticks_max then
        trip("instruction_limit exceeded", 3)
    end
    if collect("count") > mem_limit_kb and over_memory() then
        trip("not enough memory")
    end
end

local arm, disarm
local armed = false
if ins_limit > 0 or opts.memory_limit > 0 then
    arm = function(scale)
        ticks = scale and -ticks_max * (scale - 1) or 0
        sethook(hook, "", grain)
    end
    disarm = function()
        sethook()
        armed = false
        local used = ticks * grain
        if used > S.ins_max and used <= ins_limit then
            S.ins_max = used
        end
    end
else
    arm = function() end
    disarm = arm
end
E.sethook = sethook
E.arm, E.disarm = arm, disarm

---------------------------------------------------------------------------
-- Entry points.  Each returns 0 on the common path, otherwise a code and
-- details: "E", text (a Lua error); "R", status, message (a status the
-- host has to look at); "T", text (a malformed return).

local function error_text(err)
    local t = type(err)
    if t == "string" then
        return err
    elseif t == "number" then
        return fmt_number(err)
    elseif t == "nil" then
        return "<nil error message>"
    end
    return "<" .. t .. " error object>"
end

local function finish(fname, ok, st, msg)
    if not ok then
        return "E", error_text(st)
    end
    if st == 0 and msg == nil then
        return 0
    end
    if type(st) ~= "number" then
        return "T", fname .. "() must return a numeric status code"
    end
    if msg ~= nil and type(msg) ~= "string" then
        return "T", fname .. "() must return a nil or string error message"
    end
    return "R", st, msg
end

-- process_message leaves the hook installed between calls (installing
-- it costs as much as a small script); the count of the first tick of a
-- call may therefore start up to one grain early.
local hooked = ins_limit > 0 or opts.memory_limit > 0

function E.unarm()
    sethook()
    armed = false
end

function E.process_message()
    local fn = rawget(G, "process_message")
    if hooked and not armed then
        sethook(hook, "", grain)
        armed = true
    end
    ticks = 0
    local ok, st, msg = pcall(fn)
    local used = ticks * grain
    ticks = 0
    if used > S.ins_max then
        S.ins_max = used
    end
    if collect("count") > mem_limit_kb and over_memory() then
        return "E", "not enough memory"
    end
    if ok and st == 0 and msg == nil then
        return 0
    end
    return finish("process_message", ok, st, msg)
end

function E.timer_event(ns)
    local fn = rawget(G, "timer_event")
    if type(fn) ~= "function" then
        return "T", "timer_event() function was not found"
    end
    arm()
    local ok, err = pcall(fn, ns)
    disarm()
    collect("collect")
    if not ok then
        return "E", error_text(err)
    end
    return 0
end

function E.run_script(text, chunkname)
    local fn, err = load_source(text, chunkname)
    if not fn then
        return "E", error_text(err)
    end
    setfenv(fn, G)
    arm()
    local ok, e = pcall(fn)
    disarm()
    if not ok then
        return "E", error_text(e)
    end
    return 0
end

function E.reset_buffer()
    buf, nbuf, buf_size = {}, 0, 0
    collect("collect")
end

function E.seed(n)
    LIBS.math.randomseed(n)
end

---------------------------------------------------------------------------
-- State preservation.  The state file is Lua source: a version guard,
-- then one assignment per value reachable from the globals.  Functions,
-- coroutines, userdata, modules and tables with a metatable are skipped
-- unless the metatable says how to write the object out.

local function num_literal(v)
    if v ~= v then
        return "0/0"
    elseif v == huge then
        return "1/0"
    elseif v == -huge then
        return "-1/0"
    end
    return fmt_number(v)
end
E.num_literal = num_literal

local function key_literal(k)
    local t = type(k)
    if t == "string" then
        return format("%q", k)
    elseif t == "number" then
        if k ~= k then
            return nil
        end
        return num_literal(k)
    elseif t == "boolean" then
        return k and "true" or "false"
    end
    return nil
end

function E.serialize()
    local out, n = {}, 0
    local function emit(s)
        n = n + 1
        out[n] = s
    end
    local version = rawget(G, "_PRESERVATION_VERSION")
    if type(version) ~= "number" then
        version = 0
    end
    emit("if _PRESERVATION_VERSION and _PRESERVATION_VERSION ~= "
         .. num_literal(version) .. " then return end\n")
    local seen = {[G] = "_G"}
    for _, m in next, loaded do
        if type(m) == "table" then
            seen[m] = false
        end
    end
    for _, m in next, LIBS do
        seen[m] = false
    end
    local function walk(path, t)
        for k, v in next, t do
            local ks = key_literal(k)
            local vt = type(v)
            -- rawequal: no __eq of the script's may run here, outside
            -- every limit.
            if ks and not rawequal(v, G) and not (rawequal(t, G)
                    and (k == "_VERSION"
                    or k == "_PRESERVATION_VERSION")) then
                local p = path .. "[" .. ks .. "]"
                if vt == "string" then
                    emit(p .. " = " .. format("%q", v) .. "\n")
                elseif vt == "number" then
                    emit(p .. " = " .. num_literal(v) .. "\n")
                elseif vt == "boolean" then
                    emit(p .. " = " .. (v and "true" or "false") .. "\n")
                elseif vt == "table" then
                    local known = seen[v]
                    if known then
                        emit(p .. " = " .. known .. "\n")
                    elseif known == nil then
                        local mt = raw_getmetatable(v)
                        if mt == nil then
                            seen[v] = p
                            emit(p .. " = {}\n")
                            walk(p, v)
                        else
                            local ser = rawget(mt, "__hekapy_serialize")
                            if ser and E.trusted[ser] then
                                seen[v] = p
                                emit(ser(v, p))
                            end
                        end
                    end
                end
            end
        end
    end
    walk("_G", G)
    return concat(out, "", 1, n)
end

function E.restore(text)
    local fn, err = load_source(text, "=preserved state")
    if not fn then
        return "E", error_text(err)
    end
    setfenv(fn, G)
    arm(100)
    local ok, e = pcall(fn)
    disarm()
    if not ok then
        return "E", error_text(e)
    end
    return 0
end

E.globals = G
E.loaded = loaded

-- Whether the script defines the global function ``name``; read raw, so
-- a metatable the script put on its globals runs no code here.
function E.defines(name)
    return type(rawget(G, name)) == "function"
end

setfenv(0, HOST_GLOBALS)

return E
