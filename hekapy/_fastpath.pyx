# cython: language_level=3
"""Compiled fast path: message view, stream framing, matcher evaluation,
the routing loop, and message access for Lua sandboxes.

The pure-Python twin in :mod:`hekapy._purepath` has the same names and
behaviour for the first four; :mod:`hekapy._impl` chooses between them.
The Lua parts (_fp_lua*.pxi) have no twin: without them sandboxes use
the Python reader and encoder.  Each part lives in its own include file
so that the pieces stay small and readable.
"""

from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc  # no-cython-lint
from libc.string cimport memchr, memcmp, memcpy, strlen

from hekapy._errors import DecodeError

include "_fp_wire.pxi"
include "_fp_view.pxi"
include "_fp_framing.pxi"
include "_fp_luapattern.pxi"
include "_fp_matcher.pxi"
include "_fp_lua.pxi"
include "_fp_luaencode.pxi"
include "_fp_direct.pxi"
include "_fp_accesslog.pxi"
include "_fp_luacall.pxi"
include "_fp_router.pxi"
