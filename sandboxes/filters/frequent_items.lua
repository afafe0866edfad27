-- frequent_items.lua: a SandboxFilter reporting the most frequent values
-- of one message variable.
--
-- The counting is "space saving": at most max_items values are tracked.
-- A value already tracked has its count raised by one; a new value takes
-- a free slot with count 1, or, when all slots are taken, replaces the
-- value with the smallest count c and starts at c + 1, remembering c as
-- its possible overcount.  Any value seen more than total / max_items
-- times is sure to be tracked, and a tracked value's true count lies
-- between count - overcount and count.
--
-- Config ([name.config] table):
--   message_variable      what to count (default "Fields[path]"), any
--                         read_message variable
--   max_items             values tracked (default 100)
--   report_items          values listed in the report (default
--                         max_items)
--   preservation_version  bump it to drop the saved counts (default 0)
--
-- timer_event injects a text report with inject_payload("txt",
-- "frequent_items", ...): a summary line, a column header, then one line
-- per value, largest count first: count, overcount and the value
-- (longer than 200 bytes: cut, ending in "...").  The report stops
-- before 60000 bytes.  The counts are globals, so preserve_data keeps
-- them.  process_message returns -1 when the variable is absent.

require "string"
require "table"

local variable = read_config("message_variable") or "Fields[path]"
local max_items = read_config("max_items") or 100
local report_items = read_config("report_items") or max_items
_PRESERVATION_VERSION = read_config("preservation_version") or 0

if type(max_items) ~= "number" or max_items < 1 then
    error("max_items must be a number >= 1")
end

local tostring, pairs, next = tostring, pairs, next
local sort, format, sub = table.sort, string.format, string.sub

local ITEM_BYTES = 200
local REPORT_BYTES = 60000

counts = {}        -- value -> count
overcounts = {}    -- value -> possible overcount
tracked = 0        -- values in counts
total = 0          -- values seen

local function smallest()
    local low_item, low = next(counts)
    for item, n in pairs(counts) do
        if n < low or (n == low and item < low_item) then
            low_item, low = item, n
        end
    end
    return low_item, low
end

function process_message()
    local value = read_message(variable)
    if value == nil then
        return -1, "no " .. variable
    end
    local item = tostring(value)
    total = total + 1
    local n = counts[item]
    if n then
        counts[item] = n + 1
    elseif tracked < max_items then
        counts[item] = 1
        overcounts[item] = 0
        tracked = tracked + 1
    else
        local old, low = smallest()
        counts[old], overcounts[old] = nil, nil
        counts[item] = low + 1
        overcounts[item] = low
    end
    return 0
end

local function by_count(a, b)
    local ca, cb = counts[a], counts[b]
    if ca ~= cb then
        return ca > cb
    end
    return a < b
end

function timer_event(ns)
    local items = {}
    for item in pairs(counts) do
        items[#items + 1] = item
    end
    sort(items, by_count)
    local head = format("%s: %d seen, %d tracked (at most %d)\n",
                        variable, total, tracked, max_items)
    add_to_payload(head, "count\tovercount\tvalue\n")
    local size = #head + 22
    for i = 1, #items do
        if i > report_items then
            break
        end
        local item = items[i]
        local shown = item
        if #shown > ITEM_BYTES then
            shown = sub(shown, 1, ITEM_BYTES - 3) .. "..."
        end
        local line = format("%d\t%d\t%s\n", counts[item], overcounts[item],
                            shown)
        if size + #line > REPORT_BYTES then
            add_to_payload("... report cut at ", i - 1, " values\n")
            break
        end
        size = size + #line
        add_to_payload(line)
    end
    inject_payload("txt", "frequent_items")
end
