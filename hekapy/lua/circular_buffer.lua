-- hekapy's circular_buffer module: a ring of time rows by value columns.
--
-- Time advances in whole rows of seconds_per_row seconds.  Writing to a
-- time newer than the current row moves the buffer forward and clears
-- the rows skipped; reading or writing a time older than the oldest row
-- gives nil.  Text output ("cbuf": a JSON header and one line per row;
-- "cbufd": the header and only the rows changed since the last cbufd
-- output, each led by its time) goes through add_to_payload and
-- inject_payload.
local name, E = ...
local fmt_number = E.fmt_number
local type, error, tostring, tonumber, setmetatable = type, error,
    tostring, tonumber, setmetatable
local floor, sqrt, huge, abs = math.floor, math.sqrt, math.huge, math.abs
local format, gsub, gmatch, ssub = string.format, string.gsub,
    string.gmatch, string.sub
local concat, sort = table.concat, table.sort
local pairs, next, getmetatable = pairs, next, getmetatable

local NAN = 0 / 0
local AGGREGATIONS = {sum = true, min = true, max = true, avg = true,
                      none = true}

local CB = {}
local MT = {__index = CB, __metatable = false}
-- The buffers' state, out of the scripts' reach: keyed by the (empty)
-- object handed to the script.
local STATE = setmetatable({}, {__mode = "k"})

local M = {_NAME = "circular_buffer"}

local function check_self(obj, fname)
    local cb = STATE[obj]
    if cb == nil then
        error("bad argument #1 to '" .. fname
              .. "' (circular_buffer expected)", 3)
    end
    return cb
end

local function integer_arg(v, n, fname, what)
    if type(v) ~= "number" then
        error(format("bad argument #%d to '%s' (number expected, got %s)",
                     n, fname, type(v)), 3)
    end
    return floor(v)
end

function M.new(rows, columns, seconds_per_row, enable_delta)
    rows = integer_arg(rows, 1, "new")
    columns = integer_arg(columns, 2, "new")
    seconds_per_row = integer_arg(seconds_per_row, 3, "new")
    if rows <= 1 then
        error("bad argument #1 to 'new' (rows must be > 1)", 2)
    end
    if columns <= 0 then
        error("bad argument #2 to 'new' (columns must be > 0)", 2)
    end
    if seconds_per_row <= 0 then
        error("bad argument #3 to 'new' (seconds_per_row is out of "
              .. "range)", 2)
    end
    if enable_delta ~= nil and type(enable_delta) ~= "boolean" then
        error("bad argument #4 to 'new' (boolean expected, got "
              .. type(enable_delta) .. ")", 2)
    end
    local cb = {
        rows = rows, columns = columns, spr = seconds_per_row,
        delta = enable_delta and {} or nil,
        current_time = seconds_per_row * (rows - 1),
        current_row = rows - 1,
        data = {},
        headers = {},
        annotations = {},
        fmt = "cbuf",
    }
    for i = 1, rows * columns do
        cb.data[i] = NAN
    end
    for c = 1, columns do
        cb.headers[c] = {"Column_" .. c, "count", "sum"}
    end
    local obj = setmetatable({}, MT)
    STATE[obj] = cb
    return obj
end

local function clear_row(cb, row)
    local base = row * cb.columns
    for c = 1, cb.columns do
        cb.data[base + c] = NAN
    end
end

-- The 0-based row holding time t (seconds), advancing when asked; nil
-- when t falls outside the buffer.
local function row_of(cb, ns, advance)
    if type(ns) ~= "number" then
        error("bad argument #2 (number expected, got " .. type(ns) .. ")",
              3)
    end
    local t = floor(ns / 1e9)
    t = t - t % cb.spr
    local rows, spr = cb.rows, cb.spr
    if t > cb.current_time then
        if not advance then
            return nil
        end
        local steps = (t - cb.current_time) / spr
        if steps >= rows then
            for r = 0, rows - 1 do
                clear_row(cb, r)
            end
        else
            for i = 1, steps do
                clear_row(cb, (cb.current_row + i) % rows)
            end
        end
        cb.current_row = (cb.current_row + steps) % rows
        cb.current_time = t
        return cb.current_row, t
    end
    local back = (cb.current_time - t) / spr
    if back >= rows then
        return nil
    end
    return (cb.current_row - back) % rows, t
