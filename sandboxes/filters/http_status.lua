-- http_status.lua: a SandboxFilter counting HTTP responses by status
-- class over time.
--
-- Each matched message adds one to its class's column (HTTP_1xx ..
-- HTTP_5xx, or HTTP_UNKNOWN for a status outside 100..599 or not a
-- number) in the row of a circular_buffer holding the message's
-- Timestamp.  timer_event reports the buffer with
-- inject_payload("cbuf", "HTTP Status", ...).  The buffer is a global,
-- so preserve_data keeps the counts across restarts.
--
-- Config ([name.config] table):
--   sec_per_row           seconds per row (default 60)
--   rows                  rows kept (default 1440: a day of minutes)
--   status_field          the field holding the status (default
--                         "status", read as Fields[status])
--   preservation_version  bump it when sec_per_row or rows change, so
--                         the saved buffer is dropped (default 0)
--
-- process_message returns -1 for a message without the status field or
-- without a Timestamp; a message older than the buffer is not counted.

require "circular_buffer"
require "math"

local sec_per_row = read_config("sec_per_row") or 60
local rows = read_config("rows") or 1440
local status_variable = "Fields[" .. (read_config("status_field")
                                      or "status") .. "]"
_PRESERVATION_VERSION = read_config("preservation_version") or 0

local floor, tonumber = math.floor, tonumber

local UNKNOWN = 6

status = circular_buffer.new(rows, 6, sec_per_row)
for class = 1, 5 do
    status:set_header(class, "HTTP_" .. class .. "xx", "count", "sum")
end
status:set_header(UNKNOWN, "HTTP_UNKNOWN", "count", "sum")

function process_message()
    local ts = read_message("Timestamp")
    if not ts then
        return -1, "no Timestamp"
    end
    local value = read_message(status_variable)
    if value == nil then
        return -1, "no " .. status_variable
    end
    local code = tonumber(value)
    local column = UNKNOWN
    if code and code >= 100 and code < 600 then
        column = floor(code / 100)
    end
    status:add(ts, column, 1)
    return 0
end

function timer_event(ns)
    inject_payload("cbuf", "HTTP Status", status)
end
