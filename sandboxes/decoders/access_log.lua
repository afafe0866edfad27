-- access_log.lua: a SandboxDecoder for nginx/apache "combined" access
-- log lines.
--
-- The line is read from the Payload; the decoder injects one message
-- with the request's parts as fields.  Two interchangeable parsers
-- split the line: an LPeg grammar, used when the lpeg module loads, and
-- plain Lua string patterns otherwise.  Both return the same raw
-- pieces, so everything after the split is shared.
--
-- Config ([name.config] table):
--   type          message Type (default "nginx.access")
--   payload_keep  keep the log line as the Payload (default false)
--   use_lpeg      unset: LPeg when it loads, else Lua patterns; true:
--                 LPeg or a load error; false: Lua patterns
--
-- Message: Timestamp from the [dd/Mon/yyyy:HH:MM:SS +zzzz] time (UTC
-- nanoseconds), Severity 6 (4 for a 4xx status, 3 for 5xx), Logger,
-- Hostname and the other missing headers kept from the original
-- message, and Fields remote_addr, remote_user, method, path,
-- protocol, status (INTEGER), body_bytes_sent (INTEGER), http_referer,
-- http_user_agent, plus extra (any text after the user agent) when
-- present.  A line in the common log format (ending after the byte
-- count) has no referer or user agent fields.
--
-- process_message returns -1 for a line without the shape of an access
-- log line.  Within that shape a part that does not read as its type is
-- left out rather than failing the line: a request line that is not
-- "METHOD URI [PROTOCOL]" is kept whole in a request field instead of
-- method/path/protocol; a status or byte count that is not a number
-- gives no status/body_bytes_sent field ("-" bytes count as 0); a time
-- that is not a valid date with a +hhmm/-hhmm offset leaves the
-- original message's Timestamp.

require "string"

local msg_type = read_config("type") or "nginx.access"
local payload_keep = read_config("payload_keep") == true
local use_lpeg = read_config("use_lpeg")

local find, match, sub, gsub, byte = string.find, string.match,
    string.sub, string.gsub, string.byte
local tonumber, type = tonumber, type

local function ifloor(x)
    return x - x % 1
end

-- Parsers -------------------------------------------------------------------
--
-- Each returns the raw pieces of a line: remote_addr, ident,
-- remote_user, time text, request (still escaped), status, bytes,
-- referer, user agent (both still escaped, nil for the common log
-- format, which ends after the byte count), and the trailing text
-- (untrimmed); or nil when the line does not have that shape.

local WS = " \t\n\r\f\v"

local function build_lpeg_parser(l)
    local P, S, C = l.P, l.S, l.C
    local sp = P" " ^ 1
    local token = C((1 - S(WS)) ^ 1)
    local quoted = P'"' * C((P"\\" * 1 + (1 - S'"\\')) ^ 0) * P'"'
    local time = P"[" * C((1 - P"]") ^ 1) * P"]"
    local agent_part = sp * quoted * sp * quoted * C(P(1) ^ 0)
    local clf_end = S(WS) ^ 0 * -1
    local line = token * sp * token * sp * token * sp * time * sp
        * quoted * sp * token * sp * token
        * (agent_part + clf_end)
    return function(s)
        return line:match(s)
    end
end

-- The end of the quoted string whose opening quote is at i - 1: the
-- position of its closing quote, or nil.
local function closing_quote(s, i)
    while true do
        local j = find(s, '["\\]', i)
        if not j then
            return nil
        end
        if byte(s, j) == 34 then
            return j
        end
        if j == #s then
            return nil
        end
        i = j + 2
    end
end

local function quoted_at(s, pos)
    local q = match(s, '^ +()"', pos)
    if not q then
        return nil
    end
    local e = closing_quote(s, q + 1)
    if not e then
        return nil
    end
    return sub(s, q + 1, e - 1), e + 1
end

local function pattern_parser(s)
    local addr, ident, user, time, pos = match(s,
        "^(%S+) +(%S+) +(%S+) +%[([^%]]+)%]()")
    if not addr then
        return nil
    end
    local request
    request, pos = quoted_at(s, pos)
    if not request then
        return nil
    end
    local status, bytes, p2 = match(s, "^ +(%S+) +(%S+)()", pos)
    if not status then
        return nil
    end
    local referer, agent
    referer, pos = quoted_at(s, p2)
    if referer then
        agent, pos = quoted_at(s, pos)
    end
    if not agent then
        if find(s, "^%s*$", p2) then
            return addr, ident, user, time, request, status, bytes
        end
        return nil
    end
    return addr, ident, user, time, request, status, bytes, referer,
        agent, sub(s, pos)