end

local function column(cb, col)
    if type(col) ~= "number" then
        error("bad argument #3 (number expected, got " .. type(col) .. ")",
              3)
    end
    col = floor(col)
    if col < 1 or col > cb.columns then
        error("bad argument #3 (column out of range)", 3)
    end
    return col
end

local function note_delta(cb, t, col, value, added)
    local d = cb.delta
    if not d then
        return
    end
    local row = d[t]
    if not row then
        row = {}
        d[t] = row
    end
    if added and cb.headers[col][3] == "sum" then
        local old = row[col]
        row[col] = (old == nil or old ~= old) and value or old + value
    else
        row[col] = value
    end
end

function CB.add(obj, ns, col, value)
    local cb = check_self(obj, "add")
    col = column(cb, col)
    if type(value) ~= "number" then
        error("bad argument #4 to 'add' (number expected, got "
              .. type(value) .. ")", 2)
    end
    local row, t = row_of(cb, ns, true)
    if row == nil then
        return nil
    end
    local i = row * cb.columns + col
    local old = cb.data[i]
    local new = old ~= old and value or old + value
    cb.data[i] = new
    note_delta(cb, t, col, cb.headers[col][3] == "sum" and value or new,
               true)
    return new
end

function CB.set(obj, ns, col, value)
    local cb = check_self(obj, "set")
    col = column(cb, col)
    if type(value) ~= "number" then
        error("bad argument #4 to 'set' (number expected, got "
              .. type(value) .. ")", 2)
    end
    local row, t = row_of(cb, ns, true)
    if row == nil then
        return nil
    end
    local i = row * cb.columns + col
    local agg = cb.headers[col][3]
    local old = cb.data[i]
    if old == old then
        if agg == "min" and value > old then
            value = old
        elseif agg == "max" and value < old then
            value = old
        end
    end
    cb.data[i] = value
    note_delta(cb, t, col, value, false)
    return value
end

function CB.get(obj, ns, col)
    local cb = check_self(obj, "get")
    col = column(cb, col)
    local row = row_of(cb, ns, false)
    if row == nil then
        return nil
    end
    return cb.data[row * cb.columns + col]
end

function CB.current_time(obj)
    local cb = check_self(obj, "current_time")
    return cb.current_time * 1e9
end

function CB.get_configuration(obj)
    local cb = check_self(obj, "get_configuration")
    return cb.rows, cb.columns, cb.spr
end

local function label(s, size)
    s = gsub(tostring(s), "[^%w]", "_")
    return ssub(s, 1, size)
end

function CB.set_header(obj, col, cname, unit, aggregation)
    local cb = check_self(obj, "set_header")
    col = column(cb, col)
    if type(cname) ~= "string" then
        error("bad argument #3 to 'set_header' (string expected, got "
              .. type(cname) .. ")", 2)
    end
    local h = cb.headers[col]
    h[1] = label(cname, 15)
    if unit ~= nil then
        h[2] = label(unit, 7)
    end
    if aggregation ~= nil then
        if not AGGREGATIONS[aggregation] then
            error("bad argument #5 to 'set_header' (invalid option '"
                  .. tostring(aggregation) .. "')", 2)
        end
        h[3] = aggregation
    end
    return col
end

function CB.get_header(obj, col)
    local cb = check_self(obj, "get_header")
    col = column(cb, col)
    local h = cb.headers[col]
    return h[1], h[2], h[3]
end

-- Values of one column between two times (ns), oldest first.
local function values(cb, col, start_ns, end_ns)
    local oldest = cb.current_time - (cb.rows - 1) * cb.spr
    local first = oldest
    local last = cb.current_time
    if start_ns ~= nil then
        local t = floor(start_ns / 1e9)
        first = t - t % cb.spr
    end
    if end_ns ~= nil then
        local t = floor(end_ns / 1e9)
        last = t - t % cb.spr
    end
    if first < oldest or last > cb.current_time or first > last then
        return nil
    end
    local out, n = {}, 0
    for t = first, last, cb.spr do
        local row = (cb.current_row - (cb.current_time - t) / cb.spr)
            % cb.rows
        n = n + 1
        out[n] = cb.data[row * cb.columns + col]
    end
    return out, n
