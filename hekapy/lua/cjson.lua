-- hekapy's cjson module: the lua-cjson API, with the codec in the host.
local name, E = ...
local host_call = E.host_call
local select, type, error = select, type, error

local null = setmetatable({}, {
    __metatable = false,
    __index = {["\0hekapy-null"] = true},
    __newindex = function() error("cjson.null is read-only", 2) end,
})

local M = {null = null, _NAME = "cjson", _VERSION = "2.1.0",
           version = "2.1.0"}

host_call("cjson_setup", null)

function M.encode(...)
    if select("#", ...) ~= 1 then
        error("bad argument #1 to 'encode' (expected 1 argument)", 2)
    end
    return (host_call("cjson_encode", (...)))
end

function M.decode(s, ...)
    if select("#", ...) ~= 0 then
        error("bad argument #1 to 'decode' (expected 1 argument)", 2)
    end
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return (host_call("cjson_decode", s))
end

function M.decode_null(on)
    return (host_call("cjson_option", "decode_null", on))
end

function M.encode_max_depth(n)
    return (host_call("cjson_option", "encode_max_depth", n))
end

function M.decode_max_depth(n)
    return (host_call("cjson_option", "decode_max_depth", n))
end

local function accepted(...)
    return ...
end
M.encode_sparse_array = accepted
M.encode_number_precision = accepted
M.encode_invalid_numbers = accepted
M.decode_invalid_numbers = accepted

return M
