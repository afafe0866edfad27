-- alert.lua: a SandboxEncoder writing a message as readable alert text.
--
-- Output, one header per line, then the Payload:
--
--   Timestamp: 2017-07-14T02:40:00Z
--   Hostname: web1
--   Logger: http_status
--   Type: heka.sandbox-output
--   Name: HTTP Status
--   Payload:
--   <the Payload, as is>
--
-- The Timestamp is UTC to the second ("-" when the message has none);
-- the Name line appears only for a message with a non-empty
-- Fields[payload_name] (the reports of sandbox filters).  The text
-- always ends with a newline.  No config.

require "os"
require "string"

local date, format = os.date, string.format

function process_message()
    local ts = read_message("Timestamp")
    local when = "-"
    if ts then
        when = date("!%Y-%m-%dT%H:%M:%SZ", (ts - ts % 1e9) / 1e9)
    end
    local payload = read_message("Payload") or ""
    if payload:sub(-1) ~= "\n" then
        payload = payload .. "\n"
    end
    local name = read_message("Fields[payload_name]")
    local name_line = ""
    if type(name) == "string" and name ~= "" then
        name_line = format("Name: %s\n", name)
    end
    inject_payload("txt", "alert", format(
        "Timestamp: %s\nHostname: %s\nLogger: %s\nType: %s\n%sPayload:\n",
        when, read_message("Hostname"), read_message("Logger"),
        read_message("Type"), name_line), payload)
    return 0
end