end

function CB.compute(obj, func, col, start_ns, end_ns)
    local cb = check_self(obj, "compute")
    col = column(cb, col)
    local vals, n = values(cb, col, start_ns, end_ns)
    if vals == nil then
        return nil
    end
    local sum, count, lo, hi = 0, 0, huge, -huge
    for i = 1, n do
        local v = vals[i]
        if v == v then
            sum = sum + v
            count = count + 1
            if v < lo then lo = v end
            if v > hi then hi = v end
        end
    end
    if func == "sum" then
        return sum, count
    elseif func == "min" then
        return count > 0 and lo or NAN, count
    elseif func == "max" then
        return count > 0 and hi or NAN, count
    elseif func == "avg" then
        return count > 0 and sum / count or NAN, count
    elseif func == "sd" or func == "variance" then
        if count == 0 then
            return NAN, 0
        end
        local mean, acc = sum / count, 0
        for i = 1, n do
            local v = vals[i]
            if v == v then
                acc = acc + (v - mean) ^ 2
            end
        end
        local var = acc / count
        return func == "sd" and sqrt(var) or var, count
    end
    error("bad argument #2 to 'compute' (invalid option '"
          .. tostring(func) .. "')", 2)
end

local function erfc(x)
    local z = abs(x)
    local t = 1 / (1 + 0.5 * z)
    local r = t * math.exp(-z * z - 1.26551223 + t * (1.00002368
        + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))))
    return x >= 0 and r or 2 - r
end

