-- json.lua: a SandboxDecoder turning a JSON object in the Payload into a
-- message with one field per value.
--
-- Nested objects are flattened: {"a": {"b": 1}} gives the field "a.b"
-- (the separator is configurable); below maximum_depth a nested object
-- is kept as its JSON text instead.  Strings become STRING fields,
-- numbers DOUBLE, booleans BOOL; an array of strings, numbers or
-- booleans (one kind) becomes an array field, any other array its JSON
-- text; JSON nulls and empty objects or arrays give no field.
--
-- Config ([name.config] table):
--   type           message Type (default "json")
--   payload_keep   keep the JSON text as the Payload (default false)
--   separator      joins nested keys (default ".")
--   maximum_depth  nesting levels flattened (default 10)
--   map_fields     when true, top-level keys named like a header
--                  (Timestamp, Type, Logger, Hostname, Severity,
--                  EnvVersion, Pid, Payload) set that header
--   Timestamp, Type, Logger, Hostname, Severity, EnvVersion, Pid,
--   Payload        the (flattened) key whose value sets that header,
--                  e.g. Timestamp = "meta.time"
--   timestamp_unit unit of a numeric Timestamp: "s" (default), "ms",
--                  "us" or "ns"; a string Timestamp is read as RFC 3339
--
-- A key used for a header gives no field.  Headers not set keep the
-- original message's values.  process_message returns -1 for a Payload
-- that is not a JSON object, or a header value of the wrong kind.

require "cjson"
require "string"
require "table"

local msg_type = read_config("type") or "json"
local payload_keep = read_config("payload_keep") == true
local separator = read_config("separator") or "."
local maximum_depth = read_config("maximum_depth") or 10
local map_fields = read_config("map_fields") == true
local UNITS = {s = 1e9, ms = 1e6, us = 1e3, ns = 1}
local unit = UNITS[read_config("timestamp_unit") or "s"]
if not unit then
    error("timestamp_unit must be s, ms, us or ns")
end

local HEADERS = {"Timestamp", "Type", "Logger", "Hostname", "Severity",
                 "EnvVersion", "Pid", "Payload"}
local NUMERIC = {Severity = true, Pid = true}

-- flattened key -> header name
local header_keys = {}
for _, h in ipairs(HEADERS) do
    local key = read_config(h)
    if type(key) == "string" then
        header_keys[key] = h
    elseif map_fields then
        header_keys[h] = h
    end
end

local type, pairs, next, tonumber, tostring, pcall = type, pairs, next,
    tonumber, tostring, pcall
local match, sort, decode, encode = string.match, table.sort,
    cjson.decode, cjson.encode

local function ifloor(x)
    return x - x % 1
end

local function days_since_epoch(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = ifloor(y / 400)
    local yoe = y - era * 400
    local doy = ifloor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
    local doe = yoe * 365 + ifloor(yoe / 4) - ifloor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

-- UTC nanoseconds of an RFC 3339 time, or nil.
local function rfc3339(s)
    local y, mo, d, h, mi, sec, frac, zone = match(s,
        "^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
    if not y then
        return nil
    end
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    h, mi, sec = tonumber(h), tonumber(mi), tonumber(sec)
    if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59
        or sec > 60 or frac == "." then
        return nil
    end
    local offset = 0
    if zone ~= "Z" and zone ~= "z" and zone ~= "" then
        local sign, oh, om = match(zone, "^([+-])(%d%d):?(%d%d)$")
        if not sign then
            return nil
        end
        offset = tonumber(oh) * 3600 + tonumber(om) * 60
        if sign == "-" then
            offset = -offset
        end
    end
    local ns = 0
    if frac ~= "" then
        local digits = (frac:sub(2) .. "000000000"):sub(1, 9)
        ns = tonumber(digits)
    end
    local secs = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60
        + sec - offset
    return secs * 1e9 + ns
end

local function is_array(t)
    local n = #t
    if n == 0 then
        return false
    end
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    return count == n
end

local SCALAR = {string = true, number = true, boolean = true}

-- A field value for an array, or its JSON text.
local function array_value(t)
    local kind = type(t[1])
    if SCALAR[kind] then
        for i = 2, #t do
            if type(t[i]) ~= kind then
                return encode(t)
            end
        end
        return t
    end
    return encode(t)
end

local function flatten(t, prefix, depth, out)
    for k, v in pairs(t) do
        local name = prefix .. tostring(k)
        if type(v) == "table" then
            if next(v) == nil then
                -- empty object or array: no field
            elseif is_array(v) then
                out[name] = array_value(v)
            elseif depth < maximum_depth then
                flatten(v, name .. separator, depth + 1, out)
            else
                out[name] = encode(v)
            end
        elseif SCALAR[type(v)] then
            out[name] = v
        end
    end
end

local function header_value(h, v)
    if h == "Timestamp" then
        if type(v) == "number" then
            return v * unit
        elseif type(v) == "string" then
            return rfc3339(v)
        end
        return nil
    elseif NUMERIC[h] then
        return tonumber(v)
    elseif type(v) == "string" or type(v) == "number" then
        return tostring(v)
    end
    return nil
end

function process_message()
    local text = read_message("Payload")
    local ok, doc = pcall(decode, text or "")
    if not ok then
        return -1, "bad JSON: " .. tostring(doc)
    end
    if type(doc) ~= "table" or (next(doc) ~= nil and is_array(doc)) then
        return -1, "the JSON is not an object"
    end
    local values = {}
    flatten(doc, "", 1, values)
    local msg = {Type = msg_type}
    if payload_keep then
        msg.Payload = text
    end
    for key, h in pairs(header_keys) do
        local v = values[key]
        if v ~= nil then
            local hv = header_value(h, v)
            if hv == nil then
                return -1, "bad " .. h .. " in " .. key .. ": "
                    .. tostring(v)
            end
            msg[h] = hv
            values[key] = nil
        end
    end
    local names = {}
    for name in pairs(values) do
        names[#names + 1] = name
    end
    sort(names)
    local fields = {}
    for i = 1, #names do
        fields[i] = {name = names[i], value = values[names[i]]}
    end
    msg.Fields = fields
    if not msg.Timestamp then
        msg.Timestamp = read_message("Timestamp")
    end
    inject_message(msg)
    return 0
end
