-- message_schema.lua: a SandboxFilter describing the messages it sees.
--
-- Messages are grouped by Logger and Type.  For each group the filter
-- records how many messages it saw and, for every field name (walked
-- with read_next_field), the value types and representations seen, in
-- how many of the group's messages the field was present, the longest
-- array, and whether a message carried the name more than once.
--
-- Config ([name.config] table):
--   preservation_version  bump it to drop the saved schema (default 0)
--
-- timer_event injects a text report with inject_payload("txt",
-- "message_schema", ...), groups and fields in name order:
--
--   Logger "web" Type "nginx.access": 3 messages
--       status: INTEGER, in 3 of 3
--       tags: STRING, representation "csv", in 1 of 3, arrays up to 4
--
-- Several types or representations are joined with "|".  The report
-- stops before 60000 bytes.  The schema is a global, so preserve_data
-- keeps it.

require "string"
require "table"

_PRESERVATION_VERSION = read_config("preservation_version") or 0

local format, concat, sort = string.format, table.concat, table.sort
local pairs, tostring = pairs, tostring

local TYPE_NAMES = {[0] = "STRING", "BYTES", "INTEGER", "DOUBLE", "BOOL"}
local REPORT_BYTES = 60000

schemas = {}    -- "Logger\tType" -> group

local function group_for(logger, mtype)
    local key = logger .. "\t" .. mtype
    local g = schemas[key]
    if not g then
        g = {logger = logger, type = mtype, count = 0, fields = {}}
        schemas[key] = g
    end
    return g
end

function process_message()
    local g = group_for(read_message("Logger") or "",
                        read_message("Type") or "")
    g.count = g.count + 1
    local seen = {}
    while true do
        local vtype, name, _, rep, count = read_next_field()
        if not vtype then
            break
        end
        local f = g.fields[name]
        if not f then
            f = {present = 0, types = {}, reps = {}, longest = 0,
                 repeated = false}
            g.fields[name] = f
        end
        if seen[name] then
            f.repeated = true
        else
            seen[name] = true
            f.present = f.present + 1
        end
        f.types[TYPE_NAMES[vtype] or tostring(vtype)] = true
        f.reps[rep or ""] = true
        if count > f.longest then
            f.longest = count
        end
    end
    return 0
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    sort(keys)
    return keys
end

local function field_line(name, f, total)
    local parts = {concat(sorted_keys(f.types), "|")}
    local reps = sorted_keys(f.reps)
    if #reps > 1 or reps[1] ~= "" then
        for i = 1, #reps do
            reps[i] = format("%q", reps[i])
        end
        parts[#parts + 1] = "representation " .. concat(reps, "|")
    end
    parts[#parts + 1] = format("in %d of %d", f.present, total)
    if f.longest > 1 then
        parts[#parts + 1] = format("arrays up to %d", f.longest)
    end
    if f.repeated then
        parts[#parts + 1] = "repeated"
    end
    return format("    %s: %s\n", name, concat(parts, ", "))
end

function timer_event(ns)
    local size = 0
    local lines = {}
    for _, key in pairs(sorted_keys(schemas)) do
        local g = schemas[key]
        lines[#lines + 1] = format("Logger %q Type %q: %d messages\n",
                                   g.logger, g.type, g.count)
        for _, name in pairs(sorted_keys(g.fields)) do
            lines[#lines + 1] = field_line(name, g.fields[name], g.count)
        end
    end
    for i = 1, #lines do
        if size + #lines[i] > REPORT_BYTES then
            add_to_payload("... report cut\n")
            break
        end
        size = size + #lines[i]
        add_to_payload(lines[i])
    end
    if size == 0 then
        add_to_payload("no messages\n")
    end
    inject_payload("txt", "message_schema")
end