function CB.mannwhitneyu(obj, col, s1, e1, s2, e2)
    local cb = check_self(obj, "mannwhitneyu")
    col = column(cb, col)
    local a, na = values(cb, col, s1, e1)
    local b, nb = values(cb, col, s2, e2)
    if a == nil or b == nil then
        return nil
    end
    local all = {}
    for i = 1, na do
        if a[i] == a[i] then all[#all + 1] = {a[i], 1} end
    end
    for i = 1, nb do
        if b[i] == b[i] then all[#all + 1] = {b[i], 2} end
    end
    local n1, n2 = 0, 0
    for _, e in pairs(all) do
        if e[2] == 1 then n1 = n1 + 1 else n2 = n2 + 1 end
    end
    if n1 == 0 or n2 == 0 then
        return nil
    end
    sort(all, function(x, y) return x[1] < y[1] end)
    local rank1, i, ties = 0, 1, 0
    while i <= #all do
        local j = i
        while j < #all and all[j + 1][1] == all[i][1] do
            j = j + 1
        end
        local r = (i + j) / 2
        local k = j - i + 1
        ties = ties + (k ^ 3 - k)
        for m = i, j do
            if all[m][2] == 1 then rank1 = rank1 + r end
        end
        i = j + 1
    end
    local u1 = rank1 - n1 * (n1 + 1) / 2
    local u = math.min(u1, n1 * n2 - u1)
    local n = n1 + n2
    local sd = sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sd == 0 then
        return u, 1
    end
    local z = (u - n1 * n2 / 2) / sd
    return u, erfc(abs(z) / sqrt(2))
end

function CB.annotate(obj, ns, col, atype, text, delete)
    local cb = check_self(obj, "annotate")
    col = column(cb, col)
    local row = row_of(cb, ns, false)
    if row == nil then
        return
    end
    local t = floor(ns / 1e9)
    t = t - t % cb.spr
    local key = t .. ":" .. col
    if delete then
        cb.annotations[key] = nil
    else
        cb.annotations[key] = {t, col, tostring(atype), tostring(text)}
    end
end

function CB.format(obj, f)
    local cb = check_self(obj, "format")
    if f ~= "cbuf" and f ~= "cbufd" then
        error("bad argument #2 to 'format' (invalid option '"
              .. tostring(f) .. "')", 2)
    end
    if f == "cbufd" and not cb.delta then
        error("bad argument #2 to 'format' (delta output is not "
              .. "enabled)", 2)
    end
    cb.fmt = f
    return obj
end

local function json_text(s)
    return '"' .. gsub(s, '[%c"\\]', function(c)
        return format("\\u%04x", c:byte())
    end) .. '"'
end

local function header(cb)
    local cols = {}
    for c = 1, cb.columns do
        local h = cb.headers[c]
        cols[c] = format('{"name":"%s","unit":"%s","aggregation":"%s"}',
                         h[1], h[2], h[3])
    end
    local oldest = cb.current_time - (cb.rows - 1) * cb.spr
    local s = format('{"time":%s,"rows":%d,"columns":%d,'
                     .. '"seconds_per_row":%d,"column_info":[%s]',
                     fmt_number(oldest), cb.rows, cb.columns, cb.spr,
                     concat(cols, ","))
    local notes = {}
    for _, a in pairs(cb.annotations) do
        if a[1] >= oldest then
            notes[#notes + 1] = a
        end
    end
    if #notes > 0 then
        sort(notes, function(x, y)
            return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2])
        end)
        local parts = {}
        for i, a in pairs(notes) do
            parts[i] = format('{"x":%s,"col":%d,"shortText":%s,"text":%s}',
                              fmt_number(a[1] * 1000), a[2],
                              json_text(a[3]), json_text(a[4]))
        end
        s = s .. ',"annotations":[' .. concat(parts, ",") .. "]"
    end
    return s .. "}\n"
end

local function output(obj)
    local cb = STATE[obj]
    local out = {header(cb)}
    local cols = cb.columns
    if cb.fmt == "cbufd" then
        local times = {}
        for t in pairs(cb.delta) do
            times[#times + 1] = t
        end
        sort(times)
        for _, t in pairs(times) do
            local row = cb.delta[t]
            local line = {fmt_number(t)}
            for c = 1, cols do
                local v = row[c]
                line[c + 1] = v == nil and "nan" or fmt_number(v)
            end
            out[#out + 1] = concat(line, "\t") .. "\n"
        end
        cb.delta = {}
        return concat(out)
    end
    for i = 1, cb.rows do
        local row = (cb.current_row + i) % cb.rows
        local base = row * cols
        local line = {}
        for c = 1, cols do
            line[c] = fmt_number(cb.data[base + c])
        end
        out[#out + 1] = concat(line, "\t") .. "\n"
    end
    return concat(out)
end

function CB.fromstring(obj, s)
    local cb = check_self(obj, "fromstring")
    if type(s) ~= "string" then
        error("bad argument #2 to 'fromstring' (string expected, got "
              .. type(s) .. ")", 2)
    end
    local items, n = {}, 0
    for word in gmatch(s, "%S+") do
        n = n + 1
        local v
        if word == "nan" or word == "-nan" then
            v = NAN
        else
            v = tonumber(word)
        end
        if v == nil then
            error("fromstring() invalid value '" .. word .. "'", 2)
        end
        items[n] = v
    end
    if n ~= 1 + cb.rows * cb.columns then
        error("fromstring() expected " .. (1 + cb.rows * cb.columns)
              .. " values, got " .. n, 2)
    end
    cb.current_time = items[1]
    cb.current_row = cb.rows - 1
    for i = 1, cb.rows * cb.columns do
        cb.data[i] = items[i + 1]
    end
end

local function tostring_state(cb)
    local parts = {fmt_number(cb.current_time)}
    for i = 1, cb.rows do
        local row = (cb.current_row + i) % cb.rows
        local base = row * cb.columns
        for c = 1, cb.columns do
            local v = cb.data[base + c]
            parts[#parts + 1] = v ~= v and "nan" or format("%.17g", v)
        end
    end
    return concat(parts, " ")
end

local function serialize(obj, path)
    local cb = STATE[obj]
    local lines = {
        format('if %s == nil then %s = require("circular_buffer").new('
               .. '%d, %d, %d%s) end\n', path, path, cb.rows, cb.columns,
               cb.spr, cb.delta and ", true" or ""),
    }
    for c = 1, cb.columns do
        local h = cb.headers[c]
        lines[#lines + 1] = format('%s:set_header(%d, %q, %q, %q)\n', path,
                                   c, h[1], h[2], h[3])
    end
    lines[#lines + 1] = format("%s:fromstring(%q)\n", path,
                               tostring_state(cb))
    return concat(lines)
end

MT.__hekapy_output = output
MT.__hekapy_serialize = serialize
E.trusted[output] = true
E.trusted[serialize] = true

return M