end

local parse = pattern_parser
local parser_name = "patterns"
if use_lpeg ~= false then
    local ok, l = pcall(require, "lpeg")
    if ok and type(l) == "table" then
        parse = build_lpeg_parser(l)
        parser_name = "lpeg"
    elseif use_lpeg == true then
        error("use_lpeg is true but lpeg does not load: " .. tostring(l))
    end
end
-- Which parser is in use ("lpeg" or "patterns"), for inspection.
ACCESS_LOG_PARSER = parser_name

-- Shared post-processing ----------------------------------------------------

local MONTHS = {Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6,
                Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12}

-- Days since 1970-01-01 of a proleptic Gregorian date, counting years
-- from March so that the leap day ends the year.
local function days_since_epoch(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = ifloor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = ifloor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + ifloor(yoe / 4) - ifloor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

-- UTC nanoseconds of "dd/Mon/yyyy:HH:MM:SS +zzzz", or nil.
local function clf_time(t)
    local d, mon, y, hh, mm, ss, sign, oh, om = match(t,
        "^(%d%d?)/(%a%a%a)/(%d%d%d%d):(%d%d):(%d%d):(%d%d) +([+-])"
        .. "(%d%d)(%d%d)$")
    if not d then
        return nil
    end
    local m = MONTHS[mon]
    d, y, hh, mm, ss = tonumber(d), tonumber(y), tonumber(hh),
        tonumber(mm), tonumber(ss)
    oh, om = tonumber(oh), tonumber(om)
    if not m or d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60
        or om > 59 then
        return nil
    end
    local offset = oh * 3600 + om * 60
    if sign == "-" then
        offset = -offset
    end
    local secs = days_since_epoch(y, m, d) * 86400 + hh * 3600 + mm * 60
        + ss - offset
    return secs * 1e9
end

local function unescape(s)
    if not find(s, "\\", 1, true) then
        return s
    end
    return (gsub(s, '\\(["\\])', "%1"))
end

local function trim(s)
    return match(s, "^%s*(.-)%s*$")
end

local function digits(s)
    if find(s, "^%d+$") then
        return tonumber(s)
    end
    return nil
end

local function severity_of(status)
    if not status then
        return 6
    elseif status >= 500 and status < 600 then
        return 3
    elseif status >= 400 and status < 500 then
        return 4
    end
    return 6
end

function process_message()
    local line = read_message("Payload")
    if type(line) ~= "string" then
        return -1, "no payload"
    end
    line = match(line, "^(.-)[\r\n]*$")
    local addr, ident, user, time, request, status, bytes, referer, agent,
        extra = parse(line)
    if not addr then
        return -1, "not an access log line"
    end
    local code = digits(status)
    local sent = 0
    if bytes ~= "-" then
        sent = digits(bytes)
    end
    local fields = {}
    local function add(name, value, value_type)
        fields[#fields + 1] = {name = name, value = value,
                               value_type = value_type}
    end
    add("remote_addr", addr)
    add("remote_user", user)
    request = unescape(request)
    local method, path, proto = match(request, "^(%S+) +(.-) +(%u+/%S+)$")
    if not method then
        method, path = match(request, "^(%S+) +(%S+)$")
    end
    if method then
        add("method", method)
        add("path", path)
        if proto then
            add("protocol", proto)
        end
    else
        add("request", request)
    end
    if code then
        add("status", code, 2)
    end
    if sent then
        add("body_bytes_sent", sent, 2)
    end
    if agent then
        add("http_referer", unescape(referer))
        add("http_user_agent", unescape(agent))
        extra = trim(extra)
        if extra ~= "" then
            add("extra", extra)
        end
    end
    local msg = {
        Timestamp = clf_time(time) or read_message("Timestamp"),
        Type = msg_type,
        Severity = severity_of(code),
        Fields = fields,
    }
    if payload_keep then
        msg.Payload = line
    end
    inject_message(msg)
    return 0
end
